select
    indicator_id,
    title_sv as indicator_title,
    measured_by,
    valid_from,
    valid_to,
    text_status = 'officiell' as is_official_text
from {{ ref('indicators') }}
