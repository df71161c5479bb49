{#- Trends per comparable question series: one series per comparability key,
    so a revised question starts a new series and an added question starts its
    own. Federations report as their successor today (the Göteborg merger), so
    SF23's series runs back through its four predecessors. -#}
with responses as (
    select
        responses.*,
        lineage.reporting_federation_code
    from {{ ref('int_survey__responses') }} as responses
    inner join {{ ref('int_federations__lineage') }} as lineage using (federation_code)
),

-- survey_cells groups by GROUPING SETS, which sqlfluff's DuckDB dialect cannot parse (valid DuckDB)
-- noqa: disable=PRS
cells as (
    {{ survey_cells('responses', 'reporting_federation_code',
                    ['respondent_group', 'indicator_id', 'comparability_key', 'question_code']) }}
),
-- noqa: enable=PRS

series as (
    select
        comparability_key,
        min(period) as series_first_period,
        max(period) as series_last_period
    from cells
    group by comparability_key
),

names as (
    select * from {{ ref('int_federations__names') }}
)

select
    cells.period,
    cells.federation_code,
    names.federation_name,
    cells.respondent_group,
    cells.indicator_id,
    cells.comparability_key,
    cells.question_code,
    series.series_first_period,
    series.series_last_period,
    cells.gender,
    cells.n,
    cells.valid_answers,
    cells.positive_answers,
    cells.mean_score,
    cells.positive_share,
    cells.ci_low,
    cells.ci_high,
    cells.effective_answers,
    cells.n_cell_key,
    cells.valid_answers_cell_key,
    cells.positive_answers_cell_key,
    cells.answer_counts
from cells
inner join series using (comparability_key)
inner join names using (federation_code)
