{#- A gap-free calendar from 1 January of the first invoice's year to 31 December of the last's. -#}
with

bounds as (

    select
        make_date(year(min(first_invoice_at)), 1, 1) as first_day,
        make_date(year(max(last_invoice_at)), 12, 31) as last_day

    -- Every line shares its date with a line of the fact (a repeat has the same fields as the one kept);
    -- the fact's per-export partial holds its first and last times.
    from {{ ref('int_sales_by_invoice') }}

),

days as (

    select cast(series.calendar_day as date) as calendar_date
    from bounds
    cross join generate_series(bounds.first_day, bounds.last_day, interval 1 day) as series (calendar_day)

),

final as (

    select
        cast(strftime(calendar_date, '%Y%m%d') as integer) as date_key,
        calendar_date,
        cast(year(calendar_date) as integer) as calendar_year,
        cast(quarter(calendar_date) as integer) as calendar_quarter,
        cast(month(calendar_date) as integer) as calendar_month,
        strftime(calendar_date, '%B') as month_name,
        strftime(calendar_date, '%Y-%m') as year_month,
        cast(day(calendar_date) as integer) as day_of_month,
        cast(isodow(calendar_date) as integer) as iso_day_of_week,
        strftime(calendar_date, '%A') as day_name,
        cast(weekofyear(calendar_date) as integer) as iso_week,
        isodow(calendar_date) in (6, 7) as is_weekend

    from days

)

select * from final
