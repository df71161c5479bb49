{#- Each federation's reporting federation today: follow successor links to the
    end, so the four Göteborg federations report as SF23 in a trend. -#}
with recursive federations as (
    select * from {{ ref('stg_catalogue__federations') }}
),

chain (federation_code, reporting_federation_code, depth) as (
    select
        federation_code,
        federation_code as reporting_federation_code,
        0
    from federations
    union all
    select
        chain.federation_code,
        f.successor_code,
        chain.depth + 1
    from chain
    inner join federations as f on chain.reporting_federation_code = f.federation_code
    where f.successor_code is not null and chain.depth < 10
),

deepest as (
    select
        federation_code,
        arg_max(reporting_federation_code, depth) as reporting_federation_code
    from chain
    group by federation_code
)

select
    federations.federation_code,
    deepest.reporting_federation_code
from federations
inner join deepest using (federation_code)
