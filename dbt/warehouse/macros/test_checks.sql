{#-
  A table's checks in one query, as one dbt test. Every test is a node of every build, and a node
  costs about 25 ms of dbt's Python whatever its query does, so a model's key, unique, not-null and
  accepted-value checks run together, and its references in a second one (below; docs/speed.md).
  Each finding comes back as a row: the check that failed, the value found (a key's values joined
  with ', ') and on how many rows.

  - primary_key: the key's columns (a composite key); no two rows share its values, none is null.
  - unique: columns whose non-null values never repeat (each on its own).
  - not_null: columns that are never null (one scan for all of them).
  - accepted_values: {column: [values]}; a value outside the list (null is let through, as dbt's
    accepted_values does).
  - references: {column: ref('parent')} when the parent's column has the same name, or
    {column: {to: ref('parent'), field: parent_column}} (field defaults to the column's name); a
    non-null value the parent lacks.

  References go in a checks test of their own (named references_<model>). In dbt build a failing test
  stops the models built after its table, but a model waits only for the tests whose tables are all
  upstream of it: a test that also reads the parents would no longer stop what is built from the
  model when its key or its values are wrong.
-#}
{% test checks(model, primary_key=[], unique=[], not_null=[], accepted_values={}, references={}) %}
{{ checks_query(model, primary_key, unique, not_null, accepted_values, references) }}
{% endtest %}

{#- The key check alone: on a model with its columns, on a column with that column. -#}
{% test primary_key(model, columns=none, column_name=none) %}
{{ checks_query(model, primary_key=columns or [column_name]) }}
{% endtest %}

{% macro checks_query(model, primary_key=[], unique=[], not_null=[], accepted_values={}, references={}) %}
{%- set queries = [] -%}

{%- if primary_key -%}
{%- set key = primary_key | join(', ') -%}
{%- set query -%}
select
    'primary_key({{ key }})' as failed_check,
    {{ checks_found(primary_key) }} as found,
    count(*) as row_count
from {{ model }}
group by {{ key }}
having count(*) > 1 or {% for column in primary_key %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}
{%- endset -%}
{%- do queries.append(query) -%}
{%- endif -%}

{%- for column in unique -%}
{%- set query -%}
select
    'unique({{ column }})' as failed_check,
    {{ checks_found([column]) }} as found,
    count(*) as row_count
from {{ model }}
where {{ column }} is not null
group by {{ column }}
having count(*) > 1
{%- endset -%}
{%- do queries.append(query) -%}
{%- endfor -%}

{%- if not_null -%}
{%- set query -%}
select
    failed_check,
    cast(null as varchar) as found,
    row_count
from (
    select
        unnest([{% for column in not_null %}'not_null({{ column }})'{% if not loop.last %}, {% endif %}{% endfor %}]) as failed_check,
        unnest([{% for column in not_null %}count(*) filter (where {{ column }} is null){% if not loop.last %}, {% endif %}{% endfor %}]) as row_count
    from {{ model }}
) as nulls
where row_count > 0
{%- endset -%}
{%- do queries.append(query) -%}
{%- endif -%}

{%- for column, values in accepted_values.items() -%}
{%- set query -%}
select
    'accepted_values({{ column }})' as failed_check,
    {{ checks_found([column]) }} as found,
    count(*) as row_count
from {{ model }}
where {{ column }} not in ({% for value in values %}'{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %})
group by {{ column }}
{%- endset -%}
{%- do queries.append(query) -%}
{%- endfor -%}

{%- for column, parent in references.items() -%}
{#- A ref() is a relation, which is a mapping too: tell the two forms apart by the key. -#}
{%- set to = parent['to'] if 'to' in parent else parent -%}
{%- set field = parent.get('field', column) if 'to' in parent else column -%}
{%- set query -%}
select
    'references({{ column }} -> {{ to.identifier }}.{{ field }})' as failed_check,
    {{ checks_found(['child.' ~ column]) }} as found,
    count(*) as row_count
from (select * from {{ model }}) as child
where child.{{ column }} is not null
    and not exists (select 1 from {{ to }} as parent where parent.{{ field }} = child.{{ column }})
group by child.{{ column }}
{%- endset -%}
{%- do queries.append(query) -%}
{%- endfor -%}

{{ queries | join('\nunion all\n') }}
{% endmacro %}

{#- The values of ``columns`` as one text, a null as 'null'. -#}
{% macro checks_found(columns) -%}
{% for column in columns %}coalesce(cast({{ column }} as varchar), 'null'){% if not loop.last %} || ', ' || {% endif %}{% endfor %}
{%- endmacro %}
