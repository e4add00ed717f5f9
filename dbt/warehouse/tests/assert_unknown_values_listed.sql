{#-
  Warns about every stock code and country that no seed knows, with its lines, money and the seed
  file to extend. dbt itself only says "Got N results"; the pipeline prints these rows (see
  pipeline/lib/dbt.py, rows_of_failing_tests). assert_unknown_values_within_limits turns it into a failure.
-#}
{{ config(severity='warn') }}

select
    value_kind,
    value,
    line_count,
    line_amount,
    round(line_percent, 4) as line_percent,
    round(money_percent, 4) as money_percent,
    seed_file

from {{ ref('unknown_reference_values') }}
order by value_kind asc, line_count desc, value asc
