{#- The one rounding rule of the publication (docs/analysts.md, "Rounding"):
    half up (ties away from zero; every published value is >= 0). -#}

{#- A ratio of two non-negative integers rounded half up to `decimals`, exactly
    (integer arithmetic, so a tie such as 7/160 = 0.04375 -> 0.0438 is never lost
    to binary floating point). Null when the denominator is 0. -#}
{% macro round_ratio(numerator, denominator, decimals) -%}
    case when {{ denominator }} > 0 then
        ((2 * {{ 10 ** decimals }} * ({{ numerator }})::hugeint + ({{ denominator }})::hugeint)
         // (2 * ({{ denominator }})::hugeint))::double / {{ 10 ** decimals }}
    end
{%- endmacro %}

{#- An interval bound (irrational, so never an exact tie) rounded half away from
    zero to `decimals`; + 0.0 turns a bound of -0.0 (Wilson at a share of 0) into 0.0. -#}
{% macro round_bound(value, decimals=4) -%}
    (round({{ value }}, {{ decimals }}) + 0.0)
{%- endmacro %}
