{#- Indicator 11's follow-up points: every ended insats of a linkable participant
    × 6, 12 and 24 months after the month it ended (docs/register_extracts.md §11).
    int_register__monthly_main_support computes the main support only for these
    person-months, and int_register__indicator11_followups classifies them: one
    home for which months are followed up. -#}
{% macro followup_points(participants) -%}
    select
        participants.*,
        f.followup_months,
        (date_trunc('month', participants.end_date) + to_months(f.followup_months))::date as followup_month
    from {{ participants }} as participants
    cross join (values (6), (12), (24)) as f (followup_months)
    where participants.is_linkable and participants.end_date is not null
{%- endmacro %}
