-- The floor: one hand-written DuckDB script that computes the same numbers as
-- the dbt marts indicator_results, indicator_trends and indicator11_outcomes
-- (before disclosure control), straight from the lake, the ledger and the
-- catalogue CSVs. bench/floor.py substitutes {{HOME}} and {{SEEDS}}, runs it in
-- a fresh DuckDB file with the warehouse's memory limit and threads, and checks
-- the three tables equal to the warehouse's, row for row.
--
-- Differences from the dbt project are deliberate and are what a floor is for:
-- nothing intermediate is written to disk (views and CTEs only), and the main
-- support per person and month is computed only for the follow-up months that
-- indicator 11 looks at, not for every person and month of the income data.

-- The catalogue, typed as the dbt seeds are.
create temp view questions as
select * from read_csv('{{SEEDS}}/questions.csv', header = true, columns = {
    'question_code': 'varchar', 'respondent_group': 'varchar', 'indicator_id': 'integer', 'question_sv': 'varchar',
    'text_status': 'varchar', 'scale_id': 'varchar', 'comparability_key': 'varchar', 'valid_from': 'varchar',
    'valid_to': 'varchar'});

create temp view answer_scales as
select * from read_csv('{{SEEDS}}/answer_scales.csv', header = true, columns = {
    'scale_id': 'varchar', 'answer_value': 'integer', 'label_sv': 'varchar', 'is_missing': 'boolean',
    'is_positive': 'boolean'});

create temp view federations as
select * from read_csv('{{SEEDS}}/federations.csv', header = true, columns = {
    'federation_code': 'varchar', 'federation_name': 'varchar', 'lan': 'varchar', 'valid_from': 'varchar',
    'valid_to': 'varchar', 'successor_code': 'varchar', 'change_note': 'varchar'});

create temp view support_categories as
select * from read_csv('{{SEEDS}}/support_categories.csv', header = true, columns = {
    'category': 'varchar', 'label_sv': 'varchar', 'support_class': 'varchar', 'tie_priority': 'integer'});

create temp view end_reasons as
select * from read_csv('{{SEEDS}}/end_reasons.csv', header = true, columns = {
    'end_reason': 'varchar', 'label_sv': 'varchar', 'is_work_or_studies': 'boolean',
    'is_registration_error': 'boolean'});

create temp view federation_names as
select federation_code, federation_name from federations
union all
select 'RIKET', 'Riket';

-- Each federation's reporting federation today (successor links followed to the end).
create temp view lineage as
with recursive chain (federation_code, reporting_federation_code, depth) as (
    select federation_code, federation_code, 0 from federations
    union all
    select chain.federation_code, f.successor_code, chain.depth + 1
    from chain
    inner join federations as f on f.federation_code = chain.reporting_federation_code
    where f.successor_code is not null and chain.depth < 10
)
select federation_code, arg_max(reporting_federation_code, depth) as reporting_federation_code
from chain
group by federation_code;

create temp view ledger as
-- JSON objects typed by json_transform: read_json with `columns` is about 20 times slower on 500 small files.
select * exclude (received_at), cast(received_at as timestamptz) as received_at
from (
    select unnest(json_transform(json, '{"submission_id": "VARCHAR", "source": "VARCHAR", "file_name": "VARCHAR",
        "received_at": "VARCHAR", "ingested_at": "VARCHAR", "federation_code": "VARCHAR", "period": "VARCHAR",
        "format": "VARCHAR", "encoding": "VARCHAR", "respondent_groups": "VARCHAR[]", "collection_groups": "VARCHAR[]",
        "rows_ok": "BIGINT", "rows_total": "BIGINT", "errors": "BIGINT", "warnings": "BIGINT",
        "first_problem": "VARCHAR", "status": "VARCHAR", "archive_path": "VARCHAR", "raw_path": "VARCHAR",
        "quarantine_path": "VARCHAR", "contract_version": "VARCHAR", "extract_month": "VARCHAR",
        "first_month": "VARCHAR"}'))
    from read_json_objects('{{HOME}}/lake/ledger/*.json', format = 'newline_delimited')
);

-- Survey: the latest received accepted file wins per federation × period × questionnaire.
create temp view current_rows as
select submission_id, respondent_group
from (
    select submission_id, federation_code, period, received_at, cast(ingested_at as timestamptz) as ingested_at,
           unnest(respondent_groups) as respondent_group
    from ledger
    where source = 'survey' and status = 'accepted'
)
qualify row_number() over (partition by federation_code, period, respondent_group
                           order by received_at desc, ingested_at desc, submission_id desc) = 1;

-- Every answer; is_valid marks 1-6 (a cell answered only "Vet ej" keeps its rows with n 0).
create temp view valid_answers as
select
    r.period,
    r.federation_code,
    r.respondent_group,
    r.submission_id || ':' || r.respondent_group || ':' || r.serial as respondent_id,
    r.gender,
    q.question_code,
    q.indicator_id,
    q.comparability_key,
    cast(a.answer_value as integer) as answer_value,
    a.answer_value is not null as is_valid,
    coalesce(s.is_positive, false) as is_positive
from read_parquet('{{HOME}}/lake/raw/survey/*/respondents.parquet', union_by_name = true) as r
semi join current_rows as c on c.submission_id = r.submission_id and c.respondent_group = r.respondent_group
inner join read_parquet('{{HOME}}/lake/raw/survey/*/answers.parquet', union_by_name = true) as a
    on a.submission_id = r.submission_id and a.respondent_group = r.respondent_group and a.serial = r.serial
inner join questions as q
    on q.question_code = a.question_code
   and q.valid_from <= r.period and (q.valid_to is null or r.period <= q.valid_to)
left join answer_scales as s
    on s.scale_id = q.scale_id and s.answer_value = a.answer_value and not s.is_missing;

create temp table survey_answers as
select v.*, l.reporting_federation_code
from valid_answers as v
inner join lineage as l using (federation_code);

-- Cells for each federation and the nation, K/M/T, zero rows for absent K or M.
create table indicator_results as
with respondents as (
    select period, federation_code, respondent_group, indicator_id, gender, respondent_id,
           count(*) filter (where is_valid) as m, count(*) filter (where is_valid and is_positive) as y,
           sum(answer_value) filter (where is_valid) as score_sum
    from survey_answers group by all
),
aggregated as (
    select
        period,
        coalesce(federation_code, 'RIKET') as federation_code,
        respondent_group,
        indicator_id,
        case when grouping(gender) = 1 then 'T' else gender end as gender,
        count(distinct respondent_id) filter (where m > 0) as n,
        coalesce(sum(m), 0) as valid_answers,
        coalesce(sum(y), 0) as positive_answers,
        sum(score_sum) as score_sum,
        max(m) as max_m, sum(y * y) as sum_y2, sum(y * m) as sum_ym, sum(m * m) as sum_m2
    from respondents
    group by grouping sets (
        (period, federation_code, respondent_group, indicator_id, gender),
        (period, federation_code, respondent_group, indicator_id),
        (period, respondent_group, indicator_id, gender),
        (period, respondent_group, indicator_id)
    )
    having grouping(gender) = 1 or gender in ('K', 'M')
),
frequencies as (  -- valid answers per scale value (the Cell Key Method perturbs each)
    select period, federation_code, respondent_group, indicator_id, gender,
           list({'answer_value': answer_value, 'answers': answers} order by answer_value) as answer_counts
    from (
        select period, coalesce(federation_code, 'RIKET') as federation_code, respondent_group, indicator_id,
               case when grouping(gender) = 1 then 'T' else gender end as gender, answer_value, count(*) as answers
        from survey_answers
        where is_valid
        group by grouping sets (
            (period, federation_code, respondent_group, indicator_id, gender, answer_value),
            (period, federation_code, respondent_group, indicator_id, answer_value),
            (period, respondent_group, indicator_id, gender, answer_value),
            (period, respondent_group, indicator_id, answer_value)
        )
        having grouping(gender) = 1 or gender in ('K', 'M')
    )
    group by all
),
effective as (
    -- Kish's effective n from the cluster-robust variance over respondents (docs/analysts.md)
    select *, positive_answers::double / valid_answers as p,
        case when max_m = 1 then valid_answers::double
             when positive_answers = 0 or positive_answers = valid_answers then n::double
             else valid_answers / greatest(1.0,
                 (sum_y2 - 2 * (positive_answers / valid_answers) * sum_ym
                  + (positive_answers / valid_answers) ^ 2 * sum_m2)
                 / (valid_answers * (positive_answers / valid_answers) * (1 - positive_answers / valid_answers)))
        end as ne
    from aggregated where valid_answers > 0
),
cells as (
    select
        t.period, t.federation_code, t.respondent_group, t.indicator_id, g.gender,
        coalesce(a.n, 0) as n,
        coalesce(a.valid_answers, 0) as valid_answers,
        coalesce(a.positive_answers, 0) as positive_answers,
        case when a.valid_answers > 0 then ((2000 * a.score_sum::hugeint + a.valid_answers)
             // (2 * a.valid_answers::hugeint))::double / 1000 end as mean_score,
        case when a.valid_answers > 0 then ((20000 * a.positive_answers::hugeint + a.valid_answers)
             // (2 * a.valid_answers::hugeint))::double / 10000 end as positive_share,
        round((a.p + 1.96^2 / (2 * a.ne) - 1.96 * sqrt(a.p * (1 - a.p) / a.ne + 1.96^2 / (4 * a.ne^2)))
              / (1 + 1.96^2 / a.ne), 4) + 0.0 as ci_low,
        round((a.p + 1.96^2 / (2 * a.ne) + 1.96 * sqrt(a.p * (1 - a.p) / a.ne + 1.96^2 / (4 * a.ne^2)))
              / (1 + 1.96^2 / a.ne), 4) + 0.0 as ci_high,
        a.ne as effective_answers,
        coalesce(f.answer_counts, []) as answer_counts
    from aggregated as t
    cross join (values ('K'), ('M'), ('T')) as g(gender)
    left join effective as a
        on a.period = t.period and a.federation_code = t.federation_code and a.respondent_group = t.respondent_group
       and a.indicator_id = t.indicator_id and a.gender = g.gender
    left join frequencies as f
        on f.period = t.period and f.federation_code = t.federation_code and f.respondent_group = t.respondent_group
       and f.indicator_id = t.indicator_id and f.gender = g.gender
    where t.gender = 'T'
)
select
    c.period, c.federation_code, names.federation_name, c.respondent_group, c.indicator_id, c.gender,
    c.n, c.valid_answers, c.positive_answers, c.mean_score, c.positive_share, c.ci_low, c.ci_high,
    c.effective_answers, c.answer_counts,
    national.positive_share as national_positive_share,
    national.mean_score as national_mean_score
from cells as c
inner join federation_names as names using (federation_code)
left join cells as national
    on national.federation_code = 'RIKET' and national.period = c.period
   and national.respondent_group = c.respondent_group and national.indicator_id = c.indicator_id
   and national.gender = c.gender;

-- Trends: one series per comparability key, federations as they report today.
create table indicator_trends as
with respondents as (
    select period, reporting_federation_code, respondent_group, indicator_id, comparability_key, question_code,
           gender, respondent_id,
           count(*) filter (where is_valid) as m, count(*) filter (where is_valid and is_positive) as y,
           sum(answer_value) filter (where is_valid) as score_sum
    from survey_answers group by all
),
aggregated as (
    select
        period,
        coalesce(reporting_federation_code, 'RIKET') as federation_code,
        respondent_group, indicator_id, comparability_key, question_code,
        case when grouping(gender) = 1 then 'T' else gender end as gender,
        count(distinct respondent_id) filter (where m > 0) as n,
        coalesce(sum(m), 0) as valid_answers,
        coalesce(sum(y), 0) as positive_answers,
        sum(score_sum) as score_sum,
        max(m) as max_m, sum(y * y) as sum_y2, sum(y * m) as sum_ym, sum(m * m) as sum_m2
    from respondents
    group by grouping sets (
        (period, reporting_federation_code, respondent_group, indicator_id, comparability_key, question_code, gender),
        (period, reporting_federation_code, respondent_group, indicator_id, comparability_key, question_code),
        (period, respondent_group, indicator_id, comparability_key, question_code, gender),
        (period, respondent_group, indicator_id, comparability_key, question_code)
    )
    having grouping(gender) = 1 or gender in ('K', 'M')
),
frequencies as (  -- valid answers per scale value (the Cell Key Method perturbs each)
    select period, federation_code, respondent_group, indicator_id, comparability_key, question_code, gender,
           list({'answer_value': answer_value, 'answers': answers} order by answer_value) as answer_counts
    from (
        select period, coalesce(reporting_federation_code, 'RIKET') as federation_code, respondent_group, indicator_id,
               comparability_key, question_code,
               case when grouping(gender) = 1 then 'T' else gender end as gender, answer_value, count(*) as answers
        from survey_answers
        where is_valid
        group by grouping sets (
            (period, reporting_federation_code, respondent_group, indicator_id, comparability_key, question_code, gender,
             answer_value),
            (period, reporting_federation_code, respondent_group, indicator_id, comparability_key, question_code,
             answer_value),
            (period, respondent_group, indicator_id, comparability_key, question_code, gender, answer_value),
            (period, respondent_group, indicator_id, comparability_key, question_code, answer_value)
        )
        having grouping(gender) = 1 or gender in ('K', 'M')
    )
    group by all
),
effective as (
    -- Kish's effective n from the cluster-robust variance over respondents (docs/analysts.md)
    select *, positive_answers::double / valid_answers as p,
        case when max_m = 1 then valid_answers::double
             when positive_answers = 0 or positive_answers = valid_answers then n::double
             else valid_answers / greatest(1.0,
                 (sum_y2 - 2 * (positive_answers / valid_answers) * sum_ym
                  + (positive_answers / valid_answers) ^ 2 * sum_m2)
                 / (valid_answers * (positive_answers / valid_answers) * (1 - positive_answers / valid_answers)))
        end as ne
    from aggregated where valid_answers > 0
),
cells as (
    select
        t.period, t.federation_code, t.respondent_group, t.indicator_id, t.comparability_key, t.question_code, g.gender,
        coalesce(a.n, 0) as n,
        coalesce(a.valid_answers, 0) as valid_answers,
        coalesce(a.positive_answers, 0) as positive_answers,
        case when a.valid_answers > 0 then ((2000 * a.score_sum::hugeint + a.valid_answers)
             // (2 * a.valid_answers::hugeint))::double / 1000 end as mean_score,
        case when a.valid_answers > 0 then ((20000 * a.positive_answers::hugeint + a.valid_answers)
             // (2 * a.valid_answers::hugeint))::double / 10000 end as positive_share,
        round((a.p + 1.96^2 / (2 * a.ne) - 1.96 * sqrt(a.p * (1 - a.p) / a.ne + 1.96^2 / (4 * a.ne^2)))
              / (1 + 1.96^2 / a.ne), 4) + 0.0 as ci_low,
        round((a.p + 1.96^2 / (2 * a.ne) + 1.96 * sqrt(a.p * (1 - a.p) / a.ne + 1.96^2 / (4 * a.ne^2)))
              / (1 + 1.96^2 / a.ne), 4) + 0.0 as ci_high,
        a.ne as effective_answers,
        coalesce(f.answer_counts, []) as answer_counts
    from aggregated as t
    cross join (values ('K'), ('M'), ('T')) as g(gender)
    left join effective as a
        on a.period = t.period and a.federation_code = t.federation_code and a.respondent_group = t.respondent_group
       and a.indicator_id = t.indicator_id and a.comparability_key = t.comparability_key
       and a.question_code = t.question_code and a.gender = g.gender
    left join frequencies as f
        on f.period = t.period and f.federation_code = t.federation_code and f.respondent_group = t.respondent_group
       and f.indicator_id = t.indicator_id and f.comparability_key = t.comparability_key
       and f.question_code = t.question_code and f.gender = g.gender
    where t.gender = 'T'
),
series as (
    select comparability_key, min(period) as series_first_period, max(period) as series_last_period
    from cells
    group by comparability_key
)
select
    c.period, c.federation_code, names.federation_name, c.respondent_group, c.indicator_id,
    c.comparability_key, c.question_code, series.series_first_period, series.series_last_period,
    c.gender, c.n, c.valid_answers, c.positive_answers, c.mean_score, c.positive_share, c.ci_low, c.ci_high,
    c.effective_answers, c.answer_counts
from cells as c
inner join series using (comparability_key)
inner join federation_names as names using (federation_code);

-- Indicator 11: the latest SUS extract; ended, linkable insatser without registration errors.
create temp table followup_points as
with latest_sus as (
    select arg_max(submission_id, (extract_month, received_at)) as submission_id
    from ledger
    where source = 'register_sus' and status = 'accepted'
),
coverage as (
    select min(month) as first_month, max(month) as last_month
    from (
        select unnest(generate_series(cast(strptime(first_month, '%Y-%m') as date),
                                      cast(strptime(extract_month, '%Y-%m') as date), interval 1 month))::date as month
        from ledger
        where source = 'register_income' and status = 'accepted'
    )
)
select
    p.submission_id || ':' || p.source_row as participation_id,
    p.person_key,
    year(p.end_date) as cohort_year,
    p.federation_code,
    p.gender,
    p.insats,
    p.support_at_start,
    f.followup_months,
    (date_trunc('month', p.end_date) + to_months(f.followup_months))::date as followup_month,
    coalesce((date_trunc('month', p.end_date) + to_months(f.followup_months))::date
        between coverage.first_month and coverage.last_month, false) as is_observed
from read_parquet('{{HOME}}/lake/raw/register/*/participants.parquet', union_by_name = true) as p
semi join latest_sus using (submission_id)
left join end_reasons as r using (end_reason)
cross join (values (6), (12), (24)) as f(followup_months)
cross join coverage
where p.is_linkable and p.end_date is not null and not coalesce(r.is_registration_error, false);

create table indicator11_outcomes as
with income_extracts as (
    select submission_id, received_at,
           cast(strptime(first_month, '%Y-%m') as date) as first_month,
           cast(strptime(extract_month, '%Y-%m') as date) as last_month
    from ledger
    where source = 'register_income' and status = 'accepted'
),
current_months as (
    -- For each month, the latest extract covering it.
    select month, arg_max(submission_id, (last_month, received_at)) as submission_id
    from (
        select submission_id, received_at, last_month,
               unnest(generate_series(first_month, last_month, interval 1 month))::date as month
        from income_extracts
    )
    group by month
),
wanted as (
    select distinct person_key, followup_month as month from followup_points where is_observed
),
amounts as (
    select i.person_key, i.month, i.category, sum(i.amount) as amount
    from read_parquet('{{HOME}}/lake/raw/register/*/income.parquet', union_by_name = true) as i
    semi join current_months as c on c.submission_id = i.submission_id and c.month = i.month
    semi join wanted as w on w.person_key = i.person_key and w.month = i.month
    group by all
    having sum(i.amount) > 0
),
main_support as (
    select a.person_key, a.month,
           arg_max(k.support_class, a.amount * 100 - k.tie_priority) as support_class
    from amounts as a
    inner join support_categories as k using (category)
    group by a.person_key, a.month
),
classified as (
    select p.*, p.is_observed and coalesce(m.support_class, 'ingen') = 'egen' as is_self_supporting
    from followup_points as p
    left join main_support as m on m.person_key = p.person_key and m.month = p.followup_month
),
first_failing as (
    -- sustainable over the observed points only (a left-censored earlier point is skipped): no observed
    -- point up to this one without self-support (a group and a join: quicker than a window here)
    select participation_id, min(followup_months) as followup_months
    from classified where is_observed and not is_self_supporting
    group by participation_id
),
followups as (
    select c.*, c.is_self_supporting and coalesce(c.followup_months < f.followup_months, true) as is_sustainable
    from classified as c
    left join first_failing as f using (participation_id)
),
cells as (
    select
        cohort_year,
        followup_months,
        coalesce(federation_code, 'RIKET') as federation_code,
        coalesce(gender, 'T') as gender,
        coalesce(insats, 'alla') as insats,
        coalesce(support_at_start, 'alla') as support_at_start,
        count(*) as cohort_size,
        count(*) filter (where is_observed) as n_observed,
        count(*) filter (where is_observed and is_self_supporting) as n_self_supporting,
        count(*) filter (where is_observed and is_sustainable) as n_sustainable
    from followups
    group by grouping sets (
        (cohort_year, followup_months, federation_code, gender, insats),
        (cohort_year, followup_months, federation_code, insats),
        (cohort_year, followup_months, federation_code, gender, support_at_start),
        (cohort_year, followup_months, federation_code, support_at_start),
        (cohort_year, followup_months, federation_code, gender),
        (cohort_year, followup_months, federation_code),
        (cohort_year, followup_months, gender, insats),
        (cohort_year, followup_months, insats),
        (cohort_year, followup_months, gender, support_at_start),
        (cohort_year, followup_months, support_at_start),
        (cohort_year, followup_months, gender),
        (cohort_year, followup_months)
    )
),
completeness as (
    select cohort_year, followup_months, bool_and(is_observed) as is_complete
    from followup_points group by all
)
select
    c.cohort_year, c.federation_code, names.federation_name, c.gender, c.insats, c.support_at_start,
    c.followup_months, k.is_complete, c.cohort_size, c.n_observed, c.n_self_supporting,
    ((20000 * c.n_self_supporting::hugeint + c.n_observed) // (2 * c.n_observed::hugeint))::double / 10000
        as share_self_supporting,
    c.n_sustainable,
    ((20000 * c.n_sustainable::hugeint + c.n_observed) // (2 * c.n_observed::hugeint))::double / 10000
        as share_sustainable,
    coalesce(nullif(least(
        case when c.cohort_size > 0 then c.cohort_size else 2147483647 end,
        case when c.cohort_size - c.n_observed > 0 then c.cohort_size - c.n_observed else 2147483647 end,
        case when c.n_observed > 0 then c.n_observed else 2147483647 end,
        case when c.n_self_supporting > 0 then c.n_self_supporting else 2147483647 end,
        case when c.n_observed - c.n_self_supporting > 0 then c.n_observed - c.n_self_supporting else 2147483647 end,
        case when c.n_sustainable > 0 then c.n_sustainable else 2147483647 end,
        case when c.n_observed - c.n_sustainable > 0 then c.n_observed - c.n_sustainable else 2147483647 end
    ), 2147483647), 0) as disclosure_n
from cells as c
inner join federation_names as names using (federation_code)
inner join completeness as k using (cohort_year, followup_months)
where c.n_observed > 0;
