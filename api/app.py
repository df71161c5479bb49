"""PxWebApi 2.0 over publish/marts.duckdb: read-only, in the shapes of PxTools/PxApiSpecs PxAPI-2.yml.

Endpoints: /config, /tables (paging and a query), /tables/{id}, /tables/{id}/metadata (JSON-stat 2.0),
/tables/{id}/defaultselection, /tables/{id}/data (GET with valueCodes[VAR]=a,b and POST with a
selection), and /codelists/{id}. Every error is the spec's Problem (application/problem+json):
400 a bad request, 403 a selection over maxDataCells, 404 an unknown table or codelist; never a
traceback.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import data as selection
from api import formats
from api.cubes import CONTENTS, Cubes, dimension_label, open_cubes
from core.settings import Settings, get_settings
from publication.reader import NotPublished
from publication.spec import SOURCE

log = logging.getLogger(__name__)
API_VERSION = "2.0.0"
APP_VERSION = "nns-1.0"
LANGUAGES = {"sv": "Svenska", "en": "English"}
MAX_BODY = 64 * 1024  # a selection is small; anything bigger is refused before it is parsed
DEFAULT_PAGE_SIZE = 20
VALUE_CODES = re.compile(r"^valuecodes\[([^\]]{1,100})\]$", re.IGNORECASE)
CODELISTS = {  # codelist id -> (dimension, the query for its values: code, label)
    "vs_federation_code": ("federation_code", "select federation_code, federation_name from federations "
                                               "order by federation_code"),
    "vs_indicator_id": ("indicator_id", "select cast(indicator_id as varchar), indicator_title from indicators "
                                         "order by indicator_id"),
    "vs_question_code": ("question_code", "select question_code, arg_max(question_text, valid_from) from questions "
                                           "group by question_code order by question_code"),
    "vs_support_at_start": ("support_at_start", "select category, label_sv from support_categories "
                                                 "order by tie_priority"),
    "vs_support_at_end": ("support_at_end", "select category, label_sv from support_categories "
                                             "order by tie_priority"),
}
CODELIST_TABLES = {"vs_federation_code": "federations", "vs_indicator_id": "indicators",
                   "vs_question_code": "questions", "vs_support_at_start": "support_categories",
                   "vs_support_at_end": "support_categories"}


class Problem(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
          503: "Service Unavailable"}


def problem(status: int, detail: str, instance: str = "") -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def create_app(settings: Callable[[], Settings] = get_settings) -> FastAPI:
    app = FastAPI(title="NNS PxWebApi 2.0", version=APP_VERSION, docs_url=None, redoc_url=None,
                  openapi_url=None)

    def published() -> tuple[Cubes, Settings]:
        s = settings()
        try:
            return open_cubes(s.published_database), s
        except NotPublished as exc:
            raise Problem(503, str(exc)) from None

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem(exc.status, exc.detail, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
        if exc.status_code == 404:
            detail = f"No such endpoint: {request.url.path}"
        return problem(exc.status_code, detail, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        return problem(400, f"Invalid {where}: {first.get('msg', 'invalid request')}", request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unexpected error serving %s", request.url.path)
        return problem(500, "The server could not serve this request; the error is logged.", request.url.path)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return problem(400, f"The request body is larger than {MAX_BODY} bytes; a selection is much smaller.",
                           request.url.path)
        return await call_next(request)

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang") or "sv"
        if lang not in LANGUAGES:
            raise Problem(400, f"Language {lang!r} is not supported; use one of {', '.join(LANGUAGES)}.")
        return lang

    def int_param(request: Request, name: str, default: int | None, minimum: int = 1) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < minimum or int(raw) > 10**6:
            raise Problem(400, f"{name} must be a whole number from {minimum}, got {raw!r}.")
        return int(raw)

    def links(request: Request, path: str, lang: str) -> list[dict]:
        return [{"rel": "self", "hreflang": lang, "href": f"{str(request.base_url).rstrip('/')}{path}?lang={lang}"}]

    def table_item(pub: Cubes, table_id: str, lang: str, request: Request) -> dict:
        cube = pub.cube(table_id)
        assert cube is not None
        return {
            "type": "Table", "id": cube.id, "label": cube.label(lang), "description": cube.label(lang),
            "updated": pub.db.info.updated, "firstPeriod": cube.first_period,
            "lastPeriod": cube.last_period, "category": "public",
            "variableNames": [d.label[1 if lang == "en" else 0] for d in cube.dimensions],
            "discontinued": False, "source": SOURCE, "subjectCode": "NNS",
            "timeUnit": "Annual" if cube.time else "Other",
            "paths": [[{"id": "NNS", "label": "Indikatorarbetet"}]],
            "links": links(request, f"/tables/{cube.id}", lang)
            + [{"rel": "metadata", "hreflang": lang,
                "href": f"{str(request.base_url).rstrip('/')}/tables/{cube.id}/metadata?lang={lang}"},
               {"rel": "data", "hreflang": lang,
                "href": f"{str(request.base_url).rstrip('/')}/tables/{cube.id}/data?lang={lang}"}],
        }

    def cube_or_404(pub: Cubes, table_id: str):
        cube = pub.cube(table_id) if len(table_id) <= 100 else None
        if cube is None:
            raise Problem(404, f"Table {table_id[:100]!r} does not exist; GET /tables lists the tables.")
        return cube

    @app.get("/config")
    def config():
        s = settings()
        return {
            "apiVersion": API_VERSION, "appVersion": APP_VERSION,
            "languages": [{"id": k, "label": v} for k, v in LANGUAGES.items()], "defaultLanguage": "sv",
            # Advertised so clients pace themselves (the spec wants at least 1); the server does not count calls.
            "maxDataCells": s.api_max_cells, "maxCallsPerTimeWindow": 1000, "timeWindow": 10,
            "license": "CC0-1.0",
            "sourceReferences": [{"language": "sv", "text": f"Källa: {SOURCE}"},
                                 {"language": "en", "text": f"Source: {SOURCE}"}],
            "defaultDataFormat": "json-stat2", "dataFormats": list(formats.FORMATS),
            "features": [{"id": "CORS", "params": [{"key": "enabled", "value": "false"}]}],
        }

    @app.get("/tables")
    def tables(request: Request):
        lang = lang_of(request)
        pub, _ = published()
        page_number = int_param(request, "pageNumber", 1)
        page_size = int_param(request, "pageSize", DEFAULT_PAGE_SIZE)
        past_days = int_param(request, "pastDays", None)
        query = (request.query_params.get("query") or "").strip().lower()[:200]
        items = [table_item(pub, t, lang, request) for t in pub.cube_ids()]
        if query:
            words = query.split()
            items = [i for i in items if all(w in (i["id"] + " " + i["label"] + " "
                                                   + " ".join(i["variableNames"])).lower() for w in words)]
        if past_days is not None:
            since = datetime.now(UTC) - timedelta(days=past_days)
            items = [i for i in items if datetime.fromisoformat(i["updated"].replace("Z", "+00:00")) >= since]
        total = len(items)
        pages = max(1, math.ceil(total / page_size))
        start = (page_number - 1) * page_size
        return {"language": lang, "tables": items[start:start + page_size],
                "page": {"pageNumber": page_number, "pageSize": page_size, "totalElements": total,
                         "totalPages": pages, "links": []},
                "links": links(request, "/tables", lang)}

    @app.get("/tables/{table_id}")
    def table(table_id: str, request: Request):
        lang = lang_of(request)
        pub, _ = published()
        cube_or_404(pub, table_id)
        return {"language": lang} | table_item(pub, table_id, lang, request)

    @app.get("/tables/{table_id}/metadata")
    def metadata(table_id: str, request: Request):
        lang = lang_of(request)
        pub, s = published()
        cube = cube_or_404(pub, table_id)
        body = formats.jsonstat(pub, None, cube, lang, s.contact)
        body.pop("value")  # metadata only, as Statistics Sweden's API gives it
        return body

    @app.get("/tables/{table_id}/defaultselection")
    def default_selection(table_id: str, request: Request):
        lang = lang_of(request)
        pub, _ = published()
        cube = cube_or_404(pub, table_id)
        chosen = selection.default_selection(cube)
        return {"language": lang, "selection": [{"variableCode": k, "valueCodes": v} for k, v in chosen.items()],
                "placement": {"heading": [CONTENTS], "stub": [d.code for d in cube.dimensions[:-1]]},
                "links": links(request, f"/tables/{table_id}/defaultselection", lang)}

    def serve_data(table_id: str, request: Request, chosen: dict[str, list[str]] | None):
        lang = lang_of(request)
        output = request.query_params.get("outputFormat") or request.query_params.get("outputformat") \
            or "json-stat2"
        if output not in formats.FORMATS:
            raise Problem(400, f"Output format {output[:40]!r} is not supported; use one of "
                          + ", ".join(formats.FORMATS) + ".")
        params = set(",".join(request.query_params.getlist("outputFormatParams")).split(",")) - {""}
        pub, s = published()
        cube = cube_or_404(pub, table_id)
        try:
            resolved = selection.resolve(cube, chosen if chosen is not None else selection.default_selection(cube))
            result = selection.fetch(pub, cube, resolved, s.api_max_cells)
        except selection.BadSelection as exc:
            raise Problem(400, str(exc)) from None
        except selection.TooManyCells as exc:
            raise Problem(403, str(exc)) from None
        media, suffix = formats.FORMATS[output]
        headers = {"Content-Disposition": f'attachment; filename="{cube.id}.{suffix}"'} \
            if output not in ("json-stat2",) else {}
        if output == "json-stat2":
            return JSONResponse(formats.jsonstat(pub, result, cube, lang, s.contact))
        if output == "px":
            return Response(formats.px(pub, result, lang, s.contact), media_type=media, headers=headers)
        frame = result.rows
        if output == "csv":
            plain = bool(params & {"SeparatorComma", "Plain"})
            return Response(formats.to_csv(frame, cube.spec.nulled, plain=plain), media_type=media, headers=headers)
        if output == "xlsx":
            about = [*pub.db.notes(lang, cube.spec.name), f"Kontakt: {s.contact}",
                     f"Senast uppdaterad: {pub.db.info.updated}"]
            return Response(formats.to_xlsx(frame, cube.spec.nulled, cube.label(lang), about), media_type=media,
                            headers=headers)
        return Response(formats.to_parquet(result.table), media_type=media,
                        headers=headers)

    @app.get("/tables/{table_id}/data")
    def data_get(table_id: str, request: Request):
        chosen: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            if m := VALUE_CODES.match(name):
                chosen.setdefault(m.group(1), []).extend(v.strip() for v in value.split(",") if v.strip() != "")
        for name, codes in chosen.items():
            if not codes:
                raise Problem(400, f"valueCodes[{name}] selects no value.")
        return serve_data(table_id, request, chosen or None)

    @app.post("/tables/{table_id}/data")
    async def data_post(table_id: str, request: Request):
        raw = b""
        async for chunk in request.stream():  # a body without Content-Length is cut off here, not read whole
            raw += chunk
            if len(raw) > MAX_BODY:
                raise Problem(400, f"The request body is larger than {MAX_BODY} bytes; a selection is much smaller.")
        if not raw.strip():
            chosen = None
        else:
            try:
                body = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise Problem(400, "The request body is not UTF-8 text; send the selection as UTF-8 JSON.") from None
            except json.JSONDecodeError as exc:
                raise Problem(400, f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
            chosen = parse_selection(body)
        return await _in_thread(serve_data, table_id, request, chosen)

    @app.get("/codelists/{codelist_id}")
    def codelist(codelist_id: str, request: Request):
        lang = lang_of(request)
        pub, _ = published()
        if codelist_id not in CODELISTS or not pub.db.has(CODELIST_TABLES[codelist_id]):
            raise Problem(404, f"Codelist {codelist_id[:100]!r} does not exist; the codelists are "
                          + ", ".join(CODELISTS) + ".")
        dimension, sql = CODELISTS[codelist_id]
        rows = pub.db.query(sql)
        return {"id": codelist_id, "label": formats_label(dimension, lang), "language": lang,
                "languages": list(LANGUAGES), "elimination": False, "type": "Valueset",
                "values": [{"code": code, "label": label or code, "valueMap": [code]} for code, label in rows],
                "links": links(request, f"/codelists/{codelist_id}", lang)}

    return app


def formats_label(dimension: str, lang: str) -> str:
    sv, en = dimension_label(dimension)
    return en if lang == "en" else sv


async def _in_thread(function, *args):
    return await run_in_threadpool(function, *args)


def parse_selection(body) -> dict[str, list[str]] | None:
    """The `selection` of a VariablesSelection body, checked for shape; raises Problem(400)."""
    if not isinstance(body, dict) or not isinstance(body.get("selection", []), list):
        raise Problem(400, 'The body must be a JSON object '
                           '{"selection": [{"variableCode": ..., "valueCodes": [...]}]}.')
    chosen: dict[str, list[str]] = {}
    for item in body.get("selection", []):
        if not isinstance(item, dict) or not isinstance(item.get("variableCode"), str):
            raise Problem(400, "Each selection item needs a variableCode (a string) "
                               "and valueCodes (a list of strings).")
        codes = item.get("valueCodes")
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise Problem(400, f"valueCodes for {item['variableCode'][:100]!r} must be a non-empty list of strings.")
        if item.get("codeList") or item.get("codelist"):
            raise Problem(400, "Codelists cannot be applied in a selection here; select value codes directly.")
        chosen.setdefault(item["variableCode"], []).extend(codes)
    return chosen or None
