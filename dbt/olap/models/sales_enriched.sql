{#- One row per fct_sales line with the attributes BI users filter by, so a dashboard needs no joins. -#}
{#- BI reads it through the pipeline's BI role ([pipeline] bi_role); with none configured, no grant. -#}
{{ config(grants={'select': [env_var('PIPELINE_BI_ROLE', '')] | reject('equalto', '') | list}) }}

with

sales as (

    select * from {{ source('analytics', 'fct_sales') }}

),

dates as (

    select * from {{ source('analytics', 'dim_date') }}

),

customers as (

    select * from {{ source('analytics', 'dim_customer') }}

),

products as (

    select * from {{ source('analytics', 'dim_product') }}

),

countries as (

    select * from {{ source('analytics', 'dim_country') }}

),

final as (

    select
        sales.sales_line_key,
        sales.invoice_no,
        sales.invoice_at,
        sales.date_key,
        dates.calendar_date as invoice_date,
        dates.year_month,
        dates.day_name,
        sales.line_type,
        sales.customer_key,
        customers.is_guest,
        customers.home_country_name as customer_home_country,
        products.stock_code,
        products.description as product_description,
        products.product_class,
        countries.country_name,
        countries.iso_alpha2 as country_iso_alpha2,
        countries.region as country_region,
        sales.quantity,
        sales.unit_price,
        sales.line_amount

    from sales
    inner join dates on sales.date_key = dates.date_key
    inner join customers on sales.customer_key = customers.customer_key
    inner join products on sales.product_key = products.product_key
    inner join countries on sales.country_key = countries.country_key

)

select * from final
