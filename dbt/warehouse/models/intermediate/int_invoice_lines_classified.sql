{#-
  Every line, repeats flagged and kept, with its line_type. The invoice prefix decides first (A = bad-debt
  adjustment, C = cancellation), then the stock code's class (postage, fee, discount, ...), then the
  sign of the quantity (a negative quantity on an ordinary invoice is a stock adjustment).
-#}
with

lines as (

    select * from {{ ref('int_invoice_lines_duplicates_flagged') }}

),

stock_codes as (

    select * from {{ ref('int_stock_codes_classified') }}

),

final as (

    select
        lines.*,
        stock_codes.product_class,
        stock_codes.class_version,
        case
            when {{ is_bad_debt_adjustment_invoice('lines.invoice_no') }} then 'bad_debt_adjustment'
            when {{ is_cancellation_invoice('lines.invoice_no') }} then 'cancellation'
            when stock_codes.product_class <> 'merchandise' then stock_codes.product_class
            when lines.quantity < 0 then 'stock_adjustment'
            else 'sale'
        end as line_type

    from lines
    left join stock_codes on lines.stock_code_normalised = stock_codes.stock_code_normalised

)

select * from final
