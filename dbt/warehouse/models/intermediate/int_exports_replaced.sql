{#-
  The exports whose lines in fct_sales this build may change: the changed exports (added,
  re-exported or removed) and every export holding a line of a value group they touch (such a line
  may turn from kept to repeat or back: fct_sales replaces it, macros/replace_lines.sql). One row per
  export; the per-export partial aggregates (models/intermediate/partials/) replace exactly these
  exports' rows. It reads the index's value_hash, not the lines' fields.
-#}
with

-- Not materialized: DuckDB copies a CTE that is read twice, and a copy of the whole index spills
-- under the build's memory limit (int_value_groups at 10x: 1.1 s, against 0.1 s read in place).
index as not materialized (

    select * from {{ ref('int_invoice_line_index') }}

),

-- A full build does not read it.
touched as (  -- noqa: ST03

    select distinct value_hash
    from index
    where {{ is_changed_export('source_file') }}

),

sharing as (

    -- A full build: every export held.
    select distinct index.source_file
    from index
    where not index.is_stale
    {%- if not all_exports_changed() %}
        and index.value_hash in (select touched.value_hash from touched)
    {%- endif %}

),

changed as (

    {%- if all_exports_changed() or changed_exports() == '[]' %}
        select cast(null as varchar) as source_file
        where false
    {%- else %}
        select unnest({{ changed_exports() }}) as source_file
    {%- endif %}

),

final as (

    select source_file from sharing
    union
    select source_file from changed

)

select cast(source_file as varchar) as source_file from final
