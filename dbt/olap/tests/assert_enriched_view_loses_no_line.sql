-- The BI view joins every fact line to its dimensions: no line and no penny lost in the joins.
select *
from (
    select
        (select count(*) from {{ source('analytics', 'fct_sales') }}) as fact_lines,
        (select count(*) from {{ ref('sales_enriched') }}) as view_lines,
        (select sum(line_amount) from {{ source('analytics', 'fct_sales') }}) as fact_amount,
        (select sum(line_amount) from {{ ref('sales_enriched') }}) as view_amount
) as totals
where fact_lines <> view_lines or fact_amount <> view_amount
