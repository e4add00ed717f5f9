{#-
  The country values of each export's lines: the compact input of dim_country. It reads the line
  index, not fct_sales, which needs dim_country first. Maintained per export like the partials of
  fct_sales (macros/partials.sql): a build replaces the rows of the exports it replaced.
-#}
-- depends_on: {{ ref('int_exports_replaced') }}
with

index as (

    select * from {{ ref('int_invoice_line_index') }}
    where not is_stale

),

final as (

    select distinct
        source_file,
        country_name

    from index
    {%- if is_incremental() %}
    where source_file in (select replaced.source_file from {{ ref('int_exports_replaced') }} as replaced)
    {%- endif %}

)

select * from final
