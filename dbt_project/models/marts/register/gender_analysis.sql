{#- The gender analysis ("Kön spelar roll") per cohort × federation × insats ×
    kön: how many, how long the insats, how many went on to work or studies,
    and years in public support before the start. All participants count,
    anonymous ones included (nothing here needs linking). -#}
with participants as (
    select * from {{ ref('int_register__participants') }}
    where end_date is not null
),

cells as (
    select
        cohort_year,
        coalesce(federation_code, '{{ var("nation_code") }}') as federation_code,
        coalesce(insats, 'alla') as insats,
        coalesce(gender, 'T') as gender,
        {{ count_with_cell_key('participants') }},
        round(avg(insats_months), 1) as mean_insats_months,
        {{ count_with_cell_key('n_work_or_studies', 'went_to_work_or_studies') }},
        {{ round_ratio('sum(years_public_support_before)', 'count(years_public_support_before)', 1) }}
            as mean_years_public_support_before
    from participants
    -- sqlfluff's DuckDB dialect cannot parse GROUPING SETS (valid DuckDB): skip the parse error here only
    group by grouping sets (  -- noqa: PRS
        (cohort_year, federation_code, insats, gender),
        (cohort_year, federation_code, insats),
        (cohort_year, federation_code, gender),
        (cohort_year, federation_code),
        (cohort_year, insats, gender),
        (cohort_year, insats),
        (cohort_year, gender),
        (cohort_year)
    )
),

names as (
    select * from {{ ref('int_federations__names') }}
)

select
    cells.cohort_year,
    cells.federation_code,
    names.federation_name,
    cells.insats,
    cells.gender,
    cells.participants,
    cells.mean_insats_months,
    cells.n_work_or_studies,
    {{ round_ratio('cells.n_work_or_studies', 'cells.participants', 4) }} as share_work_or_studies,
    cells.mean_years_public_support_before,
    {{ smallest_group(['cells.participants', 'cells.n_work_or_studies',
                       'cells.participants - cells.n_work_or_studies']) }} as disclosure_n,
    cells.participants_cell_key,
    cells.n_work_or_studies_cell_key
from cells
inner join names using (federation_code)
