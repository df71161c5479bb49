{# A mätperiod '2025/26' runs 1 November 2025 to 31 October 2026. #}
{% macro period_start(period_column) -%}
    make_date(cast(left({{ period_column }}, 4) as integer), 11, 1)
{%- endmacro %}

{% macro period_end(period_column) -%}
    make_date(cast(left({{ period_column }}, 4) as integer) + 1, 10, 31)
{%- endmacro %}

{# Is `period` inside a catalogue row's validity? Labels sort chronologically. #}
{% macro valid_in(period, valid_from, valid_to) -%}
    ({{ valid_from }} <= {{ period }} and ({{ valid_to }} is null or {{ period }} <= {{ valid_to }}))
{%- endmacro %}

{# The period before '2025/26': '2024/25'. #}
{% macro previous_period(period_column) -%}
    (cast(cast(left({{ period_column }}, 4) as integer) - 1 as varchar) || '/'
     || lpad(cast(cast(left({{ period_column }}, 4) as integer) % 100 as varchar), 2, '0'))
{%- endmacro %}
