{#- Support at start → support at end, nationally, by kön and cohort.
    'alla' is the total over starts or ends. -#}
select
    cohort_year,
    case when grouping(gender) = 1 then 'T' else gender end as gender,
    case when grouping(support_at_start) = 1 then 'alla' else support_at_start end as support_at_start,
    -- grouping(), not coalesce: an insats with no recorded end support must not land on the total row
    case when grouping(support_at_end) = 1 then 'alla' else coalesce(support_at_end, 'okänd') end as support_at_end,
    {{ count_with_cell_key('participants') }}
from {{ ref('int_register__participants') }}
where end_date is not null
-- sqlfluff's DuckDB dialect cannot parse GROUPING SETS (valid DuckDB): skip the parse error here only
group by grouping sets (  -- noqa: PRS
    (cohort_year, gender, support_at_start, support_at_end),
    (cohort_year, support_at_start, support_at_end),
    (cohort_year, gender, support_at_start),
    (cohort_year, support_at_start),
    (cohort_year, gender, support_at_end),
    (cohort_year, support_at_end),
    (cohort_year, gender),
    (cohort_year)
)
