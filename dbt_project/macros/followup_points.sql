{#- Indicator 11's follow-up points: every ended insats of a linkable participant
    × each of var('followup_months') (6, 12 and 24) months after the month it ended
    (docs/register_extracts.md §11).
    int_register__monthly_main_support computes the main support only for these
    person-months, and int_register__indicator11_followups classifies them: one
    home for which months are followed up; the publication, the audits and the
    reports read the points from the marts. -#}
{% macro followup_points(participants) -%}
    select
        participants.*,
        f.followup_months,
        (date_trunc('month', participants.end_date) + to_months(f.followup_months))::date as followup_month
    from {{ participants }} as participants
    cross join (values {% for months in var('followup_months') %}({{ months }}){{ ', ' if not loop.last }}{% endfor %}) as f (followup_months)
    where participants.is_linkable and participants.end_date is not null
{%- endmacro %}
