{#-
  One row per normalised stock code. Canonical description: the description used on the most lines
  of that code; ties go to the description seen last (latest invoice_at), then to the alphabetically
  first, so the choice is deterministic. Lines without a description do not vote.

  It votes over fct_sales (the lines kept: repeats do not vote), as the table is after this build,
  so it reads only the fact's narrow columns, not the lake.
-#}
with

sales as (

    select * from {{ ref('fct_sales') }}

),

stock_codes as (

    select * from {{ ref('int_stock_codes_classified') }}

),

lines as (

    select
        upper(sales.stock_code) as stock_code_normalised,
        sales.stock_code,
        sales.description,
        sales.invoice_at,
        stock_codes.product_class,
        stock_codes.class_version

    from sales
    left join stock_codes on upper(sales.stock_code) = stock_codes.stock_code_normalised

),

description_votes as (

    select
        stock_code_normalised,
        description,
        count(*) as line_count,
        max(invoice_at) as last_used_at

    from lines
    where description is not null
    group by stock_code_normalised, description

),

ranked_descriptions as (

    select
        *,
        row_number() over (
            partition by stock_code_normalised
            order by line_count desc, last_used_at desc, description asc
        ) as description_rank,
        count(*) over (partition by stock_code_normalised) as description_variant_count

    from description_votes

),

products as (

    select
        stock_code_normalised,
        min(stock_code) as stock_code_example,
        any_value(product_class) as product_class,
        any_value(class_version) as class_version,
        min(invoice_at) as first_sold_at,
        max(invoice_at) as last_sold_at,
        count(*) as line_count

    from lines
    group by stock_code_normalised

),

final as (

    select
        products.stock_code_normalised,
        ranked_descriptions.description as canonical_description,
        coalesce(ranked_descriptions.description_variant_count, 0) as description_variant_count,
        products.product_class,
        products.class_version,
        products.first_sold_at,
        products.last_sold_at,
        products.line_count

    from products
    left join ranked_descriptions
        on products.stock_code_normalised = ranked_descriptions.stock_code_normalised
        and ranked_descriptions.description_rank = 1

)

select * from final
