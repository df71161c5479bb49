{#- Indicator 11 per cohort (year the insats ended) × federation (RIKET for the
    nation) × kön × insats × support at start × follow-up. 'alla' is the total
    over insatser or supports. Only observed follow-up points are counted
    (n_observed); cohort_size counts every ended insats of the cell, observed or
    censored. A follow-up point is complete for a cohort when every insats of the
    cohort (nationally) is observed at it; only complete points are headlines
    (docs/register_extracts.md §11). -#}
with followups as (
    select * from {{ ref('int_register__indicator11_followups') }}
),

completeness as (
    select
        cohort_year,
        followup_months,
        bool_and(is_observed) as is_complete
    from followups
    group by cohort_year, followup_months
),

cells as (
    select
        cohort_year,
        followup_months,
        coalesce(federation_code, '{{ var("nation_code") }}') as federation_code,
        coalesce(gender, 'T') as gender,
        coalesce(insats, 'alla') as insats,
        coalesce(support_at_start, 'alla') as support_at_start,
        {{ count_with_cell_key('cohort_size') }},
        {{ count_with_cell_key('n_observed', 'is_observed') }},
        {{ count_with_cell_key('n_self_supporting', 'is_observed and is_self_supporting') }},
        {{ count_with_cell_key('n_sustainable', 'is_observed and is_sustainable') }}
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
    completeness.is_complete,
    cells.cohort_size,
    cells.n_observed,
    cells.n_self_supporting,
    {{ round_ratio('cells.n_self_supporting', 'cells.n_observed', 4) }} as share_self_supporting,
    cells.n_sustainable,
    {{ round_ratio('cells.n_sustainable', 'cells.n_observed', 4) }} as share_sustainable,
    {{ smallest_group(['cells.cohort_size', 'cells.cohort_size - cells.n_observed', 'cells.n_observed',
                       'cells.n_self_supporting', 'cells.n_observed - cells.n_self_supporting',
                       'cells.n_sustainable', 'cells.n_observed - cells.n_sustainable']) }} as disclosure_n,
    cells.cohort_size_cell_key,
    cells.n_observed_cell_key,
    cells.n_self_supporting_cell_key,
    cells.n_sustainable_cell_key
from cells
inner join names using (federation_code)
inner join completeness using (cohort_year, followup_months)
where cells.n_observed > 0
