select
    questions.question_code,
    questions.respondent_group,
    respondent_groups.respondent_group_name,
    questions.indicator_id,
    questions.question_text,
    questions.is_official_text,
    questions.scale_id,
    questions.comparability_key,
    questions.valid_from,
    questions.valid_to
from {{ ref('stg_catalogue__questions') }} as questions
inner join {{ ref('stg_catalogue__respondent_groups') }} as respondent_groups using (respondent_group)
