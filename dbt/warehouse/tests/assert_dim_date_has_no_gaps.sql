-- dim_date is a full calendar: one row per day between its first and last date, none missing.
select
    count(*) as day_count,
    min(calendar_date) as first_day,
    max(calendar_date) as last_day
from {{ ref('dim_date') }}
having
    count(*) <> date_diff('day', min(calendar_date), max(calendar_date)) + 1
    or month(min(calendar_date)) <> 1 or day(min(calendar_date)) <> 1
    or month(max(calendar_date)) <> 12 or day(max(calendar_date)) <> 31
