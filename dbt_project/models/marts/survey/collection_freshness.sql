{#- Freshness of the collection: in the current collection window (or the latest
    one that has opened), has each taking-part federation sent anything yet?
    A federation that submitted last period but nothing in this window is
    'saknas' (dbt warns, nns status shows it). "Today" is NNS_AS_OF when set
    (the demo and tests replay a past night), else the current date. -#}
with as_of as (
    select
        coalesce(
            try_cast(nullif('{{ env_var("NNS_AS_OF", "") }}', '') as date), current_date
        )
            as today
),

current_window as (
    select windows.*
    from {{ ref('stg_catalogue__collection_windows') }} as windows
    cross join as_of
    where windows.opens_on <= as_of.today
    order by windows.opens_on desc
    limit 1
),

submissions as (
    select
        federation_code,
        period,
        received_at
    from {{ ref('stg_ledger__submissions') }}
    where submission_source = 'survey' and federation_code is not null
),

federations as (
    select
        current_window.*,
        federations.federation_code,
        federations.federation_name
    from {{ ref('dim_federations') }} as federations
    cross join current_window
    where {{ valid_in('current_window.period', 'federations.valid_from', 'federations.valid_to') }}
),

status as (
    select
        federations.period,
        federations.window_name,
        cast(federations.opens_on as date) as opens_on,
        cast(federations.closes_on as date) as closes_on,
        federations.federation_code,
        federations.federation_name,
        exists(
            select 1 from submissions
            where submissions.federation_code = federations.federation_code
                and submissions.period = {{ previous_period('federations.period') }}
        ) as submitted_previous_period,
        (
            select max(submissions.received_at) from submissions
            where submissions.federation_code = federations.federation_code
                and submissions.period = federations.period
                and submissions.received_at >= federations.opens_on
                and cast(submissions.received_at as date) <= as_of.today
        ) as received_in_window_at
    from federations
    cross join as_of
)

select
    period,
    window_name,
    opens_on,
    closes_on,
    federation_code,
    federation_name,
    submitted_previous_period,
    received_in_window_at,
    case
        when received_in_window_at is not null then 'inkommen'
        when submitted_previous_period then 'saknas'
        else 'ej inkommen'
    end as freshness_status
from status
