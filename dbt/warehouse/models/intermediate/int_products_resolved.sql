{#-
  One row per normalised stock code. Canonical description: the description used on the most lines
  of that code; ties go to the description seen last (latest invoice_at), then to the alphabetically
  first, so the choice is deterministic. Lines without a description do not vote.

  It votes over fct_sales (the lines kept: repeats do not vote), as the table is after this build,
  through its per-export partial int_sales_by_description: the votes of each export add up, the
  first and last times compose.
-#}
with

sales as (

    select * from {{ ref('int_sales_by_description') }}

),

stock_codes as (

    select * from {{ ref('int_stock_codes_classified') }}

),

per_description as (

    -- The exports' partials combined, grouped by the integer product key: every later step reads this.
    select
        product_key,
        description,
        min(stock_code_example) as stock_code_example,
        cast(sum(line_count) as bigint) as line_count,
        min(first_invoice_at) as first_sold_at,
        max(last_invoice_at) as last_used_at

    from sales
    group by product_key, description

),

ranked_descriptions as (

    select
        *,
        row_number() over (
            partition by product_key
            order by line_count desc, last_used_at desc, description asc
        ) as description_rank,
        count(*) over (partition by product_key) as description_variant_count

    from per_description
    -- Lines without a description do not vote.
    where description is not null

),

per_product as (

    select
        product_key,
        -- product_key is a hash of the upper-cased code: every code of one key upper-cases alike.
        upper(min(stock_code_example)) as stock_code_normalised,
        min(first_sold_at) as first_sold_at,
        max(last_used_at) as last_sold_at,
        sum(line_count) as line_count

    from per_description
    group by product_key

),

products as (

    select
        per_product.*,
        stock_codes.product_class,
        stock_codes.class_version

    from per_product
    left join stock_codes on per_product.stock_code_normalised = stock_codes.stock_code_normalised

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
        on products.product_key = ranked_descriptions.product_key
        and ranked_descriptions.description_rank = 1

)

select * from final
