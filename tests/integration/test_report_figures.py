"""Every figure agrees with every other: the sentences of a report are read back from the
rendered document and checked against the figures it prints; marks and ranks follow the
printed figures; the gate's list of large changes is the reports' rule."""

from __future__ import annotations

import html as html_lib
import re
import shutil

import pytest

from report.build import build_reports
from report.rules import RANK_MIN_N
from tests.conftest import environment


@pytest.fixture(scope="module")
def out(small_build, tmp_path_factory):
    from core.settings import get_settings

    home = tmp_path_factory.mktemp("figures") / "home"
    shutil.copytree(small_build, home)
    with environment(NNS_HOME=str(home)):
        return build_reports(get_settings(), pdf=False)


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).replace("\u00a0", " ").replace("\u202f", " ")


def _number(text: str) -> int | None:
    text = text.replace("\u2212", "-").replace("±", "").replace("%", "").strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else None


def _overview(html: str) -> list[dict]:
    rows = []
    for indicator, group, name, body in re.findall(
            r'<tr data-indicator="(\d+)" data-group="(\w+)" data-name="([^"]*)">(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'<td data-gender="(\w)">(.*?)</td>', body))
        rows.append({"indicator": int(indicator), "group": group,
                     "name": _text(name).lower(),
                     **{g: _number(_text(v)) for g, v in cells.items()},
                     "change": _number(_text(re.search(r"<td data-change>(.*?)</td>", body).group(1)))})
    return rows


def test_the_national_summary_says_what_the_tables_print(out):
    html = next(out.glob("nationell-rapport-*.html")).read_text(encoding="utf-8")
    summary = [_text(p) for p in re.findall(r"<p>(.*?)</p>", re.search(
        r'<div class="summary">(.*?)</div>', html, re.S).group(1), re.S)]
    rows = _overview(html)
    shown = [r for r in rows if r["T"] is not None]
    assert shown
    federations, questionnaires = [_text(v) for v in re.findall(r'<div class="value">(.*?)</div>', html)[:2]]
    first = summary[0]
    assert f"lämnade {federations} av" in first and f"sammanlagt {questionnaires} enkäter" in first

    high, low = max(r["T"] for r in shown), min(r["T"] for r in shown)
    extremes = next(s for s in summary if s.startswith("Andelen positiva svar i riket var högst"))
    top, bottom = re.match(r".*högst, (\d+) %, för (.*) och lägst, (\d+) %, för (.*)\.$", extremes).group(1, 2), \
        re.match(r".*lägst, (\d+) %, för (.*)\.$", extremes).groups()
    assert int(top[0]) == high and int(bottom[0]) == low
    for r in shown:  # every tie is named, and nothing else
        named = f"indikator {r['indicator']} bland {r['name']}"
        assert (named in top[1]) == (r["T"] == high) or r["T"] == low
        assert (named in bottom[1]) == (r["T"] == low) or r["T"] == high

    reach = next(s for s in summary if "svarade minst tre av fyra positivt" in s)
    assert re.match(r"I (\d+) av de (\d+) resultaten", reach).groups() == (
        str(sum(1 for r in shown if r["T"] >= 75)), str(len(shown)))

    gap = next((s for s in summary if s.startswith("Den största skillnaden mellan kvinnor och män")), None)
    both = [r for r in shown if r["K"] is not None and r["M"] is not None]
    if gap:
        widest = max(abs(r["K"] - r["M"]) for r in both)
        assert f"män, {widest} procentenheter," in gap
        named = re.findall(r"indikator (\d+) bland ([^(]+?) \((\d+) % för kvinnor, (\d+) % för män\)", gap)
        assert sorted((int(i), int(k), int(m)) for i, _, k, m in named) == sorted(
            (r["indicator"], r["K"], r["M"]) for r in both if abs(r["K"] - r["M"]) == widest)

    changes = [r["change"] for r in shown if r["change"] is not None]
    moved = next((s for s in summary if s.startswith("Jämfört med")), None)
    if changes:
        up, down, total = re.search(r"minst 3 procentenheter i (\d+) och minskade lika mycket i (\d+) av de (\d+)",
                                    moved).groups()
        assert (int(up), int(down), int(total)) == (sum(1 for c in changes if c >= 3),
                                                    sum(1 for c in changes if c <= -3), len(changes))


def test_a_federations_first_page_says_what_its_table_prints(out):
    checked = 0
    for path in sorted((out / "forbund").glob("*.html")):
        html = path.read_text(encoding="utf-8")
        if "Ert resultat i korthet" not in html:
            continue
        rows = re.findall(r'<tr data-indicator="(\d+)" data-group="(\w+)" data-differs="(-?\d)">(.*?)</tr>',
                          html, re.S)
        shares = [(_number(_text(re.search(r"<td data-share>(.*?)</td>", body).group(1)).split("(")[0]),
                   int(differs), _number(_text(re.search(r"<td data-change>(.*?)</td>", body).group(1))))
                  for _, _, differs, body in rows]
        shown = [s for s in shares if s[0] is not None]
        sentence = _text(re.search(r'<div class="summary">\s*<p>(.*?)</p>', html, re.S).group(1))
        above, below = sum(1 for s in shown if s[1] > 0), sum(1 for s in shown if s[1] < 0)
        assert re.search(rf"Av {len(shown)} resultat som visas låg .* tydligt över riket i {above} och tydligt\s+"
                         rf"under riket i {below}\.", sentence), sentence
        changes = [s[2] for s in shown if s[2] is not None]
        if changes:
            assert (f"ökade andelen med minst 3 procentenheter i {sum(1 for c in changes if c >= 3)} och minskade "
                    f"lika mycket i {sum(1 for c in changes if c <= -3)} av {len(changes)} resultat") in \
                re.sub(r"\s+", " ", sentence)
        checked += 1
    assert checked


def test_a_federation_is_marked_only_where_its_printed_interval_clears_the_nation(out):
    marked = 0
    for path in sorted((out / "forbund").glob("*.html")):
        html = path.read_text(encoding="utf-8")
        for _share, low, high, nation, marks in re.findall(
                r"<td data-ci>(\d+)\s%\s<span class=\"note nowrap\">\((\d+)\s%–(\d+)\s%\)</span></td>"
                r"<td>[^<]*</td>\s*<td>(\d+)\s%</td><td>([^<]*)</td>", html.replace("\u00a0", " ")):
            low, high, nation = int(low), int(high), int(nation)
            expected = "▲" if low > nation else "▼" if high < nation else ""
            assert (expected and expected in marks) or (not expected and "▲" not in marks and "▼" not in marks)
            marked += bool(expected)
    assert marked


def test_rankings_share_ties_and_leave_small_groups_unranked(out):
    html = next(out.glob("nationell-rapport-*.html")).read_text(encoding="utf-8")
    tables = re.findall(r'<table class="data ranking">(.*?)</table>', html, re.S)
    assert tables
    for table in tables:
        if "Svarande" not in table or "95 % intervall" not in table:
            continue
        ranked = []
        for rank, n, share in re.findall(r'<tr><th scope="row">([^<]*)</th><td class="text">[^<]*</td>'
                                         r"<td>([^<]*)</td><td>([^<]*)</td>", table):
            n, share = _number(_text(n).replace(" ", "")), _number(_text(share))
            if rank.strip() in ("–", ""):
                assert n is None or share is None or n < RANK_MIN_N
                continue
            assert n >= RANK_MIN_N
            ranked.append((int(rank), share))
        for (rank_a, share_a), (rank_b, share_b) in zip(ranked, ranked[1:], strict=False):
            assert share_a >= share_b
            assert (rank_a == rank_b) == (share_a == share_b)  # the same printed share, the same rank
        for rank, share in ranked:
            assert rank == 1 + sum(1 for _, s in ranked if s > share)


def test_the_gate_lists_the_reports_large_changes(small_build, tmp_path):
    from expectations.gate import large_national_changes
    from publication.reader import PublishedDatabase
    from report.data import ReportData
    from report.publishing import large_change_points
    from report.rules import large_changes

    path = small_build / "publish" / "marts.duckdb"
    db = ReportData(PublishedDatabase(path))
    try:
        frame = db.all_results()
        national = frame[(frame.federation_code == "RIKET") & (frame.gender == "T")]
        shares = [(r.period, int(r.indicator_id), r.respondent_group, None if r.status != "ok" else r.positive_share)
                  for r in national.itertuples()]
        expected = large_changes(shares, db.question_list(), large_change_points())
        # At a size of 1 point nearly every change is listed: the two readings must agree on all of them.
        small = large_changes(shares, db.question_list(), 1)
    finally:
        db.close()
    def same(listed, found):
        assert sorted((c["period"], c["indicator_id"], c["respondent_group"], c["change"]) for c in listed) == \
            sorted((c.period, c.indicator_id, c.respondent_group, c.change) for c in found)

    same(large_national_changes(path), expected)
    # At a size of 1 point nearly every change is listed: the two readings must agree on all of them.
    settings = tmp_path / "publishing.toml"
    settings.write_text("[comments]\nlarge_change_points = 1\n", encoding="utf-8")
    assert small
    same(large_national_changes(path, publishing=settings), small)
