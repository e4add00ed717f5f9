{#-
  The persistent index of every typed line of the exports the warehouse holds: its place (file,
  sheet, row), the hash of its eight source fields (value_hash) and the few values that models over
  the whole history need (invoice number, stock code, country, amount), nothing else. Maintained per export: an
  incremental build appends the lines of the exports it reads and marks the lines of every changed
  export of the previous state stale first, so that the models after it can still see which value
  groups those lines belonged to (an export removed or re-exported takes its lines out of their
  groups, which may turn a repeat elsewhere into the kept line). Stale lines go at the start of the
  next build; every model reads `not is_stale`. Applying one change set twice gives the same index.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=[
            "{% if is_incremental() %}delete from {{ this }} where is_stale{% endif %}",
            "{% if is_incremental() %}update {{ this }} set is_stale = true where "
            ~ "{{ is_changed_export() }}{% endif %}",
        ],
    )
}}

with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

final as (

    select
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        {{ value_hash() }} as value_hash,
        invoice_no,
        stock_code_normalised,
        country_name,
        line_amount,
        false as is_stale

    from lines

)

select * from final
