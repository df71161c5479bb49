select
    question_code,
    respondent_group,
    indicator_id,
    question_sv as question_text,
    scale_id,
    comparability_key,
    valid_from,
    valid_to,
    text_status = 'officiell' as is_official_text
from {{ ref('questions') }}
