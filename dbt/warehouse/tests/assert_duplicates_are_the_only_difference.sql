-- Typed lines that are not exact duplicates are all in fct_sales: nothing else is dropped.
select count(*) as missing_lines
from {{ ref('int_invoice_lines_classified') }} as lines
left join {{ ref('fct_sales') }} as sales
    on lines.source_file = sales.source_file
    and lines.source_sheet = sales.source_sheet
    and lines.source_row = sales.source_row
where not lines.is_exact_duplicate and sales.sales_line_key is null
having count(*) > 0
