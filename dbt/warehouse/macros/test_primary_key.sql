{#-
  The primary-key test of a model whose key spans several columns: no two rows share the columns'
  values and none of them is null. (A one-column key takes dbt's unique test and a not_null
  constraint or test.) A row comes back for every key value that repeats or has a null.
-#}
{% test primary_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {% for column in columns %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}

{% endtest %}
