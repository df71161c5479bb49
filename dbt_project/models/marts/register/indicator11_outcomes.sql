{#- Indicator 11 per cohort (year the insats ended) × federation (RIKET for the
    nation) × kön × insats × support at start × follow-up. 'alla' is the total
    over insatser or supports. Only observed follow-up points are counted. -#}
with followups as (
    select * from {{ ref('int_register__indicator11_followups') }}
    where is_observed
),

cells as (
    select
        cohort_year,
        followup_months,
        coalesce(federation_code, '{{ var("nation_code") }}') as federation_code,
        coalesce(gender, 'T') as gender,
        coalesce(insats, 'alla') as insats,
        coalesce(support_at_start, 'alla') as support_at_start,
        count(*) as n_observed,
        count(*) filter (where is_self_supporting) as n_self_supporting,
        count(*) filter (where is_sustainable) as n_sustainable
    from followups
    -- sqlfluff's DuckDB dialect cannot parse GROUPING SETS (valid DuckDB): skip the parse error here only
    group by grouping sets (  -- noqa: PRS
        (cohort_year, followup_months, federation_code, gender, insats),
        (cohort_year, followup_months, federation_code, insats),
        (cohort_year, followup_months, federation_code, gender, support_at_start),
        (cohort_year, followup_months, federation_code, support_at_start),
        (cohort_year, followup_months, federation_code, gender),
        (cohort_year, followup_months, federation_code),
        (cohort_year, followup_months, gender, insats),
        (cohort_year, followup_months, insats),
        (cohort_year, followup_months, gender, support_at_start),
        (cohort_year, followup_months, support_at_start),
        (cohort_year, followup_months, gender),
        (cohort_year, followup_months)
    )
),

names as (
    select * from {{ ref('int_federations__names') }}
)

select
    cells.cohort_year,
    cells.federation_code,
    names.federation_name,
    cells.gender,
    cells.insats,
    cells.support_at_start,
    cells.followup_months,
    cells.n_observed,
    cells.n_self_supporting,
    round(cells.n_self_supporting / cells.n_observed, 4) as share_self_supporting,
    cells.n_sustainable,
    round(cells.n_sustainable / cells.n_observed, 4) as share_sustainable,
    {{ smallest_group(['cells.n_observed', 'cells.n_self_supporting', 'cells.n_observed - cells.n_self_supporting',
                       'cells.n_sustainable', 'cells.n_observed - cells.n_sustainable']) }} as disclosure_n
from cells
inner join names using (federation_code)
