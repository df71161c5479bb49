{#- Support at start → support at end, nationally, by kön and cohort.
    'alla' is the total over starts or ends. -#}
select
    cohort_year,
    coalesce(gender, 'T') as gender,
    coalesce(support_at_start, 'alla') as support_at_start,
    coalesce(support_at_end, 'alla') as support_at_end,
    count(*) as participants
from {{ ref('int_register__participants') }}
where end_date is not null
group by grouping sets (
    (cohort_year, gender, support_at_start, support_at_end),
    (cohort_year, support_at_start, support_at_end),
    (cohort_year, gender, support_at_start),
    (cohort_year, support_at_start),
    (cohort_year, gender, support_at_end),
    (cohort_year, support_at_end),
    (cohort_year, gender),
    (cohort_year)
)
