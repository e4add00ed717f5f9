{#-
  Grain: one row per first-purchase month (cohort) and month offset (0 = the cohort month).
  A customer is active in a month when they have a sales line in it; guests are excluded.
-#}
with

sales as (

    -- The fact's per-export partial: one row per export, invoice, customer, country and day, with
    -- its month and how many of its lines are sales.
    select
        customer_key,
        invoice_month as activity_month

    from {{ ref('int_sales_by_invoice') }}
    where {{ is_known_customer() }} and sale_line_count > 0

),

cohorts as (

    select
        customer_key,
        min(activity_month) as cohort_month

    from sales
    group by customer_key

),

activity as (

    select distinct
        cohorts.cohort_month,
        sales.customer_key,
        date_diff('month', cohorts.cohort_month, sales.activity_month) as month_offset

    from sales
    inner join cohorts on sales.customer_key = cohorts.customer_key

),

sizes as (

    select
        cohort_month,
        count(*) as cohort_size

    from cohorts
    group by cohort_month

),

final as (

    select
        cast(activity.cohort_month as date) as cohort_month,
        activity.month_offset,
        sizes.cohort_size,
        count(*) as active_customers,
        round(count(*) / sizes.cohort_size, 4) as retention_rate

    from activity
    inner join sizes on activity.cohort_month = sizes.cohort_month
    group by activity.cohort_month, activity.month_offset, sizes.cohort_size

)

select * from final
