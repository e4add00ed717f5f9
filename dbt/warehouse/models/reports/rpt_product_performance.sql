{#-
  Grain: one row per product (dim_product) that has at least one fact line. Revenue rank breaks ties
  by stock code, so it is the same on every run.
-#}
with

sales as (

    select * from {{ ref('fct_sales') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

per_product as (

    select
        product_key,
        cast(coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as bigint) as units_sold,
        cast(coalesce(-sum(quantity) filter (where line_type = 'cancellation'), 0) as bigint)
            as units_cancelled,
        coalesce(sum(line_amount) filter (where line_type = 'sale'), 0) as gross_sales_amount,
        coalesce(sum(line_amount) filter (where {{ is_net_revenue_line() }}), 0)
            as net_revenue_amount,
        count(distinct invoice_no) filter (where line_type = 'sale') as sales_invoice_count,
        count(distinct customer_key) filter (where line_type = 'sale' and {{ is_known_customer() }})
            as customer_count,
        min(invoice_at) as first_sold_at,
        max(invoice_at) as last_sold_at

    from sales
    group by product_key

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
