{#-
  Flags lines whose eight source fields are all equal to those of an earlier line. "Earlier" is the
  order (source_file, source_sheet, source_row), which is total, so the line that is kept is the same
  on every run, and every repeat points at that one kept line (file, sheet and row).

  Two kinds of repeat, because they mean different things to whoever reads the quarantine:
  - exact_duplicate: an earlier line of the same sheet of the same file holds the same values (the
    export itself repeats the line);
  - overlapping_export_duplicate: the first such line of its sheet, repeating a line of another sheet
    or another file (two exports, or two sheets of one workbook, cover the same days).
  A line can repeat lines of both kinds; the same-sheet reason wins, so a sheet's exact_duplicate
  count does not change when an overlapping export arrives. Rows of one (file, sheet) are adjacent in
  the window's order, so the previous row of the partition tells whether the sheet saw the line before.

  Incremental. Only the value groups that a changed export touches (its old lines or its new ones) can
  change, and whole groups are recomputed here: every current line of those groups, whichever export
  holds it, from the index (place and value_hash). A line of a changed export takes its fields from
  the lake files read this build; any other line from int_value_groups (its group's shared fields).
  fct_sales and rejected_invoice_lines replace exactly these lines. A full build: every line, numbered
  in one window over the lines (the same order and partition: equal fields, equal value_hash).
-#}
with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

{% if all_exports_changed() -%}
-- A full build reads every line: number them in one window over the lines themselves (one pass,
-- no join back to the index).
    numbered as (

        select
            *,
            {{ occurrence_in_source_order() }}

        from lines
        window same_values as (
            partition by
                invoice_no, stock_code, description, quantity,
                invoice_at, unit_price, customer_id, country_name
            order by source_file, source_sheet, source_row
        )

    ),

    with_fields as (

        select * from numbered

    ),
{%- else -%}
-- Not materialized: DuckDB copies a CTE that is read twice, and a copy of the whole index spills
-- under the build's memory limit (int_value_groups at 10x: 1.1 s, against 0.1 s read in place).
index as not materialized (

    select * from {{ ref('int_invoice_line_index') }}

),

value_groups as (

    select * from {{ ref('int_value_groups') }}

),

members as (

    select * from index
    where
        not is_stale
        and value_hash in (select value_hash from index where {{ is_changed_export('source_file') }})

),

numbered as (

    select
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        value_hash,
        {{ occurrence_in_source_order() }}

    from members
    window same_values as (
        partition by value_hash
        order by source_file, source_sheet, source_row
    )

),

with_fields as (

    select
        numbered.*,
        lines.* exclude (source_file, source_sha256, source_sheet, source_row)

    from numbered
    inner join lines
        on numbered.source_file = lines.source_file
        and numbered.source_sheet = lines.source_sheet
        and numbered.source_row = lines.source_row

    union all by name

    select
        numbered.*,
        value_groups.* exclude (value_hash, member_count)

    from numbered
    inner join value_groups on numbered.value_hash = value_groups.value_hash
    where not {{ is_changed_export('numbered.source_file') }}

),
{%- endif %}

final as (

    select
        invoice_no,
        stock_code,
        stock_code_normalised,
        description,
        quantity,
        invoice_at,
        invoice_date,
        unit_price,
        line_amount,
        customer_id,
        country_name,
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        occurrence > 1 as is_exact_duplicate,
        case
            when occurrence = 1 then null
            when previous_source_file = source_file and previous_source_sheet = source_sheet
                then 'exact_duplicate'
            else 'overlapping_export_duplicate'
        end as duplicate_reason,
        case when occurrence > 1 then first_source_file end as duplicate_of_source_file,
        case when occurrence > 1 then first_source_sheet end as duplicate_of_source_sheet,
        case when occurrence > 1 then first_source_row end as duplicate_of_source_row

    from with_fields

)

select * from final
