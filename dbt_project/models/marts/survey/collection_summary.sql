{#- The figures the national report opens with, per period and questionnaire:
    federations taking part, questionnaires received, asked, answered. -#}
with status as (
    select * from {{ ref('collection_status') }}
),

federations as (
    select
        period,
        respondent_group,
        count(*) filter (where rows_received > 0) as federations
    from status
    where federation_code <> '{{ var("nation_code") }}'
    group by all
),

per_period as (
    select
        period,
        count(distinct federation_code) as federations_in_period
    from status
    where federation_code <> '{{ var("nation_code") }}' and rows_received > 0
    group by period
)

select
    status.period,
    status.respondent_group,
    federations.federations,
    per_period.federations_in_period,
    status.rows_received as questionnaires,
    status.rows_received_cell_key as questionnaires_cell_key,
    status.asked,
    status.answered,
    status.response_rate,
    -- the people behind the national row: its questionnaires, and those the federations say answered
    status.disclosure_n
from status
inner join federations using (period, respondent_group)
inner join per_period using (period)
where status.federation_code = '{{ var("nation_code") }}'
