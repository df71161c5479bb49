with source as (
    select * from {{ source('survey', 'collection') }}
)

select
    submission_id,
    federation_code,
    period,
    respondent_group,
    asked,
    answered
from source
where {{ not_set_aside() }}
