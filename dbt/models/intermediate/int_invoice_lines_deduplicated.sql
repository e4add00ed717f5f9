{#-
  Flags exact duplicates: lines whose eight source fields are all equal to those of an earlier line.
  "Earlier" is the order (source_file, source_sheet, source_row), which is total, so the line that
  is kept is the same on every run. Lines in overlapping exports (several workbooks) are caught too.
-#}
with

invoice_lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

numbered as (

    select
        *,
        row_number() over (
            partition by
                invoice_no, stock_code, description, quantity,
                invoice_at, unit_price, customer_id, country_name
            order by source_file, source_sheet, source_row
        ) as occurrence,
        first_value(source_row) over (
            partition by
                invoice_no, stock_code, description, quantity,
                invoice_at, unit_price, customer_id, country_name
            order by source_file, source_sheet, source_row
        ) as first_source_row

    from invoice_lines

),

final as (

    select
        *,
        occurrence > 1 as is_exact_duplicate,
        case when occurrence > 1 then first_source_row end as duplicate_of_source_row

    from numbered

)

select * from final
