{#- The register extracts a build uses: the latest SUS extract (each is a full
    snapshot), and every income extract that is current for at least one month. -#}
with latest_sus as (
    select arg_max(submission_id, (extract_month, {{ arrival_key() }})) as submission_id
    from {{ ref('stg_ledger__submissions') }}
    where submission_source = 'register_sus' and status = 'accepted'
)

select
    submission_id,
    'register_sus' as submission_source
from latest_sus
where submission_id is not null
union all
select distinct
    submission_id,
    'register_income' as submission_source
from {{ ref('int_register__current_income_months') }}
