{#- The smallest non-empty group of people a row tells about: a cell is as
    sensitive as its smallest count, including the complement (observed minus
    self-supporting). Used as the count that disclosure control protects. -#}
{% macro smallest_group(counts) -%}
    coalesce(nullif(least({% for c in counts %}case when {{ c }} > 0 then {{ c }} else 2147483647 end{% if not loop.last %}, {% endif %}{% endfor %}), 2147483647), 0)
{%- endmacro %}
