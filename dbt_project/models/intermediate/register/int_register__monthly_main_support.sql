{#- Each linked person's main support in the months indicator 11 follows up (the
    follow-up points of the person's ended insatser, macro followup_points): the
    category with the largest amount (a tie goes to the lower tie_priority, i.e.
    public support), and its class: egen (earned income or studies), offentlig
    (public support), ovrig (parental benefit, pension: not public support).
    Other months are not computed: nothing reads them, and they are most of the
    income data. A follow-up month without any amount has no row here: "no
    recorded income". -#}
with current_months as (
    select * from {{ ref('int_register__current_income_months') }}
),

followup_person_months as (
    select distinct
        person_key,
        followup_month as month  -- noqa: RF04
    from ({{ followup_points(ref('int_register__participants')) }}) as points
),

income as (
    -- Amounts of one category in one month are added up before categories are compared.
    select
        i.person_key,
        i.month,
        i.category,
        sum(i.amount) as amount
    from {{ ref('stg_register__income') }} as i
    inner join current_months using (submission_id, month)
    inner join followup_person_months using (person_key, month)
    group by all
    having sum(i.amount) > 0
),

categories as (
    select * from {{ ref('support_categories') }}
)

select
    income.person_key,
    income.month,
    arg_max(income.category, income.amount * 100 - categories.tie_priority) as main_category,
    arg_max(categories.support_class, income.amount * 100 - categories.tie_priority) as support_class
from income
inner join categories using (category)
group by income.person_key, income.month
