{#- A count and its cell key for the Cell Key Method (publication/ckm.py;
    docs/analysts.md, "The Cell Key Method"): the cell key is the sum of the
    record keys of the records counted, modulo the key range. One condition
    decides both, so a count and its key always describe the same records.
    Gives two columns: `name` and `name`_cell_key (never published). -#}
{% macro count_with_cell_key(name, condition=none) -%}
    {%- set only = " filter (where " ~ condition ~ ")" if condition else "" -%}
    count(*){{ only }} as {{ name }},
    cast(coalesce(sum(record_key){{ only }}, 0) % {{ var('ckm_key_range') }} as integer) as {{ name }}_cell_key
{%- endmacro %}
