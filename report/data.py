"""Everything the reports show, read from the *published* database only.

Reports never touch the warehouse: what a reader sees in a report is exactly
what an analyst can query, disclosure control included.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.catalogue import NATION
from publication.reader import PublishedDatabase


class ReportData:
    """The queries the reports make, over one build of the published database (publication.reader)."""

    def __init__(self, db: PublishedDatabase):
        self.db = db

    @classmethod
    def open(cls, path: Path) -> ReportData:
        return cls(PublishedDatabase.open(path))

    def close(self) -> None:
        self.db.close()

    def df(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        return self.db.df(sql, params)

    def one(self, sql: str, params: dict | None = None):
        """The first value of the first row."""
        return self.db.query(sql, params)[0][0]

    # --- read once per job: every result and the catalogue (report.build.Results) ---

    def all_results(self) -> pd.DataFrame:
        """Every row of indicator_results: each period, federation, questionnaire, indicator and gender."""
        return self.df("""
            select period, federation_code, respondent_group, indicator_id, gender, n, positive_share, ci_low,
                   ci_high, status, federations_mean_share
            from indicator_results""")

    def indicator_titles(self) -> dict[int, tuple[str, bool]]:
        """{indicator: (title, whether it is the official text)}, the latest version of each."""
        return {int(i): (t, bool(o)) for i, t, o in self.db.query(
            "select indicator_id, arg_max(indicator_title, valid_from), arg_max(is_official_text, valid_from) "
            "from indicators group by 1")}

    def question_list(self) -> list[dict]:
        return [dict(zip(("question_code", "respondent_group", "indicator_id", "comparability_key", "valid_from",
                          "valid_to", "question_text"), row, strict=True)) for row in self.db.query(
            "select question_code, respondent_group, indicator_id, comparability_key, valid_from, valid_to, "
            "question_text from questions")]

    def group_names(self) -> dict[str, str]:
        return dict(self.db.query("select distinct respondent_group, respondent_group_name from questions"))

    def federation_names(self) -> dict[str, str]:
        return dict(self.db.query("select federation_code, federation_name from federations"))

    def latest_period(self) -> str:
        return self.one("select max(period) from indicator_results")

    def periods(self) -> list[str]:
        return [r[0] for r in self.db.query("select distinct period from indicator_results order by 1")]

    def threshold(self) -> int:
        return self.db.threshold

    def method(self) -> str:
        """The build's disclosure control: ckm (perturbed counts) or suppression."""
        return self.db.info.method

    def collection(self, period: str) -> pd.DataFrame:
        return self.df("""
            select s.*, g.respondent_group_name
            from collection_summary s
            join (select distinct respondent_group, respondent_group_name from questions) g using (respondent_group)
            where period = $period
            order by questionnaires desc""", {"period": period})

    def collection_history(self) -> pd.DataFrame:
        return self.df("""
            select period, respondent_group, questionnaires, any_value(federations_in_period) over (partition by period)
                   as federations_in_period
            from collection_summary order by period, respondent_group""")

    def survey_indicators(self, period: str) -> pd.DataFrame:
        """Indicators with results in the period, with the questionnaires measuring them."""
        return self.df("""
            select i.indicator_id, i.indicator_title, i.is_official_text,
                   list(distinct r.respondent_group order by r.respondent_group) as respondent_groups
            from indicators i
            join indicator_results r using (indicator_id)
            where r.period = $period and r.federation_code = $nation
            group by all
            order by i.indicator_id""", {"period": period})

    def national(self, period: str, indicator_id: int) -> pd.DataFrame:
        return self.df("""
            select respondent_group, gender, n, positive_share, ci_low, ci_high, mean_score, status,
                   federations_mean_share
            from indicator_results
            where period = $period and indicator_id = $indicator and federation_code = $nation
            order by respondent_group, gender""", {"period": period, "indicator": indicator_id})

    def trend(self, indicator_id: int, respondent_group: str, federation_code: str = NATION) -> pd.DataFrame:
        return self.df("""
            select t.period, t.comparability_key, t.question_code, t.series_first_period, t.positive_share,
                   t.n, t.status, q.question_text
            from indicator_trends t
            join questions q on q.question_code = t.question_code
            where t.indicator_id = $indicator and t.respondent_group = $group
              and t.federation_code = $federation and t.gender = 'T'
            order by t.comparability_key, t.period""",
                       {"indicator": indicator_id, "group": respondent_group, "federation": federation_code})

    def spread(self, period: str, indicator_id: int, respondent_group: str) -> pd.DataFrame:
        return self.df("""
            select federation_code, federation_name, n, positive_share, status
            from indicator_results
            where period = $period and indicator_id = $indicator and respondent_group = $group
              and gender = 'T' and federation_code <> $nation
            order by positive_share desc nulls last, federation_code""",
                       {"period": period, "indicator": indicator_id, "group": respondent_group})

    def federations_in(self, period: str) -> pd.DataFrame:
        return self.df("""
            select distinct s.federation_code, f.federation_name, f.lan
            from collection_status s join federations f using (federation_code)
            where s.period = $period and s.federation_code <> $nation
            order by 1""", {"period": period})

    def federation_results(self, period: str, federation_code: str) -> pd.DataFrame:
        return self.df("""
            select r.indicator_id, i.indicator_title, r.respondent_group, r.gender, r.n, r.positive_share,
                   r.ci_low, r.ci_high, r.national_positive_share, r.status
            from indicator_results r join indicators i using (indicator_id)
            where r.period = $period and r.federation_code = $federation
            order by r.indicator_id, r.respondent_group, r.gender""",
                       {"period": period, "federation": federation_code})

    def federation_collection(self, period: str, federation_code: str) -> pd.DataFrame:
        return self.df("""
            select s.respondent_group, g.respondent_group_name, s.asked, s.answered, s.rows_received,
                   s.response_rate, s.status, n.response_rate as national_response_rate
            from collection_status s
            join collection_status n on n.period = s.period and n.respondent_group = s.respondent_group
                                     and n.federation_code = $nation
            join (select distinct respondent_group, respondent_group_name from questions) g
                 on g.respondent_group = s.respondent_group
            where s.period = $period and s.federation_code = $federation
            order by s.respondent_group""", {"period": period, "federation": federation_code})

    # --- registers: indicator 11 and the gender analysis ---

    def has_registers(self) -> bool:
        return bool(self.one("select count(*) from indicator11_outcomes"))

    def indicator11_cohort(self) -> int | None:
        """The latest cohort whose 12-month follow-up is complete (everyone in the cohort observed)."""
        return self.one("""
            select max(cohort_year) from indicator11_outcomes
            where federation_code = $nation and gender = 'T' and insats = 'alla' and support_at_start = 'alla'
              and followup_months = 12 and is_complete""", {"nation": NATION})

    def followups(self) -> list[int]:
        """The follow-up points, months after an insats ended (the marts' dbt var followup_months)."""
        return [int(m) for (m,) in self.db.query(
            "select distinct followup_months from indicator11_outcomes order by 1")]

    def indicator11_national(self) -> pd.DataFrame:
        """Complete follow-up points only: a partial point is never a headline or part of a trend."""
        return self.df("""
            select cohort_year, followup_months, gender, n_observed, share_self_supporting, share_sustainable, status
            from indicator11_outcomes
            where federation_code = $nation and insats = 'alla' and support_at_start = 'alla' and is_complete
            order by cohort_year, followup_months, gender""")

    def indicator11_breakdown(self, cohort: int, column: str) -> pd.DataFrame:
        """National 12-month results by insats or by support at start (a complete point)."""
        other = "support_at_start" if column == "insats" else "insats"
        return self.df(f"""
            select {column} as label, gender, n_observed, share_sustainable, share_self_supporting, status
            from indicator11_outcomes
            where federation_code = $nation and cohort_year = $cohort and followup_months = 12 and is_complete
              and {column} <> 'alla' and {other} = 'alla'
            order by {column}, gender""", {"cohort": cohort})

    def indicator11_federations(self, cohort: int, federation_code: str | None = None) -> pd.DataFrame:
        """Complete follow-up points of cohorts up to `cohort`, per federation."""
        where = "and federation_code = $federation" if federation_code else "and federation_code <> $nation"
        params = {"cohort": cohort} | ({"federation": federation_code} if federation_code else {})
        return self.df(f"""
            select federation_code, federation_name, cohort_year, followup_months, n_observed,
                   share_self_supporting, share_sustainable, status
            from indicator11_outcomes
            where gender = 'T' and insats = 'alla' and support_at_start = 'alla' and cohort_year <= $cohort
              and is_complete {where}
            order by cohort_year, followup_months, share_sustainable desc nulls last""", params)

    def gender_by_insats(self, cohort: int) -> pd.DataFrame:
        return self.df("""
            select insats, gender, participants, mean_insats_months, share_work_or_studies,
                   mean_years_public_support_before, status
            from gender_analysis
            where federation_code = $nation and cohort_year = $cohort
            order by insats = 'alla' desc, insats, gender""", {"cohort": cohort})

    def transitions(self, cohort: int) -> pd.DataFrame:
        return self.df("""
            select gender, support_at_start, support_at_end, participants, status
            from support_transitions
            where cohort_year = $cohort and support_at_start <> 'alla'
            order by support_at_start, support_at_end, gender""", {"cohort": cohort})

    def support_labels(self) -> dict[str, str]:
        return dict(self.db.query("select category, label_sv from support_categories"))

    # --- catalogue names and participation ---

    def insatser(self) -> dict[str, tuple[str, int]]:
        """{code: (Swedish name, sort order)} from the catalogue's insatser."""
        return {code: (name, order) for code, name, order in self.db.query(
            "select insats, name_sv, sort_order from insatser")}

    def support_order(self) -> list[str]:
        """Support categories in the documented order: public support, own support, other, none."""
        return [r[0] for r in self.db.query("select category from support_categories order by tie_priority")]

    def participation(self, period: str) -> pd.DataFrame:
        """Every federation that existed in the period, and whether it sent questionnaires for it."""
        return self.df("""
            select f.federation_code, f.federation_name, f.lan,
                   exists (select 1 from collection_status s
                           where s.period = $period and s.federation_code = f.federation_code) as participated
            from federations f
            where f.valid_from <= $period and (f.valid_to is null or f.valid_to >= $period)
              and f.federation_code <> $nation
            order by f.federation_name""", {"period": period})

    def federation_trend(self, federation_code: str, indicator_id: int, respondent_group: str) -> pd.DataFrame:
        """A federation's and the nation's series of the latest question version, per period."""
        return self.df("""
            with latest as (
                select comparability_key from indicator_trends
                where indicator_id = $indicator and respondent_group = $group and federation_code = $nation
                order by period desc limit 1)
            select t.period, t.federation_code = $nation as is_nation, t.positive_share, t.series_first_period
            from indicator_trends t join latest using (comparability_key)
            where t.indicator_id = $indicator and t.respondent_group = $group and t.gender = 'T'
              and t.federation_code in ($nation, $federation)
            order by t.period""",
                       {"indicator": indicator_id, "group": respondent_group, "federation": federation_code})

    def indicator11(self) -> dict | None:
        """Everything the national report's indicator 11 section shows, in one place: the
        latest complete cohort, the national rows, the federations, the breakdowns by insats
        and by support at start, the gender analysis and the support transitions."""
        cohort = self.indicator11_cohort()
        if cohort is None:
            return None
        return {"cohort": int(cohort),
                "followups": self.followups(),
                "national": self.indicator11_national(),
                "federations": self.indicator11_federations(cohort),
                "by_insats": self.indicator11_breakdown(cohort, "insats"),
                "by_support": self.indicator11_breakdown(cohort, "support_at_start"),
                "gender": self.gender_by_insats(cohort),
                "transitions": self.transitions(cohort)}
