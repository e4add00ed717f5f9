-- The tables behind the live views carry their primary keys and the fact's foreign keys, so
-- PostgreSQL enforces unique, non-null keys and resolvable dimension keys on every row.
with

expected (table_name, constraint_type, expected_count) as (

    values
        ('fct_sales', 'p', 1), ('fct_sales', 'f', 4),
        ('fct_invoices', 'p', 1), ('fct_invoices', 'f', 3),
        ('dim_date', 'p', 1), ('dim_customer', 'p', 1), ('dim_product', 'p', 1),
        ('dim_country', 'p', 1), ('rejected_invoice_lines', 'p', 1)

),

live_schema as (

    -- The version schema the analytics views read (see pipeline/lib/olap.py).
    select distinct dependency.table_schema as schema_name
    from information_schema.view_table_usage as dependency
    where dependency.view_schema = 'analytics'
        and dependency.view_name = 'fct_sales'

),

actual as (

    select
        tables.relname as table_name,
        constraints.contype as constraint_type,
        count(*) as actual_count
    from pg_constraint as constraints
    inner join pg_class as tables on constraints.conrelid = tables.oid
    inner join pg_namespace as schemas on tables.relnamespace = schemas.oid
    inner join live_schema on schemas.nspname = live_schema.schema_name
    where constraints.contype in ('p', 'f')
    group by 1, 2

)

select
    expected.table_name,
    expected.constraint_type,
    expected.expected_count,
    coalesce(actual.actual_count, 0) as actual_count
from expected
left join actual
    on expected.table_name = actual.table_name
    and expected.constraint_type = actual.constraint_type::text
where coalesce(actual.actual_count, 0) <> expected.expected_count
