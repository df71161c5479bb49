select
    indicator_id,
    indicator_title,
    is_official_text,
    measured_by,
    valid_from,
    valid_to
from {{ ref('stg_catalogue__indicators') }}
