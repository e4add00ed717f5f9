{#-
  The known customers who bought each product, per export: one row per export, product and customer
  with a sale line. A customer buys in many exports, so distinct customers do not add up across
  exports; rpt_product_performance counts them over these pairs, which are integers and far fewer
  than the lines. Maintained per export (macros/partials.sql).
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
        customer_key,
        count(*) as sale_line_count

    from sales
    where line_type = 'sale' and {{ is_known_customer() }}
    group by source_file, product_key, customer_key

)

select * from final
