{#- Aggregate valid answers into result cells for each federation and for the
    nation ('{{ var("nation_code") }}'), for women (K), men (M) and everyone (T). `keys` are the
    other columns of the grain. Respondents whose kön is blank or "annat eller
    vill ej uppge" count in T only. K and M cells with no respondents are added
    as zeros, so a missing row never tells anything. -#}
{% macro survey_cells(relation, federation_column, keys) %}
{%- set key_list = keys | join(', ') -%}
with aggregated as (
    select
        period,
        coalesce({{ federation_column }}, '{{ var("nation_code") }}') as federation_code,
        {{ key_list }},
        case when grouping(gender) = 1 then 'T' else gender end as gender,
        count(distinct respondent_id) as n,
        count(*) as valid_answers,
        count(*) filter (where is_positive) as positive_answers,
        sum(answer_value) as score_sum
    from {{ relation }}
    where is_valid_answer
    group by grouping sets (
        (period, {{ federation_column }}, {{ key_list }}, gender),
        (period, {{ federation_column }}, {{ key_list }}),
        (period, {{ key_list }}, gender),
        (period, {{ key_list }})
    )
    having grouping(gender) = 1 or gender in ('K', 'M')
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
    coalesce(aggregated.n, 0) as n,
    coalesce(aggregated.valid_answers, 0) as valid_answers,
    coalesce(aggregated.positive_answers, 0) as positive_answers,
    round(aggregated.score_sum / aggregated.valid_answers, 3) as mean_score,
    round(aggregated.positive_answers / aggregated.valid_answers, 4) as positive_share,
    round({{ wilson_low('aggregated.positive_answers', 'aggregated.valid_answers') }}, 4) as ci_low,
    round({{ wilson_high('aggregated.positive_answers', 'aggregated.valid_answers') }}, 4) as ci_high
from grid
left join aggregated
    on aggregated.period = grid.period
   and aggregated.federation_code = grid.federation_code
   {% for k in keys %}and aggregated.{{ k }} = grid.{{ k }}
   {% endfor %}and aggregated.gender = grid.gender
{% endmacro %}
