select
    respondent_group,
    sheet_name,
    name_sv as respondent_group_name,
    asks_age_group,
    asks_insats,
    valid_from,
    valid_to
from {{ ref('respondent_groups') }}
