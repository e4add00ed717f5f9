-- Typed lines that are not exact duplicates are all in fct_sales: nothing else is dropped.
select count(*) as missing_lines
from {{ ref('int_invoice_lines_classified') }} as classified_lines
left join {{ ref('fct_sales') }} as sales
    on classified_lines.source_file = sales.source_file
    and classified_lines.source_sheet = sales.source_sheet
    and classified_lines.source_row = sales.source_row
where not classified_lines.is_exact_duplicate and sales.sales_line_key is null
having count(*) > 0
