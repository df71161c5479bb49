{# Is `period` inside a catalogue row's validity? Labels sort chronologically. #}
{% macro valid_in(period, valid_from, valid_to) -%}
    ({{ valid_from }} <= {{ period }} and ({{ valid_to }} is null or {{ period }} <= {{ valid_to }}))
{%- endmacro %}

{# The period before '2025/26': '2024/25'. #}
{% macro previous_period(period_column) -%}
    (cast(cast(left({{ period_column }}, 4) as integer) - 1 as varchar) || '/'
     || lpad(cast(cast(left({{ period_column }}, 4) as integer) % 100 as varchar), 2, '0'))
{%- endmacro %}
