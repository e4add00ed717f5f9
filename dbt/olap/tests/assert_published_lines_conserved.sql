-- The live tables account for every source line of the published version: fact + quarantine.
-- PIPELINE_EXPECTED_SOURCE_ROWS comes from the pipeline; by hand, -1 skips the check. It is read only
-- when dbt executes: read while parsing, its new value on every run would make dbt re-parse this file.
with

counts as (

    select
        (select count(*) from {{ source('analytics', 'fct_sales') }}) as fact_lines,
        (select count(*) from {{ source('analytics', 'rejected_invoice_lines') }}) as rejected_lines,
        {{ env_var('PIPELINE_EXPECTED_SOURCE_ROWS', '-1') if execute else -1 }} as expected_source_rows

)

select *
from counts
where
    expected_source_rows >= 0
    and fact_lines + rejected_lines <> expected_source_rows
