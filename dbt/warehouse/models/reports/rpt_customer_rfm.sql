{#-
  Grain: one row per known customer (guests excluded). Recency is counted from the day after the last
  invoice in the data; frequency is distinct sales invoices; monetary is net revenue (sales,
  cancellations and other lines, without bad-debt adjustments). Scores are quintiles (5 = best) with
  customer_id breaking ties, so they are the same on every run.
-#}
with

sales as (

    -- The fact's per-export partial (one row per export, invoice, customer, country and day).
    select * from {{ ref('int_sales_by_invoice') }}
    where {{ is_known_customer() }}

),

reference as (

    select cast(max(last_invoice_at) as date) + 1 as reference_date from {{ ref('int_sales_by_invoice') }}

),

per_customer as (

    select
        sales.customer_key,
        date_diff(
            'day',
            cast(max(sales.last_sale_at) as date),
            any_value(reference.reference_date)
        ) as recency_days,
        count(distinct sales.invoice_no) filter (where sales.sale_line_count > 0) as frequency,
        sum(sales.net_revenue_amount) as monetary_amount

    from sales
    cross join reference
    group by sales.customer_key
    having sum(sales.sale_line_count) > 0

),

scored as (

    select
        *,
        ntile(5) over (order by recency_days desc, customer_key asc) as recency_score,
        ntile(5) over (order by frequency, customer_key) as frequency_score,
        ntile(5) over (order by monetary_amount, customer_key) as monetary_score

    from per_customer

),

final as (

    select
        customer_key,
        recency_days,
        frequency,
        monetary_amount,
        recency_score,
        frequency_score,
        monetary_score,
        cast(recency_score as varchar)
        || cast(frequency_score as varchar)
        || cast(monetary_score as varchar) as rfm_cell,
        case
            when recency_score >= 4 and frequency_score >= 4 then 'champions'
            when recency_score >= 3 and frequency_score >= 3 then 'loyal'
            when recency_score >= 4 and frequency_score <= 2 then 'new_or_promising'
            when recency_score <= 2 and frequency_score >= 3 then 'at_risk'
            when recency_score <= 2 and frequency_score <= 2 then 'hibernating'
            else 'needs_attention'
        end as rfm_segment

    from scored

)

select * from final
