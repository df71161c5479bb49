{#- Responses in long form: one row per returned questionnaire × question, from
    current submissions only, joined to the catalogue version valid in the period.
    Each answer carries its questionnaire's record key for the Cell Key Method. -#}
with respondents as (
    select * from {{ ref('int_survey__respondents') }}
),

record_keys as (
    select * from {{ ref('int_survey__record_keys') }}
),

answers as (
    select * from {{ ref('stg_survey__answers') }}
),

questions as (
    select * from {{ ref('stg_catalogue__questions') }}
),

scale_steps as (
    select * from {{ ref('stg_catalogue__answer_scales') }}
    where not is_missing
)

select
    r.period,
    r.federation_code,
    r.respondent_group,
    r.submission_id,
    r.respondent_id,
    r.answered_on,
    r.gender,
    r.age_group,
    r.insats,
    q.question_code,
    q.indicator_id,
    q.comparability_key,
    a.answer_value,
    a.answer_value is not null as is_valid_answer,
    coalesce(s.is_positive, false) as is_positive,
    cast(k.record_hash % {{ var('ckm_key_range') }} as integer) as record_key
from respondents as r
inner join record_keys as k
    on r.respondent_id = k.respondent_id
inner join answers as a
    on r.submission_id = a.submission_id
        and r.respondent_group = a.respondent_group
        and r.serial = a.serial
inner join questions as q
    on a.question_code = q.question_code
        and {{ valid_in('r.period', 'q.valid_from', 'q.valid_to') }}
left join scale_steps as s
    on q.scale_id = s.scale_id
        and a.answer_value = s.answer_value
