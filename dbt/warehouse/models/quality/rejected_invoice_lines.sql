{#-
  Every source line kept out of fct_sales, with the reason: repeats of an earlier line (within its
  sheet, or from another sheet or export; see int_invoice_lines_duplicates_flagged), and the rows the
  conversion could not type (their raw text is kept; of the typed columns, only quantity, unit price
  and line amount are set, and only where the conversion could type them: that money is at stake).
  Source lines = fct_sales + rejected_invoice_lines, in rows and in money (see tests/).

  Maintained per export like fct_sales (macros/replace_lines.sql): the repeats of the value groups
  this build recomputes, and the untypable rows of the exports it reads.
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

duplicates as (

    select * from {{ ref('int_invoice_lines_classified') }}
    where is_exact_duplicate

),

untyped as (

    select * from {{ ref('stg_retail__invoice_line_rejects') }}

),

unioned as (

    -- union all pairs columns by position: both branches name every column, in the same order.
    select
        duplicate_reason as reason_code,
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        invoice_no,
        stock_code,
        description,
        quantity,
        invoice_at,
        unit_price,
        line_amount,
        customer_id,
        country_name,
        duplicate_of_source_row,
        null as raw_values,
        duplicate_of_source_file,
        duplicate_of_source_sheet

    from duplicates

    union all

    select
        reason_code,
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        raw_invoice_no as invoice_no,
        raw_stock_code as stock_code,
        raw_description as description,
        quantity,
        null as invoice_at,
        unit_price,
        line_amount,
        null as customer_id,
        raw_country as country_name,
        null as duplicate_of_source_row,
        concat_ws(
            ' | ',
            'quantity=' || coalesce(raw_quantity, ''),
            -- The conversion's name for the cell (its reasons say invoice_date too): published text.
            'invoice_date=' || coalesce(raw_invoice_at, ''),
            'unit_price=' || coalesce(raw_unit_price, ''),
            'customer_id=' || coalesce(raw_customer_id, '')
        ) as raw_values,
        null as duplicate_of_source_file,
        null as duplicate_of_source_sheet

    from untyped

),

final as (

    select
        {{ surrogate_key(['source_sha256', 'source_sheet', 'source_row']) }} as rejected_line_key,
        cast(reason_code as varchar) as reason_code,
        cast(source_file as varchar) as source_file,
        cast(source_sheet as varchar) as source_sheet,
        cast(source_row as bigint) as source_row,
        cast(invoice_no as varchar) as invoice_no,
        cast(stock_code as varchar) as stock_code,
        cast(description as varchar) as description,
        cast(quantity as bigint) as quantity,
        cast(invoice_at as timestamp) as invoice_at,
        cast(unit_price as decimal(18, 3)) as unit_price,
        cast(line_amount as decimal(18, 3)) as line_amount,
        cast(customer_id as bigint) as customer_id,
        cast(country_name as varchar) as country_name,
        cast(duplicate_of_source_row as bigint) as duplicate_of_source_row,
        cast(raw_values as varchar) as raw_values,
        -- Last, so that the analytics view of an existing database can gain them (PostgreSQL's
        -- create or replace view only appends columns).
        cast(duplicate_of_source_file as varchar) as duplicate_of_source_file,
        cast(duplicate_of_source_sheet as varchar) as duplicate_of_source_sheet

    from unioned

)

select * from final
