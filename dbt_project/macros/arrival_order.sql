{# Which of two submissions arrived later: the time the product first saw the
   file, then when it was ingested, then the id. The same rule as Python's
   core.ledger.ARRIVAL_ORDER; tests/unit/test_rule_copies.py keeps the two equal. #}
{% macro arrival_key() -%}
    (received_at, ingested_at, submission_id)
{%- endmacro %}
