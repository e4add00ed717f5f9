{#-
  Grain: one row per calendar month and line country. Amounts in GBP, exact.
  net_revenue_amount: the lines is_net_revenue_line accepts (macros/business_rules.sql).
-#}
with

sales as (

    select * from {{ ref('fct_sales') }}

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
        count(distinct sales.invoice_no) filter (where sales.line_type = 'sale') as sales_invoice_count,
        count(distinct sales.customer_key) filter (
            where sales.line_type = 'sale' and {{ is_known_customer('sales.customer_key') }}
        ) as customer_count,
        cast(
            coalesce(sum(sales.quantity) filter (where sales.line_type = 'sale'), 0) as bigint
        ) as units_sold,
        coalesce(sum(sales.line_amount) filter (where sales.line_type = 'sale'), 0) as gross_sales_amount,
        coalesce(sum(sales.line_amount) filter (where sales.line_type = 'cancellation'), 0)
            as cancelled_amount,
        coalesce(
            sum(sales.line_amount) filter (
                where
                sales.line_type not in ('sale', 'cancellation')
                and {{ is_net_revenue_line('sales.line_type') }}
            ),
            0
        ) as other_amount,
        coalesce(sum(sales.line_amount) filter (where {{ is_net_revenue_line('sales.line_type') }}), 0)
            as net_revenue_amount

    from sales
    inner join dates on sales.date_key = dates.date_key
    inner join countries on sales.country_key = countries.country_key
    group by all

)

select * from final
