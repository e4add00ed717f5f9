{#-
  What this build changes. The pipeline decides between a full refresh and an incremental build
  (pipeline/lib/warehouse.py, plan_build) and passes:
  - PIPELINE_BUILD_MODE: `full` (the default, and dbt by hand: every lake file read, every line
    replaced) or `incremental`. Models choose their SQL, and so their refs, by it: dbt reads it while
    it parses, and re-parses those models when it changes (a full build after incremental ones).
  - PIPELINE_CHANGED_EXPORTS, in an incremental build: the exports whose lines change (a DuckDB list
    literal of export file names, the lake's source_file: added, re-exported or removed since the
    warehouse was last built);
  - PIPELINE_LAKE_*_FILES: the lake files this build reads (of the added and re-exported exports).
  These and the other per-run values are read through run_env.
-#}

{#- A per-run value that a model's SQL reads but its refs never depend on. dbt re-parses every file
    that read an env var while parsing whenever that var's value changes, and the lists of files and
    exports change with every build (1.5-2.5 s of each build); so it is read only when dbt executes,
    and parsing sees the default. -#}
{% macro run_env(name, default) -%}
    {{ return((env_var(name, default) if execute else default) | trim) }}
{%- endmacro %}

{% macro all_exports_changed() -%}
    {{ return(env_var('PIPELINE_BUILD_MODE', 'full') | trim == 'full') }}
{%- endmacro %}

{% macro changed_exports() -%}
    {{ return(run_env('PIPELINE_CHANGED_EXPORTS', '[]')) }}
{%- endmacro %}

{#- True for a line of an export this build replaces (its old lines go, its new ones, if any, come). -#}
{% macro is_changed_export(source_file='source_file') -%}
    {%- if all_exports_changed() -%}
        true
    {%- elif changed_exports() == '[]' -%}
        false
    {%- else -%}
        {#- The list literal's items as an IN list: DuckDB filters a dictionary-encoded column by it
            without evaluating a function per row. -#}
        {{ source_file }} in ({{ changed_exports()[1:-1] }})
    {%- endif -%}
{%- endmacro %}

{#- True when this build reads no lake file of that kind (an incremental build that only removes
    exports): DuckDB cannot read an empty list of files, so staging selects no row instead. -#}
{% macro lake_files_are_empty(env_name) -%}
    {{ return(run_env(env_name, '') == '[]') }}
{%- endmacro %}

{#-
  A line's eight source fields as one 128-bit number: equal fields (nulls included), equal hash. The
  duplicate rule compares lines by it, so a persistent index of every line's place and hash
  (int_invoice_line_index) tells which value groups an export touches without reading the others'
  lines again. Two of DuckDB's hash() (the second salted) side by side: 128 bits make two different
  lines sharing a hash beyond reach (about 1e-25 for 10 million lines), at 0.3 s for 5.4 million
  lines where md5 took 20 s. hash() may change between DuckDB versions, so the DuckDB version is a
  setting that shapes the model (pipeline/lib/warehouse.py, model_settings): a new one rebuilds in full.
-#}
{% macro value_hash(relation='') -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {%- set fields -%}
        {{ prefix }}invoice_no, {{ prefix }}stock_code, {{ prefix }}description, {{ prefix }}quantity,
        {{ prefix }}invoice_at, {{ prefix }}unit_price, {{ prefix }}customer_id, {{ prefix }}country_name
    {%- endset -%}
    ((cast(hash({{ fields }}) as uhugeint) << 64) | cast(hash('value_hash', {{ fields }}) as uhugeint))
{%- endmacro %}
