-- Every stock code that does not look like a product code (five digits, optional letters) has an
-- explicit row in the stock_code_classes seed, so no fee or adjustment passes as merchandise.
select stock_code_normalised, product_class
from {{ ref('int_stock_codes_classified') }}
where not regexp_full_match(stock_code_normalised, '[0-9]{5}[A-Z]*')
    and (product_class = 'unclassified' or class_version is null)
