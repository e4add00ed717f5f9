-- The live tables account for every source line of the published version, and for its money: fact +
-- quarantine. PIPELINE_EXPECTED_SOURCE_ROWS and PIPELINE_EXPECTED_SOURCE_AMOUNT come from the
-- pipeline; by hand, -1 and unset skip the checks. They are read only when dbt executes: read while
-- parsing, their new values on every run would make dbt re-parse this file.
{%- set expected_amount = env_var('PIPELINE_EXPECTED_SOURCE_AMOUNT', '') if execute else '' %}
{%- set expected_amount_sql = "'" ~ expected_amount ~ "'" if expected_amount else 'null' %}
with

counts as (

    select
        (select count(*) from {{ source('analytics', 'fct_sales') }}) as fact_lines,
        (select count(*) from {{ source('analytics', 'rejected_invoice_lines') }}) as rejected_lines,
        (select coalesce(sum(line_amount), 0) from {{ source('analytics', 'fct_sales') }}) as fact_amount,
        (
            select coalesce(sum(line_amount), 0) from {{ source('analytics', 'rejected_invoice_lines') }}
        ) as rejected_amount,
        {{ env_var('PIPELINE_EXPECTED_SOURCE_ROWS', '-1') if execute else -1 }} as expected_source_rows,
        cast({{ expected_amount_sql }} as numeric) as expected_source_amount

)

select *
from counts
where
    (expected_source_rows >= 0 and fact_lines + rejected_lines <> expected_source_rows)
    or (expected_source_amount is not null and fact_amount + rejected_amount <> expected_source_amount)
