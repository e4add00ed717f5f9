{#-
  The values of the two classifications. The product classes are listed once, as the project var
  product_classes (dbt_project.yml), which column docs can read too; the lists derived from it live
  here, for the accepted_values tests of the seed, dim_product and fct_sales.
-#}

{% macro product_classes() -%}
    {{ return(var('product_classes')) }}
{%- endmacro %}

{#- dim_product.product_class: a seed class, or unclassified when no seed row matches the code. -#}
{% macro product_classes_or_unclassified() -%}
    {{ return(product_classes() + ['unclassified']) }}
{%- endmacro %}

{#- fct_sales.line_type (int_invoice_lines_classified): the invoice prefix (A, C) first, then the
    stock code's class unless it is merchandise, then the sign of the quantity. -#}
{% macro line_types() -%}
    {%- set from_class = product_classes_or_unclassified() | reject('equalto', 'merchandise') | list -%}
    {{ return(['sale', 'cancellation', 'stock_adjustment'] + from_class) }}
{%- endmacro %}
