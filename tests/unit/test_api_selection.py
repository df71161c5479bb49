"""The read API without a build: value expressions, elimination, maxDataCells, the allow-list, tables that are not
statistics, the compose service."""

from __future__ import annotations

import duckdb
import pytest
import yaml
from fastapi.testclient import TestClient

from api import data
from api.app import MAX_BODY, create_app
from api.cubes import CONTENTS, open_cubes
from api.export import EXPORT_FORMATS, ExportRefused, export_table
from api.formats import FORMATS
from core.settings import REPO_ROOT, get_settings
from publication.spec import TABLES

PERIODS = ["2022/23", "2023/24", "2024/25"]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A published file with one protected table and the publication row, written by hand."""
    monkeypatch.setenv("NNS_HOME", str(tmp_path))
    (tmp_path / "publish").mkdir()
    with duckdb.connect(str(tmp_path / "publish" / "marts.duckdb")) as con:
        con.execute("create table collection_summary (period varchar, respondent_group varchar, federations bigint, "
                    "federations_in_period bigint, questionnaires bigint, asked bigint, answered bigint, "
                    "response_rate double, status varchar)")
        con.execute("insert into collection_summary values "
                    "('2022/23', 'deltagare', 3, 4, 40, 100, 40, 0.4, 'ok'), "
                    "('2023/24', 'deltagare', 3, 4, null, null, null, null, '..'), "
                    "('2024/25', 'styrelse', 2, 4, 12, 20, 12, 0.6, 'ok')")
        con.execute("create table publication (published_at varchar, disclosure_threshold integer, "
                    "warehouse_built_at varchar, tables varchar)")
        con.execute("insert into publication values ('2026-11-22T12:49:36+00:00', 5, "
                    "'2026-11-22T12:49:22+00:00', 'collection_summary')")
    return get_settings()


def test_value_expressions():
    values = ["SF01", "SF02", "SF17", "RIKET"]
    assert data.expand(values, "*", "f") == values
    assert data.expand(values, "SF0*", "f") == ["SF01", "SF02"]
    assert data.expand(values, "*7", "f") == ["SF17"]
    assert data.expand(values, "*F1*", "f") == ["SF17"]
    assert data.expand(values, "top(2)", "f") == ["SF01", "SF02"]
    assert data.expand(PERIODS, "top(1)", "period", time=True) == ["2024/25"]
    assert data.expand(PERIODS, "bottom(1)", "period", time=True) == ["2022/23"]
    for bad in ["SF99", "S*F*1", "top(x)", "", "x" * 201]:
        with pytest.raises(data.BadSelection):
            data.expand(values, bad, "f")


def test_selection_elimination_and_max_cells(tiny):
    pub = open_cubes(tiny.publish / "marts.duckdb")
    cube = pub.cube("collection_summary")
    assert [d.code for d in cube.dimensions] == ["period", "respondent_group", CONTENTS]
    with pytest.raises(data.BadSelection, match="cannot be eliminated"):
        data.resolve(cube, {"period": ["*"]})
    with pytest.raises(data.BadSelection, match="not a variable"):
        data.resolve(cube, {"period; drop table x": ["*"]})
    resolved = data.resolve(cube, {"period": ["*"], "respondent_group": ["*"]})
    width = 7  # six columns and `suppressed`, the row's status as 1 or 0
    assert data.cell_count(resolved) == 3 * 2 * width
    with pytest.raises(data.TooManyCells):
        data.fetch(pub, cube, resolved, max_cells=3 * 2 * width - 1)
    result = data.fetch(pub, cube, resolved, max_cells=3 * 2 * width)
    # 2023/24 deltagare is suppressed: its nulled values are '..', its federations still shown, suppressed is 1
    row = (1 * 2 + 0) * width
    assert result.values[row:row + 2] == [3, 4]
    assert [result.status.get(row + j) for j in range(2, 6)] == [".."] * 4
    assert result.values[row + 6] == 1 and result.values[6] == 0
    # 2022/23 styrelse has no row: '.'
    assert all(result.status[(0 * 2 + 1) * width + j] == "." for j in range(width))


def test_http_shapes_and_a_swap_without_restart(tiny):
    client = TestClient(create_app(), raise_server_exceptions=False)
    assert client.get("/config").json()["maxDataCells"] == tiny.api_max_cells
    assert [t["id"] for t in client.get("/tables").json()["tables"]] == ["collection_summary", "publication"]
    bad = client.get("/tables/collection_summary/data?valueCodes[period]=1999/00&valueCodes[respondent_group]=*")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert "1999/00" in bad.json()["detail"]
    path = tiny.publish / "marts.duckdb"
    staged = path.with_name("new.duckdb")
    staged.write_bytes(path.read_bytes())
    with duckdb.connect(str(staged)) as con:
        con.execute("update publication set published_at = '2030-01-01T00:00:00+00:00'")
    staged.replace(path)
    assert client.get("/tables/collection_summary").json()["updated"] == "2030-01-01T00:00:00Z"


def test_a_table_that_is_not_a_statistic_is_served_whole(tiny):
    """Numbers and yes/no are contents; each text of a text column is a content of its own, 1 in the row holding
    it and 0 in the others; a table the API has no row key for is not served."""
    with duckdb.connect(str(tiny.publish / "marts.duckdb")) as con:
        con.execute("create table federations (federation_code varchar, federation_name varchar, lan varchar, "
                    "predecessor_codes varchar[], change_note varchar)")
        con.execute("insert into federations values ('SF19', 'Väster', 'Västra Götalands län', [], 'gick upp i SF23'), "
                    "('SF23', 'Göteborg', 'Västra Götalands län', ['SF19', 'SF20'], null)")
        con.execute("create table end_reasons (end_reason varchar, label_sv varchar, is_work_or_studies boolean)")
        con.execute("insert into end_reasons values ('studier', 'Studier', true), ('ovrigt', 'Övrigt', false)")
        con.execute("create table scratch (x integer)")
    pub = open_cubes(tiny.publish / "marts.duckdb")
    # A table publication.spec does not describe is never served or exported.
    assert pub.cube("scratch") is None and "scratch" not in pub.cube_ids() and pub.db.unknown == ["scratch"]
    with pytest.raises(ExportRefused, match="not a published table"):
        export_table(pub, "scratch", "csv", tiny.publish)
    cube = pub.cube("federations")
    assert [d.code for d in cube.dimensions] == ["federation_code", CONTENTS]
    result = data.fetch(pub, cube, data.resolve(cube, {"federation_code": ["*"]}), max_cells=1000)
    contents = result.selection[CONTENTS]
    cells = [(f, c) for f in result.selection["federation_code"] for c in contents]
    cell = dict(zip(cells, result.values, strict=True))
    labels = cube.contents.labels

    def shown(federation: str, column: str) -> list[str]:
        return [labels[c][0] for c in contents if c.startswith(column + ".") and cell[(federation, c)] == 1]

    assert shown("SF19", "lan") == shown("SF23", "lan") == ["län: Västra Götalands län"]
    assert shown("SF23", "predecessor_codes") == ["föregångare: SF19, SF20"]
    assert shown("SF19", "predecessor_codes") == ["föregångare: "]  # an empty list, not null
    assert shown("SF19", "change_note") == ["förändring: gick upp i SF23"] and shown("SF23", "change_note") == []
    assert all(v in (0, 1) for v in result.values) and not result.status
    assert cube.dimension("federation_code").labels["SF23"] == ("Göteborg", "Göteborg")
    reasons = pub.cube("end_reasons")
    result = data.fetch(pub, reasons, data.resolve(reasons, {"end_reason": ["*"], CONTENTS: ["is_work_or_studies"]}),
                        max_cells=10)
    assert dict(zip(result.selection["end_reason"], result.values, strict=True)) == {"ovrigt": 0, "studier": 1}


def test_the_compose_service_is_read_only_and_on_loopback():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["pxweb-api"]
    assert service["ports"] == ["${PXWEB_API_BIND:-127.0.0.1}:8081:8081"]
    assert all(volume.endswith(":ro") for volume in service["volumes"])
    assert service["entrypoint"] == ["nns"] and service["command"][0] == "serve"


def test_the_analysts_guide_states_what_the_code_does():
    guide = (REPO_ROOT / "docs" / "analysts.md").read_text(encoding="utf-8")
    section = guide[guide.index("## 7. The read API and exports"):]
    for fmt in FORMATS:
        assert f"`{fmt}`" in section, fmt
    for fmt in EXPORT_FORMATS:
        assert f"TABLE.{fmt}" in section, fmt
    assert "`--plain`" in section and "TABLE.plain.csv" in section
    assert f"{get_settings().api_max_cells:,}".replace(",", " ") in section  # maxDataCells' default
    assert f"{MAX_BODY // 1024} KiB" in section
    assert "`NNS_CONTACT`" in section and "`NNS_API_MAX_CELLS`" in section
    assert "Källa: NNS indikatorarbete" in section
    for spec in TABLES:  # each table's variables
        key = ", ".join(f"`{k}`" for k in spec.dimensions)
        assert f"| `{spec.name}` | {key} |" in section, spec.name


def test_an_empty_table_is_served_without_an_error(tiny):
    """Before the first register extract the register tables have no rows: still a table, never a 500."""
    with duckdb.connect(str(tiny.publish / "marts.duckdb")) as con:
        con.execute("delete from collection_summary")
    client = TestClient(create_app(), raise_server_exceptions=False)
    assert client.get("/tables").json()["tables"][0]["lastPeriod"] is None
    assert client.get("/tables/collection_summary/metadata").status_code == 200
    response = client.get("/tables/collection_summary/data")
    assert response.status_code == 400 and "matches no value" in response.json()["detail"]
