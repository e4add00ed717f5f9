with

source as (

    {% if lake_files_are_empty('PIPELINE_LAKE_LINE_FILES') -%}
    -- No lake file to read this build (it only removes exports): the lake's columns, no row.
        select
            cast(null as varchar) as invoice_no,
            cast(null as varchar) as stock_code,
            cast(null as varchar) as description,
            cast(null as bigint) as quantity,
            cast(null as timestamp) as invoice_ts,
            cast(null as decimal(18, 3)) as unit_price,
            cast(null as bigint) as customer_id,
            cast(null as varchar) as country,
            cast(null as varchar) as source_file,
            cast(null as varchar) as source_sha256,
            cast(null as varchar) as source_sheet,
            cast(null as bigint) as source_row
        where false
    {%- elif run_env('PIPELINE_LAKE_LINE_FILES', '') -%}
    -- The lake files the pipeline passes: those of the exports this build reads.
        select * from read_parquet({{ run_env('PIPELINE_LAKE_LINE_FILES', '') }}, hive_partitioning = true)
    {%- else -%}
    -- dbt by hand: every file of the lake (the source's location).
        select * from {{ source('retail', 'invoice_lines') }}
    {%- endif %}

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
