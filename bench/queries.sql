-- Five typical analyst queries on publish/marts.duckdb (from docs/analysts.md,
-- section 5). Each starts with a "-- query: name" line; bench/run.py times each
-- on a read-only connection and reports the median.

-- query: federation_against_nation (example 1)
select f.period, f.federation_name, f.status, f.n, f.positive_share, f.ci_low, f.ci_high,
       nat.n as riket_n, nat.positive_share as riket_positive_share, nat.ci_low as riket_ci_low,
       nat.ci_high as riket_ci_high, nat.federations_mean_share as federations_mean_share,
       round(f.positive_share - nat.positive_share, 4) as difference
from indicator_results as f
join indicator_results as nat using (period, respondent_group, indicator_id, gender)
where f.federation_code = 'SF07' and nat.federation_code = 'RIKET' and f.respondent_group = 'deltagare'
  and f.indicator_id = 4 and f.gender = 'K' and f.period = (select max(period) from indicator_results);

-- query: national_trend (example 2)
select period, respondent_group, n, positive_share, ci_low, ci_high, mean_score
from indicator_results
where indicator_id = 16 and federation_code = 'RIKET' and gender = 'T'
order by respondent_group, period;

-- query: spread_across_federations (example 4)
with latest as (
    select * from indicator_results
    where period = (select max(period) from indicator_results) and gender = 'T'
),
spread as (
    select respondent_group, indicator_id,
           count(*) filter (where status = 'ok' and n > 0) as federations_shown,
           count(*) filter (where status = '..') as federations_hidden,
           min(positive_share) as lowest,
           round(quantile_cont(positive_share, 0.25), 4) as q1,
           round(median(positive_share), 4) as median,
           round(quantile_cont(positive_share, 0.75), 4) as q3,
           max(positive_share) as highest
    from latest
    where federation_code <> 'RIKET'
    group by respondent_group, indicator_id
)
select spread.*, riket.positive_share as riket, riket.federations_mean_share as federations_mean_share
from spread
join latest as riket using (respondent_group, indicator_id)
where riket.federation_code = 'RIKET'
order by indicator_id, respondent_group;

-- query: every_federation_against_nation (example 10)
select f.federation_code, f.federation_name, f.status, f.n, f.positive_share, f.national_positive_share,
       case when f.status = '..' then '..'
            when f.ci_low > f.national_positive_share then 'above'
            when f.ci_high < f.national_positive_share then 'below'
            else 'no clear difference' end as against_riket
from indicator_results as f
where f.federation_code <> 'RIKET' and f.respondent_group = 'deltagare' and f.indicator_id = 4
  and f.gender = 'T' and f.period = (select max(period) from indicator_results)
order by f.positive_share desc nulls last;

-- query: indicator11_per_federation (example 14)
with riket_totals as (
    select cohort_year, followup_months, n_observed
    from indicator11_outcomes
    where federation_code = 'RIKET' and gender = 'T' and insats = 'alla' and support_at_start = 'alla'
),
latest_complete as (
    select max(m12.cohort_year) as cohort_year
    from riket_totals as m12
    join riket_totals as m6 using (cohort_year)
    where m12.followup_months = 12 and m6.followup_months = 6 and m12.n_observed = m6.n_observed
)
select f.cohort_year, f.federation_code, f.federation_name, f.status, f.n_observed, f.n_sustainable,
       f.share_sustainable, nat.n_observed as riket_n_observed, nat.share_sustainable as riket_share_sustainable,
       round(100 * (f.share_sustainable - nat.share_sustainable), 1) as difference_pp
from indicator11_outcomes as f
join indicator11_outcomes as nat using (cohort_year, followup_months, gender, insats, support_at_start)
where nat.federation_code = 'RIKET' and f.federation_code <> 'RIKET'
  and f.cohort_year = (select cohort_year from latest_complete)
  and f.followup_months = 12 and f.gender = 'T' and f.insats = 'alla' and f.support_at_start = 'alla'
order by f.share_sustainable desc nulls last, f.federation_code;
