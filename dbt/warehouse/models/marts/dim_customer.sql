{#-
  One row per customer id, plus the unknown/guest member (customer_key -1) that every line without a
  customer id points at. customer_key is the source customer id itself: stable across runs.
-#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

countries as (

    select * from {{ ref('dim_country') }}

),

known as (

    select
        customers.customer_id as customer_key,
        customers.customer_id,
        false as is_guest,
        countries.country_key as home_country_key,
        customers.home_country_name,
        customers.countries_seen_count,
        customers.first_invoice_at,
        customers.last_invoice_at,
        customers.invoice_count,
        customers.line_count

    from customers
    inner join countries on customers.home_country_name = countries.country_name

),

guest as (

    select
        {{ guest_customer_key() }} as customer_key,
        null as customer_id,
        true as is_guest,
        null as home_country_key,
        null as home_country_name,
        null as countries_seen_count,
        null as first_invoice_at,
        null as last_invoice_at,
        null as invoice_count,
        null as line_count

),

members as (

    select * from known
    union all
    select * from guest

),

final as (

    select
        cast(customer_key as bigint) as customer_key,
        cast(customer_id as bigint) as customer_id,
        cast(is_guest as boolean) as is_guest,
        cast(home_country_key as bigint) as home_country_key,
        cast(home_country_name as varchar) as home_country_name,
        cast(countries_seen_count as integer) as countries_seen_count,
        cast(first_invoice_at as timestamp) as first_invoice_at,
        cast(last_invoice_at as timestamp) as last_invoice_at,
        cast(invoice_count as integer) as invoice_count,
        cast(line_count as integer) as line_count

    from members

)

select * from final
