{#-
  One row per country value of the source. Values the country_codes seed knows carry its ISO codes
  and region; a value it does not know yet still gets a row (keyed by a hash of its name, is_known
  false, is_country null) so no line is lost, and it is listed in unknown_reference_values, where
  the unknown-value policy warns or fails the build (see tests/assert_unknown_values_*).
-#}
with

countries as (

    select * from {{ ref('country_codes') }}

),

seen as (

    select distinct country_name
    from {{ ref('int_countries_by_export') }}

),

resolved as (

    select
        seen.country_name,
        coalesce(countries.country_key, {{ surrogate_key(['seen.country_name']) }}) as country_key,
        countries.iso_alpha2,
        countries.iso_alpha3,
        countries.region,
        countries.subregion,
        countries.is_country,
        countries.country_name is not null as is_known

    from seen
    left join countries on seen.country_name = countries.country_name

),

final as (

    select
        cast(country_key as bigint) as country_key,
        cast(country_name as varchar) as country_name,
        cast(iso_alpha2 as varchar) as iso_alpha2,
        cast(iso_alpha3 as varchar) as iso_alpha3,
        cast(region as varchar) as region,
        cast(subregion as varchar) as subregion,
        cast(is_country as boolean) as is_country,
        cast(is_known as boolean) as is_known

    from resolved

)

select * from final
