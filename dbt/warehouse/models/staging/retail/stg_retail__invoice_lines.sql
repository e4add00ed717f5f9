with

source as (

    select * from {{ source('retail', 'invoice_lines') }}

),

renamed as (

    select
        invoice_no,
        stock_code,
        upper(stock_code) as stock_code_normalised,
        description,
        quantity,
        invoice_ts as invoice_at,
        cast(invoice_ts as date) as invoice_date,
        cast(unit_price as decimal(18, 3)) as unit_price,
        cast(quantity * unit_price as decimal(18, 3)) as line_amount,
        customer_id,
        country as country_name,
        source_file,
        source_sha256,
        source_sheet,
        source_row

    from source

)

select * from renamed
