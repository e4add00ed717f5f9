with

source as (

    select * from {{ source('retail', 'invoice_line_rejects') }}

),

renamed as (

    select
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        reason_code,
        raw_invoice_no,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_ts as raw_invoice_at,
        raw_unit_price,
        raw_customer_id,
        raw_country

    from source

)

select * from renamed
