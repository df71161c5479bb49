{#- For every month, the income extract that supersedes the others: the latest
    accepted extract whose coverage includes the month. -#}
with extracts as (
    select
        submission_id,
        cast(strptime(first_month, '%Y-%m') as date) as first_month,
        cast(strptime(extract_month, '%Y-%m') as date) as last_month,
        received_at,
        ingested_at
    from {{ ref('stg_ledger__submissions') }}
    where submission_source = 'register_income' and status = 'accepted'
),

months as (
    select
        submission_id,
        received_at,
        ingested_at,
        last_month,
        -- `month` is the income month's name throughout the register models, their unit tests and the lake schema
        cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month  -- noqa: RF04
    from extracts
)

select
    month,
    arg_max(submission_id, (last_month, {{ arrival_key() }})) as submission_id
from months
group by month
