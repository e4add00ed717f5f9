-- Its failures are stored: int_invoice_lines_classified is gone after the build (profiles.yml, transient).
{{ config(store_failures=true) }}

-- Every line this build placed (int_invoice_lines_classified: the lines of the value groups it
-- recomputed; a full build: every typed line) is in fct_sales or among the repeats of
-- rejected_invoice_lines: nothing else is dropped, whatever order the exports arrived in. (The lines it
-- did not touch passed this test when they were placed; assert_source_lines_conserved counts them all.)
select count(*) as missing_lines
from {{ ref('int_invoice_lines_classified') }} as placed_lines
left join {{ ref('fct_sales') }} as sales
    on placed_lines.source_file = sales.source_file
    and placed_lines.source_sheet = sales.source_sheet
    and placed_lines.source_row = sales.source_row
left join {{ ref('rejected_invoice_lines') }} as rejected
    on placed_lines.source_file = rejected.source_file
    and placed_lines.source_sheet = rejected.source_sheet
    and placed_lines.source_row = rejected.source_row
    and rejected.duplicate_of_source_row is not null
where sales.sales_line_key is null and rejected.rejected_line_key is null
having count(*) > 0
