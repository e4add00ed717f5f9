{#-
  Key tests that check only the rows a build can have changed. A table maintained per export whose key
  starts with source_file changes only in the rows of some exports; the rows of the others were checked
  by the build that wrote them, so a test of the changed exports' rows is a test of the whole table.
  At 10x history each such test on a whole table took 0.5-0.6 s of every incremental build.

  A test asks for it with a placeholder as its `where` config (dbt does not render a ref or a project
  macro there; overriding get_where_subquery is dbt's documented way):
  - `__changed_exports__`: the exports this build adds, re-exports or removes (int_invoice_line_index);
  - `__replaced_exports__`: those whose fact lines it re-placed (int_exports_replaced; the partials).
  A full build changes every export, so there they test every row.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__changed_exports__' -%}
        {%- set where = is_changed_export('source_file') -%}
    {%- elif where == '__replaced_exports__' -%}
        {%- set replaced = relation.incorporate(path={'identifier': 'int_exports_replaced'}) -%}
        {%- set where = 'source_file in (select replaced.source_file from ' ~ replaced ~ ' as replaced)' -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
