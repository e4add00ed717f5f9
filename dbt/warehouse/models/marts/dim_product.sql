with

products as (

    select * from {{ ref('int_products_resolved') }}

),

final as (

    select
        {{ surrogate_key(['stock_code_normalised']) }} as product_key,
        cast(stock_code_normalised as varchar) as stock_code,
        cast(canonical_description as varchar) as description,
        cast(description_variant_count as integer) as description_variant_count,
        cast(product_class as varchar) as product_class,
        cast(class_version as integer) as product_class_version,
        product_class = 'merchandise' as is_merchandise,
        cast(first_sold_at as timestamp) as first_sold_at,
        cast(last_sold_at as timestamp) as last_sold_at

    from products

)

select * from final
