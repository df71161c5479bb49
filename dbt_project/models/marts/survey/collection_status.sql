{#- Collection status per period × federation × questionnaire: what the
    federation says it asked and got back, what we received, and when; plus the
    national sums (federation_code RIKET). -#}
with current_submissions as (
    select * from {{ ref('int_survey__current_submissions') }}
),

keys as (
    select
        period,
        federation_code,
        respondent_group,
        max(received_at) as last_submission_at,
        max(versions_received) as versions_received
    from current_submissions
    group by all
),

counts as (
    select
        c.period,
        c.federation_code,
        c.respondent_group,
        c.asked,
        c.answered
    from {{ ref('stg_survey__collection_counts') }} as c
    inner join current_submissions as s
        on c.submission_id = s.submission_id
            and c.respondent_group = s.respondent_group
            and s.part = 'counts'
),

received as (
    -- the questionnaires received, and their cell key for the Cell Key Method
    select
        r.period,
        r.federation_code,
        r.respondent_group,
        count(*) as rows_received,
        cast(sum(k.record_hash % {{ var('ckm_key_range') }}) % {{ var('ckm_key_range') }} as integer)
            as rows_received_cell_key
    from {{ ref('int_survey__respondents') }} as r
    inner join {{ ref('int_survey__record_keys') }} as k on r.respondent_id = k.respondent_id
    group by all
),

federations as (
    select * from {{ ref('stg_catalogue__federations') }}
),

by_federation as (
    select
        keys.period,
        keys.federation_code,
        federations.federation_name,
        keys.respondent_group,
        counts.asked,
        counts.answered,
        coalesce(received.rows_received, 0) as rows_received,
        coalesce(received.rows_received_cell_key, 0) as rows_received_cell_key,
        {{ round_ratio('counts.answered', 'counts.asked', 4) }} as response_rate,
        keys.last_submission_at,
        keys.versions_received,
        -- the people behind the row: questionnaires received, and those the federation says answered
        {{ smallest_group(['coalesce(received.rows_received, 0)', 'coalesce(counts.answered, 0)']) }} as disclosure_n
    from keys
    left join counts using (period, federation_code, respondent_group)
    left join received using (period, federation_code, respondent_group)
    left join federations using (federation_code)
),

national as (
    select
        period,
        '{{ var("nation_code") }}' as federation_code,
        'Riket' as federation_name,
        respondent_group,
        sum(asked) as asked,
        sum(answered) as answered,
        sum(rows_received) as rows_received,
        cast(sum(rows_received_cell_key) % {{ var('ckm_key_range') }} as integer) as rows_received_cell_key,
        {{ round_ratio('sum(answered)', 'sum(asked)', 4) }} as response_rate,
        max(last_submission_at) as last_submission_at,
        null as versions_received,
        {{ smallest_group(['sum(rows_received)', 'coalesce(sum(answered), 0)']) }} as disclosure_n
    from by_federation
    group by all
)

select * from by_federation
union all by name
select * from national
