{#-
  fct_sales summed per export, product and description: the compact input of int_products_resolved
  (the description vote) and unknown_reference_values (stock codes). Lines without a description
  keep their own row (description null, is_described false). Maintained per export
  (macros/partials.sql).
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
        description,
        description is not null as is_described,
        coalesce(description, '') as description_key,
        min(stock_code) as stock_code_example,
        count(*) as line_count,
        min(invoice_at) as first_invoice_at,
        max(invoice_at) as last_invoice_at,
        sum(line_amount) as line_amount,
        sum(abs(line_amount)) as absolute_amount

    from sales
    group by source_file, product_key, description

)

select * from final
