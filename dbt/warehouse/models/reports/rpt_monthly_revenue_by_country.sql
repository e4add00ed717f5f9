{#-
  Grain: one row per calendar month and line country. Amounts in GBP, exact.
  net_revenue_amount: the lines is_net_revenue_line accepts (macros/business_rules.sql).
-#}
with

sales as (

    -- The fact's per-export partial (one row per export, invoice, customer, country and day): its
    -- sums add up, its invoices and customers are counted distinct across exports.
    select * from {{ ref('int_sales_by_invoice') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

countries as (

    select * from {{ ref('dim_country') }}

),

final as (

    select
        dates.year_month,
        make_date(dates.calendar_year, dates.calendar_month, 1) as month_start_date,
        sales.country_key,
        countries.country_name,
        count(distinct sales.invoice_no) filter (where sales.sale_line_count > 0) as sales_invoice_count,
        count(distinct sales.customer_key) filter (
            where sales.sale_line_count > 0 and {{ is_known_customer('sales.customer_key') }}
        ) as customer_count,
        cast(coalesce(sum(sales.sale_quantity), 0) as bigint) as units_sold,
        coalesce(sum(sales.sale_amount), 0) as gross_sales_amount,
        coalesce(sum(sales.cancelled_amount), 0) as cancelled_amount,
        coalesce(sum(sales.other_amount), 0) as other_amount,
        coalesce(sum(sales.net_revenue_amount), 0) as net_revenue_amount

    from sales
    inner join dates on sales.date_key = dates.date_key
    inner join countries on sales.country_key = countries.country_key
    group by all

)

select * from final
