{# Wilson score interval for a proportion `successes / trials` at 95 % (z = 1.96).
   Null when there are no trials. #}
{% macro wilson_low(successes, trials, z=1.96) -%}
    case when {{ trials }} > 0 then
        ( ({{ successes }}::double / {{ trials }}) + {{ z }}^2 / (2 * {{ trials }})
          - {{ z }} * sqrt( ({{ successes }}::double / {{ trials }}) * (1 - {{ successes }}::double / {{ trials }}) / {{ trials }}
                            + {{ z }}^2 / (4 * {{ trials }}::double^2) ) )
        / (1 + {{ z }}^2 / {{ trials }})
    end
{%- endmacro %}

{% macro wilson_high(successes, trials, z=1.96) -%}
    case when {{ trials }} > 0 then
        ( ({{ successes }}::double / {{ trials }}) + {{ z }}^2 / (2 * {{ trials }})
          + {{ z }} * sqrt( ({{ successes }}::double / {{ trials }}) * (1 - {{ successes }}::double / {{ trials }}) / {{ trials }}
                            + {{ z }}^2 / (4 * {{ trials }}::double^2) ) )
        / (1 + {{ z }}^2 / {{ trials }})
    end
{%- endmacro %}
