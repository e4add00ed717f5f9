{#-
  One row per customer id. Home country: the country on most of the customer's lines; ties go to the
  country of the customer's latest line, then to the alphabetically first country. The fact keeps
  each line's own country; this rule only picks the one the customer dimension shows.
-#}
with

lines as (

    select * from {{ ref('int_invoice_lines_classified') }}
    where not is_exact_duplicate and customer_id is not null

),

country_votes as (

    select
        customer_id,
        country_name,
        count(*) as line_count,
        max(invoice_at) as last_seen_at

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
        min(invoice_at) as first_invoice_at,
        max(invoice_at) as last_invoice_at,
        count(distinct invoice_no) as invoice_count,
        count(*) as line_count

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
