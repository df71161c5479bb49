select
    period,
    "window" as window_name,
    opens_on,
    closes_on
from {{ ref('collection_calendar') }}
