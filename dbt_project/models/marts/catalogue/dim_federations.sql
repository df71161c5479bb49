with federations as (
    select * from {{ ref('stg_catalogue__federations') }}
),

lineage as (
    select * from {{ ref('int_federations__lineage') }}
),

predecessors as (
    select
        successor_code as federation_code,
        list(federation_code order by federation_code) as predecessor_codes
    from federations
    where successor_code is not null
    group by successor_code
)

select
    federations.federation_code,
    federations.federation_name,
    federations.lan,
    federations.valid_from,
    federations.valid_to,
    federations.successor_code,
    lineage.reporting_federation_code,
    federations.change_note,
    coalesce(predecessors.predecessor_codes, []) as predecessor_codes
from federations
inner join lineage using (federation_code)
left join predecessors using (federation_code)
