{#-
  One row per source country value. Mapped values come from the country_codes seed; a value the seed
  does not know yet still gets a row (keyed by its name, is_country unknown) so no line is lost, and
  the `all_countries_mapped` test warns about it.
-#}
with

countries as (

    select * from {{ ref('country_codes') }}

),

seen as (

    select distinct country_name from {{ ref('stg_retail__invoice_lines') }}

),

unmapped as (

    select
        seen.country_name,
        {{ surrogate_key(['seen.country_name']) }} as country_key,
        null as iso_alpha2,
        null as iso_alpha3,
        null as region,
        null as subregion,
        null as is_country

    from seen
    left join countries on seen.country_name = countries.country_name
    where countries.country_name is null

),

unioned as (

    select country_name, country_key, iso_alpha2, iso_alpha3, region, subregion, is_country
    from countries
    union all
    select country_name, country_key, iso_alpha2, iso_alpha3, region, subregion, is_country
    from unmapped

),

final as (

    select
        cast(country_key as bigint) as country_key,
        cast(country_name as varchar) as country_name,
        cast(iso_alpha2 as varchar) as iso_alpha2,
        cast(iso_alpha3 as varchar) as iso_alpha3,
        cast(region as varchar) as region,
        cast(subregion as varchar) as subregion,
        cast(is_country as boolean) as is_country

    from unioned

)

select * from final
