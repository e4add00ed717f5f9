{#-
  The live tables in analytics carry their primary keys and foreign keys (where BI tools read them to
  find the star's joins), so PostgreSQL enforces unique, non-null keys and resolvable dimension keys on
  every row, every month partition included. Which tables, and how many keys
  of each kind, the pipeline derives from the warehouse's dbt manifest as the publish does
  (PIPELINE_PUBLISHED_KEYS, JSON rows of table_name, constraint_type p or f, expected_count); by
  hand, without it, nothing is checked. It is read only when dbt executes, so the project's parse never
  depends on it and can be made before the publish (pipeline/lib/dbt.py, parse_after_next_fork).
-#}
with

expected as (

    select
        published.table_name,
        published.constraint_type,
        published.expected_count
    from json_to_recordset(
        '{{ (env_var("PIPELINE_PUBLISHED_KEYS", "[]") if execute else "[]") | replace("'", "''") }}'
    ) as published (table_name text, constraint_type text, expected_count integer)

),

actual as (

    select
        relations.relname as table_name,
        cast(table_constraints.contype as text) as constraint_type,
        count(*) as actual_count
    from {{ source('pg_catalog', 'pg_constraint') }} as table_constraints
    inner join {{ source('pg_catalog', 'pg_class') }} as relations
        on table_constraints.conrelid = relations.oid
    inner join {{ source('pg_catalog', 'pg_namespace') }} as namespaces
        on relations.relnamespace = namespaces.oid
    where
        namespaces.nspname = 'analytics'
        and table_constraints.contype in ('p', 'f')
    group by relations.relname, table_constraints.contype

)

select
    expected.table_name,
    expected.constraint_type,
    expected.expected_count,
    coalesce(actual.actual_count, 0) as actual_count
from expected
left join actual
    on expected.table_name = actual.table_name
    and expected.constraint_type = actual.constraint_type
where coalesce(actual.actual_count, 0) <> expected.expected_count
