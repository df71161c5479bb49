{#- Participants × insats from the latest SUS extract (each extract is a full
    snapshot), without registration errors, each with its record key for the
    Cell Key Method (int_register__record_keys). -#}
with latest as (
    select submission_id
    from {{ ref('int_register__current_extracts') }}
    where submission_source = 'register_sus'
),

reasons as (
    select * from {{ ref('end_reasons') }}
),

record_keys as (
    select * from {{ ref('int_register__record_keys') }}
)

select
    p.person_key,
    p.is_linkable,
    p.gender,
    p.birth_year,
    p.federation_code,
    p.insats,
    p.start_date,
    p.end_date,
    p.support_at_start,
    p.support_at_end,
    p.years_public_support_before,
    p.end_reason,
    p.submission_id || ':' || p.source_row as participation_id,
    year(p.end_date) as cohort_year,
    date_diff('day', p.start_date, p.end_date) / 30.4375 as insats_months,
    coalesce(reasons.is_work_or_studies, false) as went_to_work_or_studies,
    record_keys.record_hash % {{ var('ckm_key_range') }} as record_key
from {{ ref('stg_register__participants') }} as p
inner join latest using (submission_id)
left join record_keys using (submission_id, source_row)
left join reasons using (end_reason)
where not coalesce(reasons.is_registration_error, false)
