{#-
  Stock codes and countries in fct_sales that no seed knows yet: product class `unclassified` (no row
  of stock_code_classes matches the code) or a country missing from country_codes. They stay in the
  star schema; this table says what they are, on how many lines and how much money, and which seed
  file to extend. The unknown-value policy (tests/assert_unknown_values_*) reads it: a warning naming
  them always, a failure when a kind's share of lines or money passes the configured limit.

  Shares are of fct_sales: lines, and money as the sum of absolute line amounts, so that adjustments
  and refunds count by their size instead of cancelling out. It reads the fact's per-export partials
  (int_sales_by_invoice for countries and totals, int_sales_by_description for stock codes): counts
  and sums add up.
-#}
with

sales as (

    select * from {{ ref('int_sales_by_invoice') }}

),

sales_by_description as (

    select * from {{ ref('int_sales_by_description') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

countries as (

    select * from {{ ref('dim_country') }}

),

totals as (

    select
        cast(coalesce(sum(line_count), 0) as bigint) as total_line_count,
        coalesce(sum(absolute_amount), 0) as total_absolute_amount

    from sales

),

unknown_stock_codes as (

    select
        'stock_code' as value_kind,
        products.stock_code as value,
        cast(sum(sales_by_description.line_count) as bigint) as line_count,
        sum(sales_by_description.line_amount) as line_amount,
        sum(sales_by_description.absolute_amount) as absolute_amount,
        'dbt/warehouse/seeds/stock_code_classes.csv' as seed_file

    from sales_by_description
    inner join products on sales_by_description.product_key = products.product_key
    where products.product_class = 'unclassified'
    group by products.stock_code

),

unknown_countries as (

    select
        'country' as value_kind,
        countries.country_name as value,
        cast(sum(sales.line_count) as bigint) as line_count,
        sum(sales.line_amount) as line_amount,
        sum(sales.absolute_amount) as absolute_amount,
        'dbt/warehouse/seeds/country_codes.csv' as seed_file

    from sales
    inner join countries on sales.country_key = countries.country_key
    where not countries.is_known
    group by countries.country_name

),

unioned as (

    select * from unknown_stock_codes
    union all
    select * from unknown_countries

),

final as (

    select
        cast(unioned.value_kind as varchar) as value_kind,
        cast(unioned.value as varchar) as value,
        cast(unioned.line_count as bigint) as line_count,
        cast(unioned.line_amount as decimal(38, 3)) as line_amount,
        cast(unioned.absolute_amount as decimal(38, 3)) as absolute_amount,
        cast(100.0 * unioned.line_count / totals.total_line_count as double) as line_percent,
        cast(
            case
                when totals.total_absolute_amount = 0 then 0
                else 100.0 * unioned.absolute_amount / totals.total_absolute_amount
            end as double
        ) as money_percent,
        cast(unioned.seed_file as varchar) as seed_file

    from unioned
    cross join totals

)

select * from final
