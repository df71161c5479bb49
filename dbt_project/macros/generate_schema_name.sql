{# Use the folder's schema as it is (staging, intermediate, marts, catalogue),
   not dbt's default "<target>_<custom>", so analysts see stable names. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
