with

source as (

    {% if lake_files_are_empty('PIPELINE_LAKE_REJECT_FILES') -%}
    -- No lake file to read this build (it only removes exports): the lake's columns, no row.
        select
            cast(null as varchar) as source_file,
            cast(null as varchar) as source_sha256,
            cast(null as varchar) as source_sheet,
            cast(null as bigint) as source_row,
            cast(null as varchar) as reason_code,
            cast(null as bigint) as quantity,
            cast(null as decimal(18, 3)) as unit_price,
            cast(null as varchar) as raw_invoice_no,
            cast(null as varchar) as raw_stock_code,
            cast(null as varchar) as raw_description,
            cast(null as varchar) as raw_quantity,
            cast(null as varchar) as raw_invoice_ts,
            cast(null as varchar) as raw_unit_price,
            cast(null as varchar) as raw_customer_id,
            cast(null as varchar) as raw_country
        where false
    {%- elif run_env('PIPELINE_LAKE_REJECT_FILES', '') -%}
    -- The lake files the pipeline passes: those of the exports this build reads.
        select * from read_parquet({{ run_env('PIPELINE_LAKE_REJECT_FILES', '') }})
    {%- else -%}
    -- dbt by hand: every file of the lake (the source's location).
        select * from {{ source('retail', 'invoice_line_rejects') }}
    {%- endif %}

),

renamed as (

    select
        source_file,
        source_sha256,
        source_sheet,
        source_row,
        reason_code,
        -- Set when the conversion could type them (and their amount fits): the row's money.
        quantity,
        cast(unit_price as decimal(18, 3)) as unit_price,
        cast(quantity * unit_price as decimal(18, 3)) as line_amount,
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
