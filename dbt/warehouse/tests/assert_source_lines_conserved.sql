-- Every source line is in fct_sales or in rejected_invoice_lines, exactly once; and the lake holds
-- every row the conversion counted (PIPELINE_EXPECTED_SOURCE_ROWS; by hand, -1 skips that check).
with

counts as (

    select
        (select count(*) from {{ ref('stg_retail__invoice_lines') }})
        + (select count(*) from {{ ref('stg_retail__invoice_line_rejects') }}) as source_lines,
        (select count(*) from {{ ref('fct_sales') }}) as fact_lines,
        (select count(*) from {{ ref('rejected_invoice_lines') }}) as rejected_lines,
        {{ env_var('PIPELINE_EXPECTED_SOURCE_ROWS', '-1') }} as expected_source_rows

)

select *
from counts
where
    source_lines <> fact_lines + rejected_lines
    or (expected_source_rows >= 0 and source_lines <> expected_source_rows)
