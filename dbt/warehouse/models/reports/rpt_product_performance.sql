{#-
  Grain: one row per product (dim_product) that has at least one fact line. Revenue rank breaks ties
  by stock code, so it is the same on every run.

  It reads fct_sales through its per-export partials: sums and first and last times compose, distinct
  customers are counted over the (export, product, customer) pairs, and the distinct invoices of each
  export add up once an invoice held by more than one export is counted once (the only fact lines read
  here are those of such invoices).
-#}
with

by_product as (

    select * from {{ ref('int_sales_by_product') }}

),

buyers as (

    select * from {{ ref('int_sales_by_product_customer') }}

),

invoices as (

    select * from {{ ref('int_sales_by_invoice') }}

),

sales as (

    select * from {{ ref('fct_sales') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

-- Sale invoices with lines in more than one export: each export's partial counted them once.
shared_invoices as (

    select invoice_no
    from invoices
    where sale_line_count > 0
    group by invoice_no
    having count(distinct source_file) > 1

),

invoices_counted_twice as (

    select
        sales.product_key,
        sales.invoice_no,
        count(distinct sales.source_file) - 1 as extra_count

    from sales
    inner join shared_invoices on sales.invoice_no = shared_invoices.invoice_no
    where sales.line_type = 'sale'
    group by sales.product_key, sales.invoice_no

),

overcount as (

    select
        product_key,
        sum(extra_count) as extra_count

    from invoices_counted_twice
    group by product_key

),

customers as (

    select
        product_key,
        count(distinct customer_key) as customer_count

    from buyers
    group by product_key

),

per_product as (

    select
        by_product.product_key,
        cast(coalesce(sum(by_product.units_sold), 0) as bigint) as units_sold,
        cast(coalesce(sum(by_product.units_cancelled), 0) as bigint) as units_cancelled,
        coalesce(sum(by_product.gross_sales_amount), 0) as gross_sales_amount,
        coalesce(sum(by_product.net_revenue_amount), 0) as net_revenue_amount,
        cast(sum(by_product.sales_invoice_count) - coalesce(any_value(overcount.extra_count), 0) as bigint)
            as sales_invoice_count,
        coalesce(any_value(customers.customer_count), 0) as customer_count,
        min(by_product.first_invoice_at) as first_sold_at,
        max(by_product.last_invoice_at) as last_sold_at

    from by_product
    left join overcount on by_product.product_key = overcount.product_key
    left join customers on by_product.product_key = customers.product_key
    group by by_product.product_key

),

final as (

    select
        per_product.product_key,
        products.stock_code,
        products.description,
        products.product_class,
        per_product.units_sold,
        per_product.units_cancelled,
        case
            when per_product.units_sold > 0
                then round(per_product.units_cancelled / per_product.units_sold, 4)
        end as cancellation_rate,
        per_product.gross_sales_amount,
        per_product.net_revenue_amount,
        per_product.sales_invoice_count,
        per_product.customer_count,
        per_product.first_sold_at,
        per_product.last_sold_at,
        rank() over (order by per_product.net_revenue_amount desc, products.stock_code asc)
            as net_revenue_rank

    from per_product
    inner join products on per_product.product_key = products.product_key

)

select * from final
