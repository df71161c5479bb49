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
),

first_not_self_supporting as (
    -- Each insats's first observed point without self-support (none: no row). Unobserved points
    -- do not take part. (A group and a join: a window over the wide rows took several times longer.)
    select
        participation_id,
        min(followup_months) as followup_months
    from classified
    where is_observed and support_class != 'egen'
    group by participation_id
)

select
    classified.participation_id,
    classified.person_key,
    classified.record_key,
    classified.cohort_year,
    classified.federation_code,
    classified.gender,
    classified.insats,
    classified.support_at_start,
    classified.followup_months,
    classified.followup_month,
    classified.is_observed,
    classified.is_left_censored,
    classified.is_right_censored,
    classified.support_class,
    classified.is_observed and classified.support_class = 'egen' as is_self_supporting,
    -- self-supporting here and at every earlier observed point: no observed point up to this one without
    classified.is_observed and classified.support_class = 'egen'
    and coalesce(classified.followup_months < first_not_self_supporting.followup_months, true) as is_sustainable
from classified
left join first_not_self_supporting
    on classified.participation_id = first_not_self_supporting.participation_id
