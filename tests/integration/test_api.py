"""The read API (PxWebApi 2.0) with real clients: pxwebpy reads every table in the published file whole,
pyjstat parses json-stat2 and pyaxis px of every table, and every bad request gets the spec's Problem. The
server runs as `nns serve` on loopback over a copy of the session's small build, and every cell is compared
with the published database."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import psutil
import pytest
import requests
from pxweb import PxApi
from pyaxis import pyaxis
from pyjstat import pyjstat

from api.cubes import CONTENTS, SUPPRESSED_CONTENT
from operations.cli import main
from publication.spec import PUBLISHED

SPECS = {s.name: s for s in PUBLISHED}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api_home(small_build, tmp_path_factory):
    """A copy of the small build's data home for this module (the server reads only publish/)."""
    home = tmp_path_factory.mktemp("api") / "home"
    shutil.copytree(small_build / "publish", home / "publish", symlinks=True)
    return home


@pytest.fixture(scope="module")
def server(api_home):
    """`nns serve` on a free loopback port; yields its base URL."""
    port = _free_port()
    env = dict(os.environ, NNS_HOME=str(api_home))
    process = subprocess.Popen([str(Path(sys.executable).with_name("nns")), "serve", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/config", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("nns serve did not start: " + process.stderr.read().decode()[-2000:])
    yield url
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert b"Traceback" not in err, err.decode()[-3000:]


def published(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "publish" / "marts.duckdb"), read_only=True) as con:
        return con.sql(sql).df()


def _same(value, text: str) -> bool:
    """Whether a text the API shows is the database's value: a list joined with ", ", a time the same instant."""
    if isinstance(value, list | np.ndarray):
        return ", ".join(value) == text
    if value is None or pd.isna(value):
        return False
    if isinstance(value, pd.Timestamp):
        return pd.Timestamp(text) == value
    return str(value) == text


def expected_cells(home: Path, table: str, keys: list[str], contents: dict[str, str]) -> dict[tuple, float | str]:
    """Every cell the API should give for the table's rows, by value codes: a column's number (yes/no as 1/0),
    for a text content 1 where the row holds that text and 0 where it does not, or '..' for a value hidden with a
    suppressed row. Any other cell has no value ('.'). A text content's label is "column name: text"."""
    db = published(home, f'select * from "{table}"')
    assert not db.duplicated(keys).any(), f"{keys} is not the key of {table}"
    nulled = set(SPECS[table].nulled) if table in SPECS else set()
    cells: dict[tuple, float | str] = {}
    for row in db.to_dict("records"):
        key = tuple(str(row[k]) for k in keys)
        for code, label in contents.items():
            if code == SUPPRESSED_CONTENT:  # the row's status as a number
                cells[(*key, code)] = float(row["status"] == "..")
            elif code not in row:  # a text: column.digest
                cells[(*key, code)] = float(_same(row[code.rsplit(".", 1)[0]], label.split(": ", 1)[1]))
            elif not pd.isna(row[code]):
                cells[(*key, code)] = float(row[code])
            elif row.get("status") == ".." and code in nulled:
                cells[(*key, code)] = ".."
    return cells


def compare(got: dict[tuple, float | str | None], expected: dict[tuple, float | str], table: str) -> None:
    """The cells a client read against the database's. A client that shows the status gives '..' or '.' for a
    cell without a value; pxwebpy gives None for both."""
    for cell, value in got.items():
        want = expected.get(cell, ".")
        if isinstance(want, str):
            assert value is None or value == want, (table, cell, value, want)
        else:
            assert value == pytest.approx(want, abs=1e-12), (table, cell, value, want)


def test_pxwebpy_reads_every_table_cell_for_cell(server, api_home):
    api = PxApi(server, disable_cache=True)
    assert api.get_config()["maxDataCells"] == 150_000
    tables = {t["id"] for t in api.all_tables()}
    in_file = set(published(api_home, "select table_name from duckdb_tables()")["table_name"])
    assert tables == in_file, tables ^ in_file
    for table in sorted(tables):
        variables = api.get_table_variables(table)
        keys = list(variables)[:-1]
        assert list(variables)[-1] == CONTENTS
        contents = variables[CONTENTS]["category"]["label"]
        # pxwebpy names its columns by the variables' labels; map them back to codes
        label_to_code = {v["label"]: code for code, v in variables.items()}
        frame = pd.DataFrame(api.get_table_data_all(table, show="code")).rename(columns=label_to_code)
        got = dict(zip(frame[[*keys, CONTENTS]].itertuples(index=False, name=None), frame["value"], strict=True))
        assert len(got) == len(frame), table
        expected = expected_cells(api_home, table, keys, contents)
        assert set(expected) <= set(got), table
        compare({c: None if pd.isna(v) else v for c, v in got.items()}, expected, table)
        # which columns are served: every one in a table that is not a statistic (a column with no value in any
        # row has no text to show); in a protected table, the numbers and yes/no outside its grain
        db = published(api_home, f'select * from "{table}"')
        served = {c if c in db.columns else c.rsplit(".", 1)[0] for c in contents} - {SUPPRESSED_CONTENT}
        spec = SPECS.get(table)
        if spec is not None and spec.protected:
            assert served == {c for c in db.columns if c not in {*spec.keys, "status"}
                              and pd.api.types.is_numeric_dtype(db[c])}, table
            if (db["status"] == "..").any():
                assert ".." in expected.values(), table
        else:
            assert served == {c for c in db.columns if c not in keys and db[c].notna().any()}, table


def test_every_table_read_by_pyjstat_and_pyaxis(server, api_home, tmp_path):
    """Each table's default selection as json-stat2 read by pyjstat and as px read by pyaxis, cell by cell."""
    for table in [t["id"] for t in requests.get(server + "/tables?pageSize=100", timeout=30).json()["tables"]]:
        response = requests.get(f"{server}/tables/{table}/data", timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        keys, contents = body["id"][:-1], body["dimension"][CONTENTS]["category"]["label"]
        expected = expected_cells(api_home, table, keys, contents)

        frame = pyjstat.Dataset.read(response.text).write("dataframe", naming="id")
        assert len(frame) == len(body["value"]), table
        status = body.get("status", {})
        cells = frame[body["id"]].itertuples(index=False, name=None)
        compare({cell: status.get(str(i), value) if pd.isna(value) else value
                 for i, (cell, value) in enumerate(zip(cells, frame["value"], strict=True))}, expected, table)

        path = tmp_path / f"{table}.px"
        path.write_bytes(requests.get(f"{server}/tables/{table}/data", params={"outputFormat": "px"},
                                      timeout=30).content)
        parsed = pyaxis.parse(str(path), encoding="utf-8")
        meta, data = parsed["METADATA"], parsed["DATA"]["DATA"]
        # the cells in px order (the stub, then the heading, the last fastest), by their codes
        cells = itertools.product(*[meta[f"CODES({name})"] for name in meta.get("STUB", []) + meta["HEADING"]])
        # pyaxis reads ".." as NaN and "." as empty
        compare({cell: ".." if pd.isna(value) else "." if value == "" else float(value)
                 for cell, value in zip(cells, data, strict=True)}, expected, table)


REPO = Path(__file__).resolve().parents[2]
DEFAULT_URL = "http://127.0.0.1:8081"


def _blocks(path: Path, language: str, after: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text[text.index(after):], re.DOTALL)


def test_the_documented_snippets_match_the_api(server, api_home):
    """The README's and the analysts' guide's pxwebpy code runs against the server (the guide's recipe gives the
    federations table back row for row); their R pxweb queries name tables, variables and values the API has."""
    readme, guide = REPO / "README.md", REPO / "docs" / "analysts.md"
    python = _blocks(readme, "python", "### The read API") + _blocks(guide, "python", "### Connecting")[:1]
    assert len(python) == 2 and all(DEFAULT_URL in code for code in python)
    for code in python:
        names: dict = {}
        exec(code.replace(DEFAULT_URL, server), names)  # noqa: S102 - our own documentation
        assert names["rows"] and all(set(r) >= {"value"} for r in names["rows"])
    db = published(api_home, "select * from federations").set_index("federation_code")
    rows = names["federations"]
    assert set(rows.index) == set(db.index)
    assert set(rows.columns) == {c for c in db.columns if db[c].notna().any()}
    for column in rows.columns:
        for code, text in rows[column].items():
            want = db.at[code, column]
            assert _same(want, text) if isinstance(text, str) else want is None or pd.isna(want), (code, column)

    r_blocks = _blocks(readme, "r", "### The read API") + _blocks(guide, "r", "### Connecting")[:1]
    assert len(r_blocks) == 2
    for code in r_blocks:
        table = re.search(rf'"{re.escape(DEFAULT_URL)}/tables/(\w+)"', code).group(1)
        variables = requests.get(f"{server}/tables/{table}/metadata", timeout=30).json()["dimension"]
        start = end = code.index("list(") + len("list(")
        depth = 1
        while depth:  # the query is the list(...) up to its closing parenthesis
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            end += 1
        query = re.findall(r"(\w+) = (c\([^)]*\)|\"[^\"]*\")", code[start:end - 1])
        assert len(query) >= 5, code
        for name, values in query:
            assert name in variables, (table, name)
            for value in re.findall(r'"([^"]*)"', values):
                assert value == "*" or value in variables[name]["category"]["index"], (table, name, value)


def test_metadata_labels_contact_source_and_update(server, api_home):
    meta = requests.get(server + "/tables/indicator_results/metadata").json()
    publication = published(api_home, "select * from publication").iloc[0]
    assert meta["class"] == "dataset" and meta["version"] == "2.0"
    assert meta["source"] == "NNS indikatorarbete" and "Källa: NNS indikatorarbete" in meta["note"]
    assert meta["updated"] == pd.Timestamp(publication["published_at"]).tz_convert("UTC").strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert meta["extension"]["contact"][0]["raw"]
    gender = meta["dimension"]["gender"]
    assert gender["category"]["label"] == {"T": "Totalt", "K": "Kvinnor", "M": "Män"}
    assert gender["extension"]["eliminationValueCode"] == "T"
    federations = meta["dimension"]["federation_code"]["category"]["label"]
    names = published(api_home, "select federation_code, federation_name from federations")
    for code, name in names.itertuples(index=False):
        if code in federations:
            assert federations[code] == name
    assert federations["RIKET"] == "Riket"
    indicators = published(api_home, "select indicator_id, indicator_title from indicators")
    labels = meta["dimension"]["indicator_id"]["category"]["label"]
    for indicator_id, title in indicators.itertuples(index=False):
        if str(indicator_id) in labels:
            assert labels[str(indicator_id)] == title
    units = meta["dimension"][CONTENTS]["category"]["unit"]
    assert units["n"] == {"base": "antal", "decimals": 0} and units["positive_share"]["decimals"] == 4
    period = meta["dimension"]["period"]["extension"]["refperiod"]
    assert period["2022/23"] == "1 november 2022 – 31 oktober 2023"
    english = requests.get(server + "/tables/indicator_results/metadata?lang=en").json()
    assert english["dimension"]["gender"]["category"]["label"]["K"] == "Women"
    assert english["dimension"]["gender"]["label"] == "gender"
    codelist = requests.get(server + "/codelists/vs_federation_code").json()
    assert {v["code"] for v in codelist["values"]} == set(names["federation_code"])


SELECTION = {"selection": [{"variableCode": "period", "valueCodes": ["*"]},
                           {"variableCode": "respondent_group", "valueCodes": ["deltagare"]},
                           {"variableCode": "indicator_id", "valueCodes": ["*"]},
                           {"variableCode": "federation_code", "valueCodes": ["*"]},
                           {"variableCode": "gender", "valueCodes": ["*"]},
                           {"variableCode": CONTENTS, "valueCodes": ["n", "positive_share"]}]}


def _db_cells(home: Path) -> dict:
    db = published(home, "select * from indicator_results where respondent_group = 'deltagare'")
    return {(r.period, str(r.indicator_id), r.federation_code, r.gender): r for r in db.itertuples(index=False)}


def test_json_stat2_read_by_pyjstat_with_the_status_of_suppressed_cells(server, api_home):
    response = requests.post(server + "/tables/indicator_results/data", json=SELECTION)
    assert response.status_code == 200
    body = response.json()
    dataset = pyjstat.Dataset.read(response.text)
    frame = dataset.write("dataframe", naming="id")
    assert len(frame) == len(body["value"])
    rows = _db_cells(api_home)
    suppressed = 0
    for i, record in enumerate(frame.itertuples(index=False)):
        r = record._asdict()
        row = rows.get((r["period"], r["indicator_id"], r["federation_code"], r["gender"]))
        want = None if row is None else getattr(row, r[CONTENTS])
        if row is not None and row.status == "..":
            assert pd.isna(r["value"]) and body["status"][str(i)] == ".."
            suppressed += 1
        elif want is None or pd.isna(want):
            assert pd.isna(r["value"]) and body["status"][str(i)] == "."
        else:
            assert r["value"] == pytest.approx(float(want)) and str(i) not in body.get("status", {})
    assert suppressed > 0


def test_px_read_by_pyaxis(server, api_home, tmp_path):
    response = requests.post(server + "/tables/indicator_results/data?outputFormat=px", json=SELECTION)
    assert response.status_code == 200
    path = tmp_path / "indicator_results.px"
    path.write_bytes(response.content)
    parsed = pyaxis.parse(str(path), encoding="utf-8")
    meta, frame = parsed["METADATA"], parsed["DATA"]
    assert meta["SOURCE"] == ["NNS indikatorarbete"]
    codes = {name: meta[f"CODES({name})"] for name in meta["STUB"] + meta["HEADING"]}
    labels = {name: meta[f"VALUES({name})"] for name in codes}
    # back from labels to codes, dimension by dimension
    for name in codes:
        frame[name] = frame[name].map(dict(zip(labels[name], codes[name], strict=True)))
    frame.columns = ["period", "respondent_group", "indicator_id", "federation_code", "gender", CONTENTS, "DATA"]
    rows = _db_cells(api_home)
    suppressed = 0
    for r in frame.itertuples(index=False):
        row = rows.get((r.period, r.indicator_id, r.federation_code, r.gender))
        if row is not None and row.status == "..":
            assert pd.isna(r.DATA)  # pyaxis reads ".." as NaN (disclosure)
            suppressed += 1
        elif row is None or pd.isna(getattr(row, r.ContentsCode)):
            assert r.DATA == ""  # pyaxis reads "." as empty (no value)
        else:
            assert float(r.DATA) == pytest.approx(float(getattr(row, r.ContentsCode)))
    assert suppressed > 0


BAD = [
    ("get", "/tables/no_such_table", None, 404),
    ("get", "/tables/no_such_table/metadata", None, 404),
    ("get", "/tables/indicator_results;drop table x/data", None, 404),
    ("get", '/tables/indicator_results/data?valueCodes[gender]=X', None, 400),
    ("get", "/tables/indicator_results/data?valueCodes[gender';--]=K", None, 400),
    ("get", "/tables/indicator_results/data?valueCodes[period]=top(x)", None, 400),
    ("get", "/tables/indicator_results/data?valueCodes[period]=a*b*c", None, 400),
    ("get", "/tables/indicator_results/data?valueCodes[period]=*&outputFormat=sdmx", None, 400),
    ("get", "/tables/indicator_results/data?valueCodes[period]=*&lang=xx", None, 400),
    ("get", "/tables?pageSize=0", None, 400),
    ("get", "/tables?pageNumber=-1", None, 400),
    ("get", "/codelists/vs_nothing", None, 404),
    ("get", "/indicator11_outcomes", None, 404),
    # every cell of indicator11_outcomes is more than maxDataCells on the small profile
    ("get", "/tables/indicator11_outcomes/data?valueCodes[cohort_year]=*&valueCodes[followup_months]=*"
            "&valueCodes[federation_code]=*&valueCodes[gender]=*&valueCodes[insats]=*&valueCodes[support_at_start]=*",
     None, 403),
    ("post", "/tables/indicator_results/data", b"\xff\xfe\x00not utf-8", 400),
    ("post", "/tables/indicator_results/data", b"{not json", 400),
    ("post", "/tables/indicator_results/data", b'{"selection": "all"}', 400),
    ("post", "/tables/indicator_results/data", b'{"selection": [{"variableCode": "gender", "valueCodes": [1]}]}', 400),
    ("post", "/tables/indicator_results/data", b'{"selection": [{"variableCode": "period"}]}', 400),
    ("post", "/tables/indicator_results/data", json.dumps({"selection": [
        {"variableCode": "period", "valueCodes": ["x" * 100] * 2000}]}).encode(), 400),  # oversized
    ("post", "/tables/indicator_results/data", b'{"selection": [{"variableCode": "period", "valueCodes": '
                                               b'["2022/23\' or 1=1 --"]}]}', 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD, ids=[f"{b[0]} {b[1][:60]}" for b in BAD])
def test_bad_input_gets_the_spec_problem(server, method, path, body, status):
    response = requests.request(method, server + path, data=body, timeout=30,
                                headers={"Content-Type": "application/json"} if body is not None else {})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert "Traceback" not in response.text


def test_a_new_build_is_seen_without_a_restart(server, api_home, tmp_path):
    before = requests.get(server + "/tables/indicator_results").json()["updated"]
    database = api_home / "publish" / "marts.duckdb"
    staged = database.with_name("marts.duckdb.new")
    shutil.copy(database, staged)
    with duckdb.connect(str(staged)) as con:
        con.execute("update publication set published_at = '2030-01-02T03:04:05+00:00'")
    os.replace(staged, database)  # the atomic swap publication does
    after = requests.get(server + "/tables/indicator_results").json()["updated"]
    assert before != after == "2030-01-02T03:04:05Z"


def test_exports(published_home, tmp_path, monkeypatch):
    out = tmp_path / "out"
    for fmt in ("csv", "xlsx", "parquet"):
        assert main(["export", "--all", "--format", fmt, "--out", str(out)]) == 0
    assert main(["export", "indicator_results", "--format", "csv", "--plain", "--out", str(out)]) == 0
    assert main(["export", "--all", "--format", "px", "--out", str(out)]) == 0
    in_file = set(published(published_home.home, "select table_name from duckdb_tables()")["table_name"])
    assert {path.stem for path in out.glob("*.px")} == {path.stem for path in out.glob("*.parquet")} == in_file
    assert main(["export", "no_such_table", "--out", str(out)]) == 2
    home = published_home.home
    db = published(home, "select * from indicator_results order by all")

    raw = (out / "indicator_results.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    excel = pd.read_csv(out / "indicator_results.csv", sep=";", decimal=",", encoding="utf-8-sig",
                        na_values=[".."], keep_default_na=False, dtype={"period": str})
    assert list(excel.columns) == list(db.columns) and len(excel) == len(db)
    text = raw.decode("utf-8-sig")
    assert ";..;" in text and "0," in text
    plain = pd.read_csv(out / "indicator_results.plain.csv")
    assert len(plain) == len(db) and plain["positive_share"].dtype == float

    parquet = pd.read_parquet(out / "indicator_results.parquet")
    with duckdb.connect(str(home / "publish" / "marts.duckdb"), read_only=True) as con:
        types = dict(con.execute("select column_name, data_type from duckdb_columns() "
                                 "where table_name = 'indicator_results'").fetchall())
        roundtrip = dict(con.execute(f"select column_name, column_type from (describe select * from "
                                     f"read_parquet('{out / 'indicator_results.parquet'}'))").fetchall())
    assert roundtrip == types and len(parquet) == len(db)

    book = openpyxl.load_workbook(out / "indicator_results.xlsx", read_only=True)
    sheet = book["data"]
    header, units = [list(r) for r in sheet.iter_rows(min_row=1, max_row=2, values_only=True)]
    assert header == list(db.columns) and units[header.index("positive_share")] == "andel (0–1)"
    about = [c for row in book["om tabellen"].iter_rows(values_only=True) for c in row if c]
    assert ".." in about and any("skyddad" in str(c) for c in about)

    parsed = pyaxis.parse(str(out / "indicator_results.px"), encoding="utf-8")
    assert parsed["DATA"]["DATA"].isna().sum() == \
        int((db["status"] == "..").sum()) * len(SPECS["indicator_results"].nulled)


def test_the_guide_states_the_duckdb_version_the_file_needs(api_home):
    with duckdb.connect(str(api_home / "publish" / "marts.duckdb"), read_only=True) as con:
        tags = con.execute("select tags from duckdb_databases() where database_name = 'marts'").fetchone()[0]
    version = tags["storage_version"].rstrip("+").lstrip("v")
    guide = (Path(__file__).resolve().parents[2] / "docs" / "analysts.md").read_text(encoding="utf-8")
    assert f"**The minimum DuckDB version is {version}.**" in guide
    assert f"`storage_version: v{version}+`" in guide


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_no_request_reaches_a_file_outside_publish(api_home, tmp_path):
    """The read API serves only the published database: traced, every file the server opens while
    answering every kind of request is under publish/ (or the Python installation), never the
    warehouse, the lake or the ledger, though a decoy of each lies in the data home."""
    (api_home / "warehouse.duckdb").write_bytes(b"decoy: the server must never open this")
    (api_home / "lake" / "ledger").mkdir(parents=True, exist_ok=True)
    port, trace = _free_port(), tmp_path / "open.trace"
    env = dict(os.environ, NNS_HOME=str(api_home))
    process = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", str(trace),
                                str(Path(sys.executable).with_name("nns")), "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/config", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        started = trace.read_text().count("\n")  # start-up (imports) is not a request
        tables = requests.get(url + "/tables", timeout=30).json()["tables"]
        for table in tables:
            requests.get(f"{url}/tables/{table['id']}/metadata", timeout=30)
            for fmt in ("json-stat2", "csv", "xlsx", "parquet", "px"):
                requests.get(f"{url}/tables/{table['id']}/data", params={"outputFormat": fmt}, timeout=60)
        requests.get(url + "/tables/../../warehouse/data", timeout=30)
        requests.get(url + "/codelists/federations", timeout=30)
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):  # the server, under strace
            child.terminate()
        process.wait(timeout=30)
    opened = re.findall(r'open(?:at2?)?\([^"]*"([^"]+)"', "\n".join(trace.read_text().splitlines()[started:]))
    home = str(api_home.resolve())
    inside_home = {p for p in opened if p.startswith(home)}
    assert inside_home, "the trace saw the server open the published database"
    outside_publish = sorted(p for p in inside_home if not p.startswith(home + "/publish/"))
    assert outside_publish == [], outside_publish


def test_a_script_written_the_way_statistics_swedens_examples_are(server, api_home):
    """requests and pandas as SCB's PxWebApi 2.0 examples use them: a POST selection with expressions, a codelist and
    a placement, csv read by pandas, the same as json-stat2 through pyjstat; then pxwebpy with code_list= and the
    suppressed content that keeps the status."""
    url = f"{server}/tables/indicator_results/data"
    query = {"selection": [
        {"variableCode": "period", "valueCodes": ["top(2)"]},
        {"variableCode": "respondent_group", "valueCodes": ["deltagare"]},
        {"variableCode": "indicator_id", "valueCodes": ["range(1,4)"]},
        {"variableCode": "federation_code", "codeList": "vs_federation_code", "valueCodes": ["SF0?"]},
        {"variableCode": "gender", "valueCodes": ["K", "M"]},
        {"variableCode": "ContentsCode", "valueCodes": ["n", "positive_share", "suppressed"]}],
        "placement": {"heading": ["ContentsCode"], "stub": ["period", "respondent_group", "indicator_id",
                                                            "federation_code", "gender"]}}
    response = requests.post(url, json=query, params={"lang": "sv", "outputFormat": "csv",
                                                      "outputFormatParams": "UseCodes,SeparatorSemicolon"},
                             timeout=30)
    assert response.status_code == 200, response.text
    frame = pd.read_csv(io.StringIO(response.content.decode("utf-8-sig")), sep=";", decimal=",",
                        na_values=["..", "."], keep_default_na=False, dtype={"period": str, "indicator_id": str})
    latest_two = published(api_home, "select distinct period from indicator_results order by period desc limit 2")
    assert set(frame["period"]) <= set(latest_two["period"]) and "RIKET" not in set(frame["federation_code"])
    db = published(api_home, "select * from indicator_results where respondent_group = 'deltagare'")
    rows = {(r.period, str(r.indicator_id), r.federation_code, r.gender): r for r in db.itertuples(index=False)}
    for r in frame.itertuples(index=False):
        row = rows.get((r.period, r.indicator_id, r.federation_code, r.gender))
        if row is None:
            assert pd.isna(r.n) and pd.isna(r.suppressed)
        else:
            assert r.suppressed == float(row.status == "..")
            assert (pd.isna(r.n) and (row.status == ".." or pd.isna(row.n))) or r.n == row.n
    stat = requests.post(url, json=query, timeout=30)
    assert pyjstat.Dataset.read(stat.text).write("dataframe", naming="id").shape[0] == len(frame) * 3

    api = PxApi(server, disable_cache=True)
    cells = pd.DataFrame(api.get_table_data("indicator_results", value_codes={
        "period": "*", "respondent_group": "deltagare", "indicator_id": "4", "federation_code": "*",
        "gender": ["K", "M"], "ContentsCode": ["n", "suppressed"]}, code_list={"federation_code": "vs_federation_code"},
        show="code"))
    assert "RIKET" not in set(cells["samordningsförbund"])
    wide = cells.pivot(index=["mätperiod", "samordningsförbund", "kön"], columns="tabellinnehåll", values="value")
    hidden = published(api_home, "select count(*) as c from indicator_results where respondent_group = 'deltagare' "
                                 "and indicator_id = 4 and federation_code <> 'RIKET' and gender in ('K', 'M') "
                                 "and status = '..'")["c"][0]
    assert int((wide["suppressed"] == 1).sum()) == hidden > 0
    assert wide.loc[wide["suppressed"] == 1, "n"].isna().all()


def test_metadata_validates_and_loads_with_pyjstat(server):
    from jsonstat_validator import validate_jsonstat

    for table in ("indicator_results", "federations", "collection_summary"):
        body = requests.get(f"{server}/tables/{table}/metadata", timeout=30).json()
        assert body["value"] == {} and validate_jsonstat(body)
        data = requests.get(f"{server}/tables/{table}/data", timeout=30).json()
        assert validate_jsonstat(data)
    small = requests.get(f"{server}/tables/collection_summary/metadata", timeout=30)
    assert len(pyjstat.Dataset.read(small.text).write("dataframe")) == int(np.prod(small.json()["size"]))


def test_the_rate_limit_is_enforced_by_the_real_server(api_home):
    port = _free_port()
    process = subprocess.Popen([str(Path(sys.executable).with_name("nns")), "serve", "--port", str(port),
                                "--calls-per-window", "20", "--time-window", "30"],
                               env=dict(os.environ, NNS_HOME=str(api_home)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                first = requests.get(url + "/config", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert first.json()["maxCallsPerTimeWindow"] == 20 and first.json()["timeWindow"] == 30
        statuses = [requests.get(url + "/tables/indicator_results", timeout=10) for _ in range(25)]
        assert [r.status_code for r in statuses].count(200) == 19  # the /config call counted too
        refused = statuses[-1]
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["status"] == 429
    finally:
        process.terminate()
        process.wait(timeout=10)
