{#-
  Fails the build when the stock codes (or the countries) no seed knows carry more than the allowed
  share of fct_sales lines or money, or when strict and there is any. Limits come from luigi.cfg
  [pipeline] unknown_* through PIPELINE_UNKNOWN_* env vars; by hand, with none set, nothing fails
  and assert_unknown_values_listed still warns. One row per unknown value of a kind over its limit.
-#}
with

unknown as (

    select * from {{ ref('unknown_reference_values') }}

),

limits as (

    select
        cast({{ run_env('PIPELINE_UNKNOWN_MAX_LINE_PERCENT', '100') }} as double) as max_line_percent,
        cast({{ run_env('PIPELINE_UNKNOWN_MAX_MONEY_PERCENT', '100') }} as double) as max_money_percent,
        cast({{ run_env('PIPELINE_UNKNOWN_STRICT', 'false') }} as boolean) as is_strict

),

per_kind as (

    select
        value_kind,
        sum(line_percent) as kind_line_percent,
        sum(money_percent) as kind_money_percent

    from unknown
    group by value_kind

),

final as (

    select
        unknown.value_kind,
        unknown.value,
        unknown.line_count,
        unknown.line_amount,
        round(per_kind.kind_line_percent, 4) as kind_line_percent,
        round(per_kind.kind_money_percent, 4) as kind_money_percent,
        limits.max_line_percent,
        limits.max_money_percent,
        limits.is_strict,
        unknown.seed_file

    from unknown
    inner join per_kind on unknown.value_kind = per_kind.value_kind
    cross join limits
    where
        limits.is_strict
        or per_kind.kind_line_percent > limits.max_line_percent
        or per_kind.kind_money_percent > limits.max_money_percent

)

select * from final
order by value_kind asc, line_count desc, value asc
