select
    indicator_id,
    title_sv as indicator_title,
    text_status = 'officiell' as is_official_text,
    measured_by,
    valid_from,
    valid_to
from {{ ref('indicators') }}
