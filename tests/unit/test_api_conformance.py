"""The read API against PxAPI-2.yml without a build: each selection expression, each parameter of the spec (works, or
400 naming it), codelists, placement, every output format read back by a real reader (a JSON-stat validator, pyjstat,
pyaxis, openpyxl), formula escaping in every spreadsheet-readable format, the rate limit and the per-build cache."""

from __future__ import annotations

import csv
import io
import json

import duckdb
import openpyxl
import pytest
from fastapi.testclient import TestClient
from jsonstat_validator import validate_jsonstat
from pyaxis import pyaxis
from pyjstat import pyjstat

from api import data
from api.app import create_app
from api.cubes import CONTENTS, SUPPRESSED_CONTENT, open_cubes
from api.export import export_table
from api.serving import RateLimit, ResponseCache
from tests.unit.test_api_selection import PERIODS, tiny  # noqa: F401 - the published file these tests extend

FORMULAS = ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tTAB", "\rCR"]  # OWASP's formula starts


@pytest.fixture
def home(tiny):  # noqa: F811 - the fixture imported above
    """test_api_selection's published file (one row suppressed, one combination missing) with one row more, the
    insatser catalogue holding a text for each formula start, and two federations."""
    with duckdb.connect(str(tiny.publish / "marts.duckdb")) as con:
        con.execute("insert into collection_summary values ('2024/25', 'deltagare', 2, 4, 11, 20, 11, 0.55, 'ok')")
        con.execute("create table insatser (insats varchar, name_sv varchar, description_sv varchar, "
                    "sort_order integer)")
        for i, text in enumerate(FORMULAS):
            con.execute("insert into insatser values (?, ?, ?, ?)", [text, text, text, i])
        con.execute("create table federations (federation_code varchar, federation_name varchar)")
        con.execute("insert into federations values ('SF01', 'Ett'), ('SF02', 'Två')")
    return tiny


@pytest.fixture
def client(home):
    return TestClient(create_app(), raise_server_exceptions=False)


DATA = "/tables/collection_summary/data"


def test_every_selection_expression_of_the_spec():
    values = ["SF01", "SF02", "SF17", "RIKET"]
    assert data.expand(values, "*", "f") == values
    assert data.expand(values, "SF0*", "f") == ["SF01", "SF02"]
    assert data.expand(values, "sf0*", "f") == ["SF01", "SF02"]  # ignoring case, as PxWebApi
    assert data.expand(values, "*7", "f") == ["SF17"]
    assert data.expand(values, "*F1*", "f") == ["SF17"]
    assert data.expand(values, "SF?2", "f") == ["SF02"]
    assert data.expand(values, "S?1*", "f") == ["SF17"]
    assert data.expand(values, "riket", "f") == ["RIKET"]
    assert data.expand(values, "top(2)", "f") == ["SF01", "SF02"]
    assert data.expand(values, "TOP(2,1)", "f") == ["SF02", "SF17"]
    assert data.expand(values, "bottom(1)", "f") == ["RIKET"]
    assert data.expand(values, "bottom(2,1)", "f") == ["SF02", "SF17"]
    assert data.expand(values, "from(SF02)", "f") == ["SF02", "SF17", "RIKET"]
    assert data.expand(values, "to(SF02)", "f") == ["SF01", "SF02"]
    assert data.expand(values, "range(SF17,SF01)", "f") == ["SF01", "SF02", "SF17"]
    assert data.expand(PERIODS, "top(1)", "period", time=True) == ["2024/25"]
    assert data.expand(PERIODS, "top(1,1)", "period", time=True) == ["2023/24"]
    assert data.expand(PERIODS, "bottom(1)", "period", time=True) == ["2022/23"]
    assert data.expand(PERIODS, "bottom(2,1)", "period", time=True) == ["2023/24", "2024/25"]
    assert data.split_codes("top(2,1),SF01, range(a,b)") == ["top(2,1)", "SF01", "range(a,b)"]
    for bad in ["SF99", "S*F*1", "top(x)", "top(0)", "top(1,-1)", "from(SF99)", "range(SF01)", "range(SF01,X)",
                "", "x" * 201]:
        with pytest.raises(data.BadSelection):
            data.expand(values, bad, "f")


# Every parameter of PxAPI-2.yml (and a few it does not have) sent where it is not supported: 400 naming it.
UNSUPPORTED = [
    ("get", "/tables?codelist[x]=y", "codelist"),
    ("get", "/tables?pageSize=0", "pageSize"),
    ("get", "/tables?pastDays=x", "pastDays"),
    ("get", "/tables?includeDiscontinued=maybe", "includeDiscontinued"),
    ("get", "/tables/collection_summary?outputFormat=csv", "outputFormat"),
    ("get", "/tables/collection_summary/metadata?outputFormat=px", "outputFormat"),
    ("get", "/tables/collection_summary/metadata?defaultSelection=perhaps", "defaultSelection"),
    ("get", "/tables/collection_summary/metadata?codelist[period]=vs_federation_code", "vs_federation_code"),
    ("get", "/tables/collection_summary/defaultselection?valueCodes[period]=*", "valueCodes"),
    ("get", "/config?foo=1", "foo"),
    ("get", DATA + "?outputFormat=sdmx", "sdmx"),
    ("get", DATA + "?outputFormat=csv&outputFormatParams=Bogus", "Bogus"),
    ("get", DATA + "?outputFormat=xlsx&outputFormatParams=SeparatorTab", "SeparatorTab"),
    ("get", DATA + "?outputFormat=px&outputFormatParams=UseTexts", "UseTexts"),
    ("get", DATA + "?outputFormat=json-stat2&outputFormatParams=IncludeTitle", "IncludeTitle"),
    ("get", DATA + "?outputFormat=csv&outputFormatParams=UseCodes,UseTexts", "exclude each other"),
    ("get", DATA + "?outputFormat=csv&outputFormatParams=SeparatorTab,SeparatorSpace", "exclude each other"),
    ("get", DATA + "?outputFormat=parquet&heading=period", "heading"),
    ("get", DATA + "?outputFormat=json-px&stub=period", "stub"),
    ("get", DATA + "?heading=nothing", "nothing"),
    ("get", DATA + "?heading=period&stub=period", "twice"),
    ("get", DATA + "?heading=period&stub=respondent_group", "every variable"),
    ("get", DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*&codelist[period]=vs_federation_code",
     "vs_federation_code"),
    ("get", DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*&codelist[period]=agg_x", "agg_x"),
    ("get", DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*&lang=fi", "fi"),
    ("get", DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*&query=x", "query"),
    ("post", DATA + "?heading=period", "heading"),
    ("post", "/savedqueries", "Saved queries"),
    ("get", "/savedqueries/1", "Saved queries"),
    ("get", "/savedqueries/1/data", "Saved queries"),
]


@pytest.mark.parametrize(("method", "path", "named"), UNSUPPORTED, ids=[u[1][:70] for u in UNSUPPORTED])
def test_each_unsupported_parameter_is_refused_with_400_naming_it(client, method, path, named):
    response = client.request(method, path, json={"selection": []} if method == "post" else None)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert named in response.json()["detail"]


def test_a_post_body_the_spec_does_not_have_is_refused(client):
    for body in [{"selection": [], "extra": 1}, {"selection": [{"variableCode": "period", "valueCodes": ["*"],
                                                                "elimination": True}]},
                 {"selection": [], "placement": {"heading": "period"}}]:
        assert client.post(DATA, json=body).status_code == 400


def test_codelists_advertised_in_the_metadata_are_applied(home):
    with duckdb.connect(str(home.publish / "marts.duckdb")) as con:
        con.execute("create table collection_status (period varchar, respondent_group varchar, "
                    "federation_code varchar, federation_name varchar, asked bigint, answered bigint, "
                    "rows_received bigint, response_rate double, last_submission_at timestamptz, "
                    "versions_received bigint, status varchar)")
        con.execute("insert into collection_status values ('2024/25', 'deltagare', 'SF01', 'Ett', 10, 5, 5, 0.5, "
                    "null, 1, 'ok'), ('2024/25', 'deltagare', 'RIKET', 'Riket', 10, 5, 5, 0.5, null, 1, 'ok')")
    client = TestClient(create_app(), raise_server_exceptions=False)
    meta = client.get("/tables/collection_status/metadata").json()
    assert [c["id"] for c in meta["dimension"]["federation_code"]["extension"]["codeLists"]] == ["vs_federation_code"]
    assert client.get("/codelists/vs_federation_code").json()["values"][0] == {
        "code": "SF01", "label": "Ett", "valueMap": ["SF01"]}
    base = "/tables/collection_status/data?valueCodes[period]=*&valueCodes[respondent_group]=*"
    everything = client.get(base + "&valueCodes[federation_code]=*").json()
    assert list(everything["dimension"]["federation_code"]["category"]["index"]) == ["RIKET", "SF01"]
    narrowed = client.get(base + "&valueCodes[federation_code]=*&codelist[federation_code]=vs_federation_code")
    assert list(narrowed.json()["dimension"]["federation_code"]["category"]["index"]) == ["SF01", "SF02"]
    assert narrowed.json()["value"][-2:] == [None, None]  # SF02 has no row: its cells have no value
    posted = client.post("/tables/collection_status/data", json={"selection": [
        {"variableCode": "period", "valueCodes": ["*"]}, {"variableCode": "respondent_group", "valueCodes": ["*"]},
        {"variableCode": "federation_code", "codelist": "vs_federation_code", "valueCodes": ["*"]}]})  # pxwebpy's key
    assert posted.status_code == 200 and list(posted.json()["dimension"]["federation_code"]["category"]["index"]) \
        == ["SF01", "SF02"]
    # a value set has no total: the variable cannot be eliminated under it
    assert client.get(base + "&codelist[federation_code]=vs_federation_code").status_code == 400
    meta = client.get("/tables/collection_status/metadata?codelist[federation_code]=vs_federation_code").json()
    assert list(meta["dimension"]["federation_code"]["category"]["index"]) == ["SF01", "SF02"]


def _cells(body: dict) -> dict[tuple, object]:
    """json-stat2 cells by their codes, whatever the order of `id`."""
    import itertools

    codes = [list(body["dimension"][d]["category"]["index"]) for d in body["id"]]
    status = body.get("status", {})
    return {dict(zip(body["id"], combo, strict=True))["period"] + "|" + "|".join(
        f"{d}={c}" for d, c in sorted(zip(body["id"], combo, strict=True))):
            status.get(str(i), value) if value is None else value
            for i, (combo, value) in enumerate(zip(itertools.product(*codes), body["value"], strict=True))}


def test_placement_reorders_json_stat_and_the_tables(client):
    selection = "?valueCodes[period]=*&valueCodes[respondent_group]=*&valueCodes[ContentsCode]=answered,suppressed"
    plain = client.get(DATA + selection).json()
    placed = client.get(DATA + selection + "&heading=period&stub=ContentsCode,respondent_group").json()
    assert placed["id"] == [CONTENTS, "respondent_group", "period"]
    assert placed["extension"]["px"]["heading"] == ["period"]
    assert _cells(plain) == _cells(placed)  # the same cells, in another order
    rows = list(csv.reader(io.StringIO(client.get(DATA + selection + "&heading=period&outputFormat=csv")
                                       .content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["respondent_group", "ContentsCode", *PERIODS]
    assert rows[1] == ["deltagare", "answered", "40", "..", "11"]  # 2023/24 is suppressed
    assert rows[2] == ["deltagare", "suppressed", "0", "1", "0"]  # the status as a value
    assert rows[3] == ["styrelse", "answered", ".", ".", "12"]  # no such rows


def test_csv_parameters(client):
    selection = (DATA + "?valueCodes[period]=2024/25&valueCodes[respondent_group]=*"
                 "&valueCodes[ContentsCode]=response_rate")
    default = client.get(selection + "&outputFormat=csv").content
    assert default.startswith(b"\xef\xbb\xbf") and b"0,55" in default and b"\r\n" in default
    plain = client.get(selection + "&outputFormat=csv&outputFormatParams=Plain").content.decode()
    assert plain.splitlines()[1] == "2024/25,deltagare,0.55" and "\r" not in plain
    tab = client.get(selection + "&outputformat=csv&outputformatparams=separatortab,usetexts,includetitle")
    lines = tab.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Insamling i riket efter mätperiod och enkät"
    assert lines[1].split("\t") == ["mätperiod", "enkät", "Svarsfrekvens"]
    both = client.get(selection + "&outputFormat=csv&outputFormatParams=UseCodesAndTexts,SeparatorComma")
    assert both.content.decode("utf-8-sig").splitlines()[1].startswith("2024/25 2024/25,")


def test_every_format_is_read_back(client, tmp_path):
    selection = DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*"
    body = client.get(selection).json()
    assert validate_jsonstat(body)
    frame = pyjstat.Dataset.read(json.dumps(body)).write("dataframe", naming="id")
    assert len(frame) == len(body["value"]) == 3 * 2 * 7
    meta = client.get("/tables/collection_summary/metadata").json()
    assert meta["value"] == {} and validate_jsonstat(meta)
    assert len(pyjstat.Dataset.read(json.dumps(meta)).write("dataframe")) == 3 * 2 * 7  # every cell missing
    assert meta["dimension"][CONTENTS]["category"]["unit"][SUPPRESSED_CONTENT] == {"base": "1 = ja, 0 = nej",
                                                                                   "decimals": 0}
    units = meta["dimension"][CONTENTS]["category"]["unit"]
    assert units["questionnaires"] == {"base": "antal", "decimals": 0}
    assert units["response_rate"] == {"base": "andel (0–1)", "decimals": 4}

    path = tmp_path / "t.px"
    path.write_bytes(client.get(selection + "&outputFormat=px").content)
    assert all(len(line) <= 256 for line in path.read_text(encoding="utf-8").splitlines())
    parsed = pyaxis.parse(str(path), encoding="utf-8")
    assert len(parsed["DATA"]) == 3 * 2 * 7 and "TIMEVAL" not in path.read_text(encoding="utf-8")  # a period

    table = client.get(selection + "&outputFormat=json-px").json()
    assert [c["type"] for c in table["columns"]][:3] == ["t", "d", "c"]
    assert table["data"][0] == {"key": ["2022/23", "deltagare"], "values": ["3", "4", "40", "100", "40", "0.4", "0"]}

    page = client.get(selection + "&outputFormat=html&outputFormatParams=IncludeTitle").text
    assert page.count("<tr>") == 1 + 3 * 2 and "<h1>Insamling i riket" in page
    book = openpyxl.load_workbook(io.BytesIO(client.get(selection + "&outputFormat=xlsx").content))
    assert book["data"]["A1"].value == "mätperiod" and book["data"]["C2"].value == 3
    parquet = client.get(selection + "&outputFormat=parquet")
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"


def test_px_marks_a_cohort_year_with_timeval(home):
    with duckdb.connect(str(home.publish / "marts.duckdb")) as con:
        con.execute("create table support_transitions (cohort_year bigint, gender varchar, support_at_start varchar, "
                    "support_at_end varchar, participants bigint, status varchar)")
        con.execute("insert into support_transitions values (2023, 'T', 'alla', 'alla', 40, 'ok'), "
                    "(2024, 'T', 'alla', 'alla', 30, 'ok')")
    client = TestClient(create_app(), raise_server_exceptions=False)
    text = client.get("/tables/support_transitions/data?valueCodes[cohort_year]=*&outputFormat=px").content
    assert 'TIMEVAL("kohort (år insatsen avslutades)")=TLIST(A1),"2023","2024";' in text.decode("utf-8")
    path = home.publish.parent / "t.px"
    path.write_bytes(text)
    assert list(pyaxis.parse(str(path), encoding="utf-8")["DATA"]["DATA"][:2]) == ["40", "0"]


def test_px_keeps_every_line_within_256_characters(home):
    with duckdb.connect(str(home.publish / "marts.duckdb")) as con:
        con.execute("update insatser set description_sv = repeat('lång text ', 60) where sort_order = 0")
    client = TestClient(create_app(), raise_server_exceptions=False)
    text = client.get("/tables/insatser/data?outputFormat=px").content.decode("utf-8")
    assert max(len(line) for line in text.splitlines()) <= 256
    assert "beskrivning: lång text" in text and "… [description_sv." in text  # a long content label is shortened


def test_every_text_cell_is_escaped_in_every_spreadsheet_format(home, client, tmp_path):
    """A text starting with =, +, -, @, a tab or a carriage return gets a leading ' in csv, xlsx and html from the API,
    and in `nns export` csv (both dialects) and xlsx."""
    def escaped(cells) -> set[str]:
        return {c for c in cells if isinstance(c, str) and c.lstrip("'") in FORMULAS}

    selection = "/tables/insatser/data?valueCodes[insats]=*&valueCodes[ContentsCode]=sort_order"
    for show in ("UseCodes", "UseTexts", "UseCodesAndTexts"):
        text = client.get(selection + f"&outputFormat=csv&outputFormatParams={show},SeparatorComma").content
        stub = [row[0] for row in csv.reader(io.StringIO(text.decode("utf-8-sig"), newline=""))][1:]
        assert len(stub) == len(FORMULAS) and all(c.startswith("'") for c in stub), (show, stub)
    book = openpyxl.load_workbook(io.BytesIO(client.get(selection + "&outputFormat=xlsx").content))
    stub = [row[0].value for row in book["data"].iter_rows(min_row=2)]
    assert len(stub) == len(FORMULAS) and all(c.startswith("'") for c in stub), stub
    assert not any(c.data_type == "f" for row in book["data"].iter_rows() for c in row)
    page = client.get(selection + "&outputFormat=html").text
    assert page.count('<th scope="row">&#x27;') == len(FORMULAS) and '<th scope="row">=' not in page

    pub = open_cubes(home.publish / "marts.duckdb")
    for fmt, plain in (("csv", False), ("csv", True), ("xlsx", False)):
        path = export_table(pub, "insatser", fmt, tmp_path, plain=plain)
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""),
                                   delimiter="," if plain else ";"))
            cells = [c for row in rows[1:] for c in row]
        else:
            sheet = openpyxl.load_workbook(path)["data"]
            assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
            # openpyxl leaves xlsx's escape of a carriage return (_x000D_) as it is; Excel reads it as \r
            cells = [c.value.replace("_x000D_", "\r") if isinstance(c.value, str) else c.value
                     for row in sheet.iter_rows(min_row=3) for c in row]
        assert escaped(cells) == {"'" + f for f in FORMULAS}, (fmt, plain, cells)


def test_paging_links(home, client):
    page = client.get("/tables?pageSize=1&pageNumber=2").json()["page"]
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert set(links) == {"first", "previous", "next", "last"}
    assert "pageNumber=3" in links["next"] and "pageNumber=1" in links["previous"]
    last = client.get(links["last"].replace("http://testserver", "")).json()["page"]
    assert {link["rel"] for link in last["links"]} == {"first", "previous", "last"}
    assert client.get("/tables?includeDiscontinued=true").status_code == 200


def test_the_rate_limit_answers_429_with_retry_after(home):
    limited = TestClient(create_app(calls_per_window=3, time_window=60), raise_server_exceptions=False)
    answers = [limited.get("/config") for _ in range(4)]
    assert answers[0].json()["maxCallsPerTimeWindow"] == 3 and answers[0].json()["timeWindow"] == 60
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["content-type"].startswith("application/problem+json")
    assert 0 < int(answers[-1].headers["retry-after"]) <= 60
    window = RateLimit(2, 10)
    assert [window.wait("a", t) for t in (0, 1, 2)] == [0, 0, 8]  # 8 s until the call at 0 leaves the window
    assert window.wait("a", 10.5) == 0 and window.wait("b", 2) == 0  # the window slides; clients are apart


def test_the_cache_serves_a_build_until_the_next_is_swapped_in(home):
    cache = ResponseCache()
    client = TestClient(create_app(cache=cache), raise_server_exceptions=False)
    url = DATA + "?valueCodes[period]=*&valueCodes[respondent_group]=*&outputFormat=csv"
    first = client.get(url).content
    assert client.get(url).content == first and cache.hits == 1
    path = home.publish / "marts.duckdb"
    staged = path.with_name("new.duckdb")
    staged.write_bytes(path.read_bytes())
    with duckdb.connect(str(staged)) as con:
        con.execute("update collection_summary set answered = 41 where period = '2022/23'")
    staged.replace(path)
    assert client.get(url).content != first  # the new build, not the cached answer
    assert client.get("/tables?pastDays=3").status_code == 200 and cache.hits == 1  # pastDays is never cached


def test_nns_sql_reads_the_published_file_and_nothing_else(home, tmp_path, capsys):
    """docs/analysts.md section 1: a select works; reading or writing other files, attaching, extensions and
    changing the settings back are refused (exit 1)."""
    from operations.cli import main

    assert main(["sql", "select count(*) as rows from collection_summary"]) == 0
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    for sql in [f"select * from read_csv('{outside}')", "select * from read_text('/etc/passwd')",
                f"copy (select 1) to '{tmp_path / 'out.csv'}'", f"attach '{tmp_path / 'x.duckdb'}' as x",
                f"export database '{tmp_path / 'dump'}'", "set enable_external_access = true", "load httpfs",
                "create table scratch as select 1"]:
        assert main(["sql", sql]) == 1, sql
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "dump").exists()
    assert "disabled" in capsys.readouterr().err
