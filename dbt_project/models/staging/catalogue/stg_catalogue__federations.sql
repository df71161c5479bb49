select
    federation_code,
    federation_name,
    lan,
    valid_from,
    valid_to,
    successor_code,
    change_note
from {{ ref('federations') }}
