{#-
  Business rules that several models apply, each written once here so that the models cannot drift
  apart. Each returns a SQL expression; the argument names the column where it is not the default.
-#}

{#- The customer key of the unknown/guest member of dim_customer: every line without a customer id. -#}
{% macro guest_customer_key() -%}
    -1
{%- endmacro %}

{#- A line of a known customer (guests have no customer id, so they cannot be followed over time). -#}
{% macro is_known_customer(customer_key='customer_key') -%}
    ({{ customer_key }} <> {{ guest_customer_key() }})
{%- endmacro %}

{#- A line that counts toward net revenue: every line type except bad-debt adjustments, which are
    accounting entries (A... invoices), not trade. -#}
{% macro is_net_revenue_line(line_type='line_type') -%}
    ({{ line_type }} <> 'bad_debt_adjustment')
{%- endmacro %}

{#- The invoice number says what an invoice is: C... cancels an earlier one, A... adjusts bad debt. -#}
{% macro is_cancellation_invoice(invoice_no='invoice_no') -%}
    ({{ invoice_no }} like 'C%')
{%- endmacro %}

{% macro is_bad_debt_adjustment_invoice(invoice_no='invoice_no') -%}
    ({{ invoice_no }} like 'A%')
{%- endmacro %}

{#- Which line of a group of equal lines is kept: the first in (file, sheet, row) order. The columns a
    model numbers its lines with, over a window named same_values that partitions by the values. -#}
{% macro occurrence_in_source_order() -%}
row_number() over same_values as occurrence,
first_value(source_file) over same_values as first_source_file,
first_value(source_sheet) over same_values as first_source_sheet,
first_value(source_row) over same_values as first_source_row,
lag(source_file) over same_values as previous_source_file,
lag(source_sheet) over same_values as previous_source_sheet
{%- endmacro %}
