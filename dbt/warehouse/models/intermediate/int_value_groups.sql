{#-
  The source fields of the value groups that a later build may need without reading their lines
  again: one row per value_hash of a group with two or more lines, plus the groups this build touched
  that lost lines. All lines of a group share their eight fields, so when an export goes, the repeat in
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
            any_value(invoice_no) as invoice_no,
            any_value(stock_code) as stock_code,
            any_value(stock_code_normalised) as stock_code_normalised,
            any_value(description) as description,
            any_value(quantity) as quantity,
            any_value(invoice_at) as invoice_at,
            any_value(invoice_date) as invoice_date,
            any_value(unit_price) as unit_price,
            any_value(line_amount) as line_amount,
            any_value(customer_id) as customer_id,
            any_value(country_name) as country_name

        from repeats
        group by value_hash

    )

{%- else -%}
with

-- Not materialized: DuckDB copies a CTE that is read twice, and a copy of the whole index spills
-- under the build's memory limit (int_value_groups at 10x: 1.1 s, against 0.1 s read in place).
index as not materialized (

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
        count(*) as member_count,
        count(*) filter (where not {{ is_changed_export('source_file') }}) as unchanged_member_count

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
    -- A lone new line (most of a new export) needs no row: its fields are in the lake files read this
    -- build, and no other line shares them. Every other touched group gets one: two or more lines, a
    -- line of an unchanged export that this build may turn kept (int_invoice_lines_duplicates_flagged
    -- reads its fields here), none left, or a row from before (its count is brought up to date, so the
    -- next build drops the row of a group down to one line).
    where
        not (member_counts.member_count = 1 and member_counts.unchanged_member_count = 0)
        {%- if is_incremental() %}
            or touched.value_hash in (select kept.value_hash from {{ this }} as kept)
        {%- endif %}

),

changed_lines as (

    -- Only the index rows of the exports read this build: the join below stays as small as they are.
    select * from index
    where not is_stale and {{ is_changed_export('source_file') }}

),

read_this_build as (

    select
        changed_lines.value_hash,
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
    inner join changed_lines
        on lines.source_file = changed_lines.source_file
        and lines.source_sheet = changed_lines.source_sheet
        and lines.source_row = changed_lines.source_row
    -- Every line of a group holds the same fields: any one will do, the first for determinism.
    qualify row_number() over (
        partition by changed_lines.value_hash
        order by lines.source_file, lines.source_sheet, lines.source_row
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
