{#- Landed rows of submissions an operator has not set aside (`nns quarantine`,
    core/set_aside.py). Every staging view of the lake filters with it, so a
    set-aside submission is invisible from staging up: to the models, to dbt's
    data tests on the staging views (a set-aside file that breaks one cannot
    block the build) and to the quality gate, which reads landed rows there. -#}
{% macro not_set_aside() -%}
    submission_id not in (
        select set_aside.submission_id from {{ ref('stg_ledger__submissions') }} as set_aside
        where set_aside.is_set_aside
    )
{%- endmacro %}
