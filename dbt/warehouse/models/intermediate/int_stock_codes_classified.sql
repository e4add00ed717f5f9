{#-
  One row per normalised stock code with its product class from the versioned seed: the matching
  pattern with the lowest match_order wins; a code no pattern matches is 'unclassified' (a test fails
  on it, so a new kind of code is noticed before it reaches BI).
-#}
with

stock_codes as (

    -- Every code of the exports held (not only those read this build): dim_product shows them all.
    select distinct stock_code_normalised
    from {{ ref('int_invoice_line_index') }}
    where not is_stale

),

classes as (

    select * from {{ ref('stock_code_classes') }}

),

matched as (

    select
        stock_codes.stock_code_normalised,
        classes.product_class,
        classes.class_version,
        row_number() over (
            partition by stock_codes.stock_code_normalised order by classes.match_order
        ) as match_rank

    from stock_codes
    left join classes
        on regexp_full_match(stock_codes.stock_code_normalised, classes.stock_code_pattern)

),

final as (

    select
        stock_code_normalised,
        coalesce(product_class, 'unclassified') as product_class,
        class_version

    from matched
    where match_rank = 1

)

select * from final
