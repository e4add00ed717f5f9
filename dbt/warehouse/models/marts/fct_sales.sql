{#-
  One row per source invoice line that is not an exact duplicate of an earlier line. Keeps sales,
  cancellations, stock adjustments, guest lines (customer_key -1), postage, fees, discounts, manual
  and bad-debt adjustments, each with its line_type. The key derives from the line's place in its
  source (workbook checksum, sheet, row), so the same source gives the same keys on every run.

  Maintained per export (macros/replace_lines.sql): a build deletes the lines of the exports it
  changes and of the value groups it recomputes, then appends those that are kept now.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_replaced_lines() }}",
    )
}}
with

lines as (

    select * from {{ ref('int_invoice_lines_classified') }}
    where not is_exact_duplicate

),

countries as (

    select * from {{ ref('dim_country') }}

),

final as (

    select
        {{ surrogate_key(['lines.source_sha256', 'lines.source_sheet', 'lines.source_row']) }}
            as sales_line_key,
        cast(lines.invoice_no as varchar) as invoice_no,
        cast(lines.invoice_at as timestamp) as invoice_at,
        cast(strftime(lines.invoice_date, '%Y%m%d') as integer) as date_key,
        cast(coalesce(lines.customer_id, {{ guest_customer_key() }}) as bigint) as customer_key,
        {{ surrogate_key(['lines.stock_code_normalised']) }} as product_key,
        cast(countries.country_key as bigint) as country_key,
        cast(lines.line_type as varchar) as line_type,
        {{ is_cancellation_invoice('lines.invoice_no') }} as is_cancellation,
        cast(lines.stock_code as varchar) as stock_code,
        cast(lines.description as varchar) as description,
        cast(lines.quantity as bigint) as quantity,
        cast(lines.unit_price as decimal(18, 3)) as unit_price,
        cast(lines.line_amount as decimal(18, 3)) as line_amount,
        cast(lines.source_file as varchar) as source_file,
        cast(lines.source_sheet as varchar) as source_sheet,
        cast(lines.source_row as bigint) as source_row

    from lines
    inner join countries on lines.country_name = countries.country_name

)

select * from final
