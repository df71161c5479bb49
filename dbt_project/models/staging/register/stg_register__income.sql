select
    submission_id,
    person_key,
    month,
    category,
    amount
from {{ source('register', 'income') }}
where {{ not_set_aside() }}
