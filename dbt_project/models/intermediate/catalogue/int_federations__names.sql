{#- Names for every federation code a mart can hold, including RIKET for the nation. -#}
select
    federation_code,
    federation_name
from {{ ref('stg_catalogue__federations') }}
union all
select
    '{{ var("nation_code") }}' as federation_code,
    'Riket' as federation_name
