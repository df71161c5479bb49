with source as (
    select * from {{ source('survey', 'answers') }}
)

select
    submission_id,
    respondent_group,
    serial,
    question_code,
    cast(answer_value as integer) as answer_value
from source
where {{ not_set_aside() }}
