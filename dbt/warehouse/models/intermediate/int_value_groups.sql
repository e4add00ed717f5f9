{#-
  The source fields of the value groups that a later build may need without reading their lines
  again: one row per value_hash of a group with two or more lines, plus every group this build
  touched. All lines of a group share their eight fields, so when an export goes, the repeat in
  another export that becomes the kept line takes its fields from here (its own export is not read).
  A build first drops the groups of fewer than two lines (left from the build before), then replaces
  the rows of the groups it touched: from the lines read this build where the group has one, else
  from the row it had.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='value_hash',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where member_count < 2{% endif %}",
    )
}}

{% set value_columns -%}
    invoice_no, stock_code, stock_code_normalised, description, quantity, invoice_at, invoice_date,
    unit_price, line_amount, customer_id, country_name
{%- endset %}

{% if all_exports_changed() -%}
-- A full build numbered every line in int_invoice_lines_classified: a group of two or more lines is
-- one that has a repeat, and the repeats are few.
with

repeats as (

    select * from {{ ref('int_invoice_lines_classified') }}
    where is_exact_duplicate

),

final as (

    select
        {{ value_hash() }} as value_hash,
        count(*) + 1 as member_count,
        {%- for column in value_columns.split(',') %}
        any_value({{ column | trim }}) as {{ column | trim }}{{ ',' if not loop.last }}
        {%- endfor %}

    from repeats
    group by value_hash

)

{%- else -%}
with

index as (

    select * from {{ ref('int_invoice_line_index') }}

),

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

touched as (

    select distinct value_hash
    from index
    where {{ is_changed_export('source_file') }}

),

member_counts as (

    select
        value_hash,
        count(*) as member_count

    from index
    where not is_stale and value_hash in (select touched.value_hash from touched)
    group by value_hash

),

groups as (

    select
        touched.value_hash,
        coalesce(member_counts.member_count, 0) as member_count

    from touched
    left join member_counts on touched.value_hash = member_counts.value_hash

),

read_this_build as (

    select
        index.value_hash,
        lines.invoice_no,
        lines.stock_code,
        lines.stock_code_normalised,
        lines.description,
        lines.quantity,
        lines.invoice_at,
        lines.invoice_date,
        lines.unit_price,
        lines.line_amount,
        lines.customer_id,
        lines.country_name

    from lines
    inner join index
        on lines.source_file = index.source_file
        and lines.source_sheet = index.source_sheet
        and lines.source_row = index.source_row
        and not index.is_stale
    where index.value_hash in (select groups.value_hash from groups)
    -- Every line of a group holds the same fields: any one will do, the first for determinism.
    qualify row_number() over (
        partition by index.value_hash order by lines.source_file, lines.source_sheet, lines.source_row
    ) = 1

),

{% if is_incremental() -%}
kept_before as (

    select * exclude (member_count)
    from {{ this }}
    where
        value_hash in (select groups.value_hash from groups)
        and value_hash not in (select read_this_build.value_hash from read_this_build)

),
{%- endif %}

group_values as (

    select * from read_this_build
    {%- if is_incremental() %}
    union all
    select * from kept_before
    {%- endif %}

),

final as (

    select
        groups.value_hash,
        groups.member_count,
        group_values.* exclude (value_hash)

    from groups
    left join group_values on groups.value_hash = group_values.value_hash

)

{%- endif %}

select * from final
