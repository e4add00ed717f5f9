{#-
  The primary-key test: no two rows share the key's values and none of them is null. A row comes back
  for every key value that repeats or has a null. On a model it takes the key's columns (a composite
  key); on a column, that column is the key: one test where dbt's unique and not_null would be two
  (every test is a node of every build, about 25 ms of dbt's Python each).
-#}
{% test primary_key(model, columns=none, column_name=none) %}

{%- set columns = columns or [column_name] %}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {% for column in columns %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}

{% endtest %}
