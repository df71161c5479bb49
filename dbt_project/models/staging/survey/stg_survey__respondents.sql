with source as (
    select * from {{ source('survey', 'respondents') }}
)

select
    submission_id,
    federation_code,
    period,
    respondent_group,
    serial,
    source_row,
    answered_on,
    gender,
    age_group,
    insats
from source
where {{ not_set_aside() }}
