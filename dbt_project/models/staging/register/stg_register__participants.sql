select
    submission_id,
    source_row,
    person_key,
    is_linkable,
    gender,
    birth_year,
    federation_code,
    insats,
    start_date,
    end_date,
    support_at_start,
    support_at_end,
    years_public_support_before,
    end_reason
from {{ source('register', 'participants') }}
where {{ not_set_aside() }}
