{#-
  One row per invoice number, built from fct_sales. The customer and country are those of the
  invoice's first line (lowest source row); an invoice in the source never mixes them.

  Maintained per invoice: a build recomputes the invoices of the changed exports' lines, old and new
  (the index's stale and fresh rows). A line of another export that turns kept or repeat shares its
  fields, so its invoice number, with such a line: no other invoice's lines change.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where invoice_no in "
        ~ "(select invoice_no from {{ ref('int_invoice_line_index') }} where "
        ~ "{{ is_changed_export() }}){% endif %}",
    )
}}
-- depends_on: {{ ref('int_invoice_line_index') }}
with

sales as (

    select * from {{ ref('fct_sales') }}
    {%- if is_incremental() %}
        where invoice_no in (
            select index.invoice_no from {{ ref('int_invoice_line_index') }} as index
            where {{ is_changed_export('index.source_file') }}
        )
    {%- endif %}

),

final as (

    select
        cast(invoice_no as varchar) as invoice_no,
        cast(min(invoice_at) as timestamp) as invoice_at,
        cast(arg_min(date_key, source_row) as integer) as date_key,
        cast(arg_min(customer_key, source_row) as bigint) as customer_key,
        cast(arg_min(country_key, source_row) as bigint) as country_key,
        cast(count(*) as integer) as line_count,
        cast(sum(quantity) as bigint) as item_quantity,
        cast(sum(line_amount) as decimal(38, 3)) as invoice_amount,
        bool_or(is_cancellation) as is_cancelled,
        {{ is_bad_debt_adjustment_invoice() }} as is_bad_debt_adjustment

    from sales
    group by invoice_no

)

select * from final
