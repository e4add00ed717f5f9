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
-#}
with

invoice_lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

numbered as (

    select
        *,
        row_number() over same_values as occurrence,
        first_value(source_file) over same_values as first_source_file,
        first_value(source_sheet) over same_values as first_source_sheet,
        first_value(source_row) over same_values as first_source_row,
        lag(source_file) over same_values as previous_source_file,
        lag(source_sheet) over same_values as previous_source_sheet

    from invoice_lines
    window same_values as (
        partition by
            invoice_no, stock_code, description, quantity,
            invoice_at, unit_price, customer_id, country_name
        order by source_file, source_sheet, source_row
    )

),

final as (

    select
        * exclude (
            first_source_file, first_source_sheet, first_source_row,
            previous_source_file, previous_source_sheet
        ),
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

    from numbered

)

select * from final
