-- The money of the typed source lines equals fct_sales plus the quarantine, to the tenth of a penny.
with

totals as (

    select
        (
            select coalesce(sum(line_amount), 0) from {{ ref('int_invoice_line_index') }}
            where not is_stale
        ) as source_amount,
        (select coalesce(sum(line_amount), 0) from {{ ref('fct_sales') }}) as fact_amount,
        (select coalesce(sum(line_amount), 0) from {{ ref('rejected_invoice_lines') }}) as rejected_amount

)

select *
from totals
where source_amount <> fact_amount + rejected_amount
