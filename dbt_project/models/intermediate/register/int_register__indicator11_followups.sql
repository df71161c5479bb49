{#- Indicator 11 per ended insats and follow-up point (6, 12, 24 months after
    the end month). A point is observed only if the income data covers that
    month, on both sides: a follow-up month after the last covered month is
    right-censored, one before the first covered month is left-censored; neither
    is observed nor in that point's denominator. Sustainable = observed and
    self-supporting at every *observed* point up to and including this one, so a
    left-censored earlier point neither helps nor hurts (docs/register_extracts.md
    §11). -#}
with coverage as (
    select
        min(month) as first_month,
        max(month) as last_month
    from {{ ref('int_register__current_income_months') }}
),

points as (
    {{ followup_points(ref('int_register__participants')) }}
),

classified as (
    select
        points.*,
        -- no income data at all: nothing is observed
        coalesce(points.followup_month between coverage.first_month and coverage.last_month, false) as is_observed,
        coalesce(points.followup_month < coverage.first_month, false) as is_left_censored,
        coalesce(points.followup_month > coverage.last_month, false) as is_right_censored,
        coalesce(main_support.support_class, 'ingen') as support_class
    from points
    cross join coverage
    left join {{ ref('int_register__monthly_main_support') }} as main_support
        on points.person_key = main_support.person_key
            and points.followup_month = main_support.month
)

select
    participation_id,
    person_key,
    record_key,
    cohort_year,
    federation_code,
    gender,
    insats,
    support_at_start,
    followup_months,
    followup_month,
    is_observed,
    is_left_censored,
    is_right_censored,
    support_class,
    is_observed and support_class = 'egen' as is_self_supporting,
    -- bool_and ignores nulls: unobserved points do not take part
    is_observed and bool_and(case when is_observed then support_class = 'egen' end) over (
        partition by participation_id order by followup_months
        rows between unbounded preceding and current row
    ) as is_sustainable
from classified
