{#-
  The pre-hook of the two tables maintained per export (fct_sales, rejected_invoice_lines): before a
  build appends its lines, delete every line of a changed export (added, re-exported or removed: its
  lines come back from the lake files read this build, if it still exists) and every line of a value
  group this build recomputes (int_invoice_lines_classified: a line of an unchanged export may turn
  from kept to repeat or back). Deleting first makes the build idempotent: the same change set
  applied twice leaves the same rows. A full build starts from an empty table and deletes nothing.
-#}
{% macro delete_replaced_lines() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ is_changed_export() }};
        delete from {{ this }} as target
        using {{ ref('int_invoice_lines_classified') }} as recomputed
        where
            target.source_file = recomputed.source_file
            and target.source_sheet = recomputed.source_sheet
            and target.source_row = recomputed.source_row
    {%- endif -%}
{%- endmacro %}
