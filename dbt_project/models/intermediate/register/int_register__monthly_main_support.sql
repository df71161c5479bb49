{#- Each linked person's main support per month: the category with the largest
    amount (a tie goes to the lower tie_priority, i.e. public support), and its
    class: egen (earned income or studies), offentlig (public support), ovrig
    (parental benefit, pension: not public support). Months without any amount
    have no row here: "no recorded income". -#}
with current_months as (
    select * from {{ ref('int_register__current_income_months') }}
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
