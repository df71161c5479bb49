{#- For each federation × period × questionnaire, the latest accepted submission
    wins, separately for the questionnaire rows and for the collection counts
    (a CSV sender delivers those as separate files). Earlier submissions stay in
    the lake and the ledger but are superseded. -#}
with accepted as (
    select * from {{ ref('stg_ledger__submissions') }}
    where submission_source = 'survey'
        and status = 'accepted'
),

covered as (
    select
        submission_id,
        federation_code,
        period,
        received_at,
        ingested_at,
        file_name,
        'rows' as part,
        unnest(respondent_groups) as respondent_group
    from accepted
    union all
    select
        submission_id,
        federation_code,
        period,
        received_at,
        ingested_at,
        file_name,
        'counts' as part,
        unnest(collection_groups) as respondent_group
    from accepted
),

ranked as (
    select
        *,
        row_number() over (
            partition by federation_code, period, respondent_group, part
            order by {{ arrival_key() }} desc
        ) as version_rank,
        count(*) over (partition by federation_code, period, respondent_group, part) as versions_received
    from covered
)

select
    submission_id,
    federation_code,
    period,
    respondent_group,
    part,
    file_name,
    received_at,
    versions_received
from ranked
where version_rank = 1
