-- The live tables account for every source line of the published version: fact + quarantine.
select fact_lines, rejected_lines, {{ var('expected_source_rows') }} as expected_source_rows
from (
    select
        (select count(*) from {{ source('analytics', 'fct_sales') }}) as fact_lines,
        (select count(*) from {{ source('analytics', 'rejected_invoice_lines') }}) as rejected_lines
) as counts
where {{ var('expected_source_rows') }} >= 0
    and fact_lines + rejected_lines <> {{ var('expected_source_rows') }}
