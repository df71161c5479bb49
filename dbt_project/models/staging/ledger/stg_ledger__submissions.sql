{#- A submission an operator set aside (`nns quarantine`, core/set_aside.py) keeps its ledger
    record but gets the status 'set_aside' here, so no "current" model, which all take
    status = 'accepted', uses it. The set-aside folder is read only when it holds a record:
    DuckDB refuses a glob that matches no file. -#}
{%- set set_aside_source = source('ledger', 'set_aside') -%}
{%- set set_aside_glob = env_var('NNS_HOME') ~ '/lake/set_aside/*.json' -%}
{%- set ns = namespace(any_set_aside=false) -%}
{%- if execute -%}
    {%- set found = run_query("select count(*) from glob('" ~ set_aside_glob ~ "')") -%}
    {%- set ns.any_set_aside = found.columns[0].values()[0] > 0 -%}
{%- endif -%}

with source as (
    select * from {{ source('ledger', 'submissions') }}
),

set_aside as (
    {%- if ns.any_set_aside %}
        select
            submission_id,
            why as set_aside_why
        from {{ set_aside_source }}
        where state = 'set_aside'
    {%- else %}
        select
            cast(null as varchar) as submission_id,
            cast(null as varchar) as set_aside_why
        where false
    {%- endif %}
),

renamed as (
    select
        source.submission_id,
        source.source as submission_source,
        source.file_name,
        cast(source.received_at as timestamptz) as received_at,
        cast(source.ingested_at as timestamptz) as ingested_at,
        source.federation_code,
        source.period,
        source.format as file_format,
        source.respondent_groups,
        source.collection_groups,
        set_aside.set_aside_why,
        source.rows_ok,
        source.rows_total,
        source.errors,
        source.warnings,
        source.first_problem,
        source.archive_path,
        source.raw_path,
        source.quarantine_path,
        source.extract_month,
        source.first_month,
        case
            when set_aside.submission_id is not null then 'set_aside' else source.status
        end as status,
        set_aside.submission_id is not null as is_set_aside
    from source
    left join set_aside on source.submission_id = set_aside.submission_id
)

select * from renamed
