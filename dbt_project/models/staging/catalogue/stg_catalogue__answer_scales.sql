select
    scale_id,
    answer_value,
    label_sv as answer_label,
    is_missing,
    is_positive
from {{ ref('answer_scales') }}
