{#- Returned questionnaires from current submissions, one row each. -#}
select
    r.period,
    r.federation_code,
    r.respondent_group,
    r.submission_id,
    r.serial,
    r.answered_on,
    r.gender,
    r.age_group,
    r.insats,
    r.submission_id || ':' || r.respondent_group || ':' || r.serial as respondent_id
from {{ ref('stg_survey__respondents') }} as r
inner join {{ ref('int_survey__current_submissions') }} as c
    on r.submission_id = c.submission_id
        and r.respondent_group = c.respondent_group
        and c.part = 'rows'
