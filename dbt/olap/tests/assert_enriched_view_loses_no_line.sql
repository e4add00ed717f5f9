{#-
  The BI view joins every fact line to its dimensions: no line and no penny lost or repeated in the
  joins. Checked on the latest month only: PostgreSQL's foreign keys (not null, each to a dimension's
  primary key) already hold on every row, so only a wrong join in the view could lose or repeat lines,
  and a wrong join shows in any month. The filter on date_key reads one partition of fct_sales, where
  the whole table cost seconds at 10x history.
-#}
with

latest as (

    select max(date_key) / 100 * 100 as month_start
    from {{ source('analytics', 'fct_sales') }}

),

fact as (

    select
        count(*) as fact_lines,
        sum(sales.line_amount) as fact_amount
    from {{ source('analytics', 'fct_sales') }} as sales
    where sales.date_key >= (select latest.month_start from latest)

),

enriched as (

    select
        count(*) as view_lines,
        sum(sales_enriched.line_amount) as view_amount
    from {{ ref('sales_enriched') }} as sales_enriched
    where sales_enriched.date_key >= (select latest.month_start from latest)

)

select
    fact.fact_lines,
    enriched.view_lines,
    fact.fact_amount,
    enriched.view_amount
from fact
cross join enriched
where fact.fact_lines <> enriched.view_lines or fact.fact_amount <> enriched.view_amount
