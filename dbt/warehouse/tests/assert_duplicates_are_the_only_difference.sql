-- Every typed line of the exports held is in fct_sales or among the repeats of rejected_invoice_lines:
-- nothing else is dropped, whatever order the exports arrived in.
select count(*) as missing_lines
from {{ ref('int_invoice_line_index') }} as indexed_lines
left join {{ ref('fct_sales') }} as sales
    on indexed_lines.source_file = sales.source_file
    and indexed_lines.source_sheet = sales.source_sheet
    and indexed_lines.source_row = sales.source_row
left join {{ ref('rejected_invoice_lines') }} as rejected
    on indexed_lines.source_file = rejected.source_file
    and indexed_lines.source_sheet = rejected.source_sheet
    and indexed_lines.source_row = rejected.source_row
    and rejected.duplicate_of_source_row is not null
where not indexed_lines.is_stale and sales.sales_line_key is null and rejected.rejected_line_key is null
having count(*) > 0
