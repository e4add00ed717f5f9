{#-
  fct_sales summed per export and product: the compact input of rpt_product_performance (one row per
  product and export instead of a line per sale). Sums add up and first and last times compose across
  exports; the distinct invoices of each export add up too, except for an invoice whose lines more
  than one export holds, which the report counts once. Maintained per export (macros/partials.sql).
-#}
-- depends_on: {{ ref('int_exports_replaced') }}
with

sales as (

    {{ replaced_partial_lines() }}

),

final as (

    select
        source_file,
        product_key,
        count(*) as line_count,
        sum(quantity) filter (where line_type = 'sale') as units_sold,
        -sum(quantity) filter (where line_type = 'cancellation') as units_cancelled,
        sum(line_amount) filter (where line_type = 'sale') as gross_sales_amount,
        sum(line_amount) filter (where {{ is_net_revenue_line() }}) as net_revenue_amount,
        count(distinct invoice_no) filter (where line_type = 'sale') as sales_invoice_count,
        min(invoice_at) as first_invoice_at,
        max(invoice_at) as last_invoice_at

    from sales
    group by source_file, product_key

)

select * from final
