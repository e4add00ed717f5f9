{#-
  One row per customer id. Home country: the country on most of the customer's lines; ties go to the
  country of the customer's latest line, then to the alphabetically first country. The fact keeps
  each line's own country; this rule only picks the one the customer dimension shows.

  It counts over fct_sales (the lines kept), as the table is after this build, through its per-export
  partial int_sales_by_invoice: line counts add up, first and last times compose, and the invoices are
  counted distinct across exports.
-#}
with

sales as (

    select * from {{ ref('int_sales_by_invoice') }}

),

countries as (

    select * from {{ ref('dim_country') }}

),

lines as (

    select
        sales.customer_key as customer_id,
        countries.country_name,
        sales.invoice_no,
        sales.line_count,
        sales.first_invoice_at,
        sales.last_invoice_at

    from sales
    inner join countries on sales.country_key = countries.country_key
    where {{ is_known_customer('sales.customer_key') }}

),

country_votes as (

    select
        customer_id,
        country_name,
        cast(sum(line_count) as bigint) as line_count,
        max(last_invoice_at) as last_seen_at

    from lines
    group by customer_id, country_name

),

ranked_countries as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by line_count desc, last_seen_at desc, country_name asc
        ) as country_rank,
        count(*) over (partition by customer_id) as countries_seen_count

    from country_votes

),

customers as (

    select
        customer_id,
        min(first_invoice_at) as first_invoice_at,
        max(last_invoice_at) as last_invoice_at,
        count(distinct invoice_no) as invoice_count,
        cast(sum(line_count) as bigint) as line_count

    from lines
    group by customer_id

),

final as (

    select
        customers.customer_id,
        ranked_countries.country_name as home_country_name,
        ranked_countries.countries_seen_count,
        customers.first_invoice_at,
        customers.last_invoice_at,
        customers.invoice_count,
        customers.line_count

    from customers
    inner join ranked_countries
        on customers.customer_id = ranked_countries.customer_id
        and ranked_countries.country_rank = 1

)

select * from final
