{#- Aggregate valid answers into result cells for each federation and for the
    nation ('{{ var("nation_code") }}'), for women (K), men (M) and everyone (T). `keys` are the
    other columns of the grain. Respondents whose kön is blank or "annat eller
    vill ej uppge" count in T only. K and M cells with no respondents are added
    as zeros, so a missing row never tells anything; a cell where every answer
    is "Vet ej" (or blank) has its K/M/T rows with n = 0. The interval is Wilson
    with a design effect over respondents (docs/analysts.md, "The interval").
    For the Cell Key Method each count carries its cell key (the sum of its
    records' keys, modulo the key range: an answer has its questionnaire's key),
    and `answer_counts` lists the valid answers per scale value with theirs, from
    which publication derives the mean of perturbed counts. -#}
{% macro survey_cells(relation, federation_column, keys) %}
{%- set key_list = keys | join(', ') -%}
{%- set key_range = var('ckm_key_range') -%}
with per_respondent as (
    -- one row per respondent and cell: m = valid answers, y = positive ones (the cluster totals)
    select
        period,
        {{ federation_column }},
        {{ key_list }},
        gender,
        respondent_id,
        any_value(record_key) as record_key,
        count(*) filter (where is_valid_answer) as m,
        count(*) filter (where is_valid_answer and is_positive) as y,
        sum(answer_value) filter (where is_valid_answer) as score_sum
    from {{ relation }}
    group by all
),

per_value as (
    -- valid answers per cell and scale value, and their cell key
    select
        period,
        coalesce({{ federation_column }}, '{{ var("nation_code") }}') as federation_code,
        {{ key_list }},
        case when grouping(gender) = 1 then 'T' else gender end as gender,
        answer_value,
        count(*) as answers,
        cast(sum(record_key) % {{ key_range }} as integer) as answers_cell_key
    from {{ relation }}
    where is_valid_answer
    group by grouping sets (
        (period, {{ federation_column }}, {{ key_list }}, gender, answer_value),
        (period, {{ federation_column }}, {{ key_list }}, answer_value),
        (period, {{ key_list }}, gender, answer_value),
        (period, {{ key_list }}, answer_value)
    )
    having grouping(gender) = 1 or gender in ('K', 'M')
),

frequencies as (
    select
        period,
        federation_code,
        {{ key_list }},
        gender,
        list({'answer_value': answer_value, 'answers': answers, 'cell_key': answers_cell_key}
             order by answer_value) as answer_counts
    from per_value
    group by all
),

aggregated as (
    select
        period,
        coalesce({{ federation_column }}, '{{ var("nation_code") }}') as federation_code,
        {{ key_list }},
        case when grouping(gender) = 1 then 'T' else gender end as gender,
        count(distinct respondent_id) filter (where m > 0) as n,
        coalesce(sum(m), 0) as valid_answers,
        coalesce(sum(y), 0) as positive_answers,
        cast(coalesce(sum(record_key) filter (where m > 0), 0) % {{ key_range }} as integer) as n_cell_key,
        cast(coalesce(sum(m * record_key), 0) % {{ key_range }} as integer) as valid_answers_cell_key,
        cast(coalesce(sum(y * record_key), 0) % {{ key_range }} as integer) as positive_answers_cell_key,
        sum(score_sum) as score_sum,
        max(m) as max_answers,
        sum(y * y) as sum_y2,
        sum(y * m) as sum_ym,
        sum(m * m) as sum_m2
    from per_respondent
    group by grouping sets (
        (period, {{ federation_column }}, {{ key_list }}, gender),
        (period, {{ federation_column }}, {{ key_list }}),
        (period, {{ key_list }}, gender),
        (period, {{ key_list }})
    )
    having grouping(gender) = 1 or gender in ('K', 'M')
),

effective as (
    -- Wilson with the effective number of answers (Kish): n_eff = valid_answers / deff,
    -- deff = cluster-robust variance of the ratio (clusters = respondents) / binomial
    -- variance, at least 1. One answer per respondent: n_eff = valid_answers exactly.
    select
        *,
        case
            when valid_answers = 0 then null
            when max_answers = 1 then valid_answers::double
            when positive_answers = 0 or positive_answers = valid_answers then n::double
            else valid_answers / greatest(1.0,
                (sum_y2 - 2 * (positive_answers / valid_answers) * sum_ym
                 + (positive_answers / valid_answers) ^ 2 * sum_m2)
                / (valid_answers * (positive_answers / valid_answers) * (1 - positive_answers / valid_answers)))
        end as effective_answers
    from aggregated
),

grid as (
    select totals.period, totals.federation_code, {% for k in keys %}totals.{{ k }}, {% endfor %}genders.gender
    from aggregated as totals
    cross join (values ('K'), ('M'), ('T')) as genders(gender)
    where totals.gender = 'T'
)

select
    grid.period,
    grid.federation_code,
    {% for k in keys %}grid.{{ k }},
    {% endfor %}grid.gender,
    coalesce(effective.n, 0) as n,
    coalesce(effective.valid_answers, 0) as valid_answers,
    coalesce(effective.positive_answers, 0) as positive_answers,
    coalesce(effective.n_cell_key, 0) as n_cell_key,
    coalesce(effective.valid_answers_cell_key, 0) as valid_answers_cell_key,
    coalesce(effective.positive_answers_cell_key, 0) as positive_answers_cell_key,
    coalesce(frequencies.answer_counts, []) as answer_counts,
    {{ round_ratio('effective.score_sum', 'effective.valid_answers', 3) }} as mean_score,
    {{ round_ratio('effective.positive_answers', 'effective.valid_answers', 4) }} as positive_share,
    effective.effective_answers,
    {{ round_bound(wilson_low('effective.positive_answers * effective.effective_answers / effective.valid_answers', 'effective.effective_answers')) }} as ci_low,
    {{ round_bound(wilson_high('effective.positive_answers * effective.effective_answers / effective.valid_answers', 'effective.effective_answers')) }} as ci_high
from grid
left join effective
    on effective.period = grid.period
   and effective.federation_code = grid.federation_code
   {% for k in keys %}and effective.{{ k }} = grid.{{ k }}
   {% endfor %}and effective.gender = grid.gender
left join frequencies
    on frequencies.period = grid.period
   and frequencies.federation_code = grid.federation_code
   {% for k in keys %}and frequencies.{{ k }} = grid.{{ k }}
   {% endfor %}and frequencies.gender = grid.gender
{% endmacro %}
