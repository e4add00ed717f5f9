-- Every source line is in fct_sales or in rejected_invoice_lines, exactly once; and the warehouse
-- holds every row the conversions counted (PIPELINE_EXPECTED_SOURCE_ROWS: every export held, not only
-- those read this build; by hand, -1 skips that check).
with

counts as (

    select
        (
            select count(*) from {{ ref('int_invoice_line_index') }}
            where not is_stale
        )
        + (
            select count(*) from {{ ref('rejected_invoice_lines') }}
            where duplicate_of_source_row is null
        ) as source_lines,
        (select count(*) from {{ ref('fct_sales') }}) as fact_lines,
        (select count(*) from {{ ref('rejected_invoice_lines') }}) as rejected_lines,
        {{ run_env('PIPELINE_EXPECTED_SOURCE_ROWS', '-1') }} as expected_source_rows

)

select *
from counts
where
    source_lines <> fact_lines + rejected_lines
    or (expected_source_rows >= 0 and source_lines <> expected_source_rows)
