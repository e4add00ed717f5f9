{#-
  fct_sales summed per export, invoice, customer, country and day: the compact input of
  int_customers_resolved, dim_date, unknown_reference_values (countries) and the customer and monthly
  reports (about one row per invoice and export instead of twenty lines). Guests are kept
  (customer_key -1). Maintained per export (macros/partials.sql).
-#}
-- depends_on: {{ ref('int_exports_replaced') }}
with

sales as (

    {{ replaced_partial_lines() }}

),

final as (

    select
        source_file,
        invoice_no,
        customer_key,
        country_key,
        date_key,
        cast(date_trunc('month', invoice_at) as date) as invoice_month,
        count(*) as line_count,
        min(invoice_at) as first_invoice_at,
        max(invoice_at) as last_invoice_at,
        sum(line_amount) as line_amount,
        sum(abs(line_amount)) as absolute_amount,
        count(*) filter (where line_type = 'sale') as sale_line_count,
        max(invoice_at) filter (where line_type = 'sale') as last_sale_at,
        sum(quantity) filter (where line_type = 'sale') as sale_quantity,
        sum(line_amount) filter (where line_type = 'sale') as sale_amount,
        sum(line_amount) filter (where line_type = 'cancellation') as cancelled_amount,
        sum(line_amount) filter (
            where line_type not in ('sale', 'cancellation') and {{ is_net_revenue_line() }}
        ) as other_amount,
        sum(line_amount) filter (where {{ is_net_revenue_line() }}) as net_revenue_amount

    from sales
    group by source_file, invoice_no, customer_key, country_key, date_key, invoice_month

)

select * from final
