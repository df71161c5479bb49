{#- Indicator results per period × federation (and RIKET) × questionnaire ×
    indicator × kön, pooled over the indicator's questions in that
    questionnaire. Unprotected: publication applies disclosure control. -#}
-- survey_cells groups by GROUPING SETS, which sqlfluff's DuckDB dialect cannot parse (valid DuckDB)
-- noqa: disable=PRS
with cells as (
    {{ survey_cells(ref('int_survey__responses'), 'federation_code', ['respondent_group', 'indicator_id']) }}
),
-- noqa: enable=PRS

national as (
    select
        period,
        respondent_group,
        indicator_id,
        gender,
        positive_share as national_positive_share,
        mean_score as national_mean_score
    from cells
    where federation_code = '{{ var("nation_code") }}'
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
    cells.answer_counts,
    national.national_positive_share,
    national.national_mean_score
from cells
inner join names using (federation_code)
left join national using (period, respondent_group, indicator_id, gender)
