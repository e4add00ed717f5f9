{#-
  A deterministic bigint key from the given expressions: the first 60 bits of their md5, so the same
  natural key gives the same surrogate key on every run, machine and DuckDB version (unlike hash(),
  whose values may change between versions, or row_number(), which depends on an ordering).
-#}
{% macro surrogate_key(expressions) -%}
    ('0x' || substr(md5(
        {%- for expression in expressions -%}
            coalesce(cast({{ expression }} as varchar), '\x00')
            {%- if not loop.last %} || '|' || {% endif -%}
        {%- endfor -%}
    ), 1, 15))::bigint
{%- endmacro %}
