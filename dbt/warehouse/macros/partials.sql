{#-
  The per-export partial aggregates (models/intermediate/partials/, configured in dbt_project.yml):
  of fct_sales, and the countries of the line index (int_countries_by_export). Their grain starts
  with source_file, so an incremental build deletes the rows of the exports whose fact lines it
  re-placed (int_exports_replaced) and appends those exports' rows again from the table as it is now.
  The dimensions and reports combine the partials: counts and sums add up, minima and maxima compose,
  distinct values unite, so a full build and any sequence of incremental ones give the same rows.
-#}

{% macro delete_replaced_partials() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where source_file in (select replaced.source_file from {{ ref('int_exports_replaced') }} as replaced)
    {%- endif -%}
{%- endmacro %}

{#- The fact lines a partial aggregates this build: all of them in a full build, else the lines of
    the replaced exports. -#}
{% macro replaced_partial_lines() -%}
    select * from {{ ref('fct_sales') }}
    {%- if is_incremental() %}
    where source_file in (select replaced.source_file from {{ ref('int_exports_replaced') }} as replaced)
    {%- endif %}
{%- endmacro %}
