"""PxWebApi 2.0 over publish/marts.duckdb: read-only, in the shapes of PxTools/PxApiSpecs PxAPI-2.yml.

Endpoints: /config, /navigation, /tables (paging with links and a query), /tables/{id}, /tables/{id}/metadata
(JSON-stat 2.0), /tables/{id}/defaultselection, /tables/{id}/data (GET with valueCodes[VAR]=a,b and POST with a
selection; codelists, placement, output formats and their parameters), and /codelists/{id}. Every parameter of the
spec either works or is refused with 400 naming what is not supported; a parameter the spec does not have is refused
the same way, never ignored. Every error is the spec's Problem (application/problem+json): 400 a bad request, 403 a
selection over maxDataCells, 404 an unknown table, codelist or endpoint, 429 over the rate limit; never a traceback.
api.serving puts the rate limit, the body limit and the response cache in front of it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import data as selection
from api import formats
from api.cubes import CONTENTS, Cube, Cubes, dimension_label, open_cubes
from api.serving import CALLS_PER_WINDOW, MAX_BODY, TIME_WINDOW, RateLimit, ResponseCache, Serving
from core.settings import Settings, get_settings
from publication.reader import NotPublished, snapshot_key
from publication.spec import SOURCE

log = logging.getLogger(__name__)
API_VERSION = "2.0.0"
APP_VERSION = "nns-1.1"
LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT_PAGE_SIZE = 20
FOLDER = ("NNS", "Indikatorarbetet")  # the one folder of /navigation, and every table's path
BRACKETED = re.compile(r"^(valuecodes|codelist)\[([^\]]{1,100})\]$", re.IGNORECASE)
# The query parameters each endpoint takes (PxAPI-2.yml), in lower case: the API reads names ignoring case, as
# Statistics Sweden's does. `valuecodes[...]` and `codelist[...]` are allowed where named.
PARAMETERS = {
    "config": {"lang"},
    "navigation": {"lang"},
    "tables": {"lang", "query", "pastdays", "includediscontinued", "pagenumber", "pagesize"},
    "table": {"lang"},
    "metadata": {"lang", "defaultselection", "codelist[]"},
    "defaultselection": {"lang"},
    "data-get": {"lang", "valuecodes[]", "codelist[]", "outputformat", "outputformatparams", "heading", "stub"},
    "data-post": {"lang", "outputformat", "outputformatparams"},
    "codelist": {"lang"},
}


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


class Query:
    """A request's query parameters by lower-case name, checked against what the endpoint takes."""

    def __init__(self, request: Request, endpoint: str):
        allowed = PARAMETERS[endpoint]
        self.values: dict[str, list[str]] = {}
        self.bracketed: dict[str, dict[str, list[str]]] = {"valuecodes": {}, "codelist": {}}
        for name, value in request.query_params.multi_items():
            if m := BRACKETED.match(name):
                kind = m.group(1).lower()
                if f"{kind}[]" not in allowed:
                    raise Problem(400, f"Parameter {name[:100]} is not supported here; this endpoint takes "
                                  + _taken(allowed) + ".")
                self.bracketed[kind].setdefault(m.group(2), []).append(value)
            elif name.lower() in allowed:
                self.values.setdefault(name.lower(), []).append(value)
            else:
                raise Problem(400, f"Parameter {name[:100]!r} is not supported by this endpoint; it takes "
                              + _taken(allowed) + ".")

    def one(self, name: str) -> str | None:
        values = self.values.get(name)
        if values and len(values) > 1:
            raise Problem(400, f"Parameter {name} is given {len(values)} times; give it once.")
        return values[0] if values else None

    def listed(self, name: str) -> list[str]:
        """A comma-separated list parameter (or the parameter repeated)."""
        return [v.strip() for value in self.values.get(name, []) for v in value.split(",") if v.strip()]


def _taken(allowed: set[str]) -> str:
    names = {"valuecodes[]": "valueCodes[VARIABLE]", "codelist[]": "codelist[VARIABLE]", "pagenumber": "pageNumber",
             "pagesize": "pageSize", "pastdays": "pastDays", "includediscontinued": "includeDiscontinued",
             "defaultselection": "defaultSelection", "outputformat": "outputFormat",
             "outputformatparams": "outputFormatParams"}
    return ", ".join(sorted(names.get(a, a) for a in allowed))


def output_params(query: Query, output: str) -> set[str]:
    """outputFormatParams by their spec names; 400 for an unknown one, one that does not apply to the format, or two
    that exclude each other."""
    by_lower = {p.lower(): p for p in formats.FORMAT_PARAMS}
    chosen = set()
    for raw in query.listed("outputformatparams"):
        name = by_lower.get(raw.lower())
        if name is None:
            raise Problem(400, f"outputFormatParams {raw[:60]!r} is not supported; use "
                          + ", ".join(formats.FORMAT_PARAMS) + ".")
        if output not in formats.FORMAT_PARAMS[name]:
            raise Problem(400, f"outputFormatParams {name} does not apply to outputFormat {output}; it applies to "
                          + ", ".join(formats.FORMAT_PARAMS[name]) + ".")
        chosen.add(name)
    for group in formats.EXCLUSIVE_PARAMS:
        if len(chosen & set(group)) > 1:
            raise Problem(400, "outputFormatParams " + " and ".join(sorted(chosen & set(group)))
                          + " exclude each other; give one.")
    return chosen


def create_app(settings: Callable[[], Settings] = get_settings, *, calls_per_window: int = CALLS_PER_WINDOW,
               time_window: int = TIME_WINDOW, cache: ResponseCache | None = None):
    """The API as an ASGI application: FastAPI behind api.serving (rate limit, body limit, response cache)."""
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

    def lang_of(query: Query) -> str:
        lang = query.one("lang") or "sv"
        if lang not in LANGUAGES:
            raise Problem(400, f"Language {lang[:20]!r} is not supported; use one of {', '.join(LANGUAGES)}.")
        return lang

    def int_param(query: Query, name: str, spec_name: str, default: int | None) -> int | None:
        raw = query.one(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < 1 or int(raw) > 10**6:
            raise Problem(400, f"{spec_name} must be a whole number from 1, got {raw[:20]!r}.")
        return int(raw)

    def bool_param(query: Query, name: str, spec_name: str) -> bool:
        raw = (query.one(name) or "false").lower()
        if raw not in ("true", "false"):
            raise Problem(400, f"{spec_name} must be true or false, got {raw[:20]!r}.")
        return raw == "true"

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def link(request: Request, rel: str, path: str, lang: str, **params) -> dict:
        query = urlencode({"lang": lang, **{k: v for k, v in params.items() if v is not None}})
        return {"rel": rel, "hreflang": lang, "href": f"{base(request)}{path}?{query}"}

    def table_item(pub: Cubes, cube: Cube, lang: str, request: Request) -> dict:
        return {
            "type": "Table", "id": cube.id, "label": cube.label(lang), "description": cube.label(lang),
            "updated": pub.db.info.updated, "firstPeriod": cube.first_period,
            "lastPeriod": cube.last_period, "category": "public",
            "variableNames": [d.label[1 if lang == "en" else 0] for d in cube.dimensions],
            "discontinued": False, "source": SOURCE, "subjectCode": FOLDER[0],
            "timeUnit": "Annual" if cube.time else "Other",
            "paths": [[{"id": FOLDER[0], "label": FOLDER[1]}]],
            "links": [link(request, "self", f"/tables/{cube.id}", lang),
                      link(request, "metadata", f"/tables/{cube.id}/metadata", lang),
                      link(request, "data", f"/tables/{cube.id}/data", lang)],
        }

    def cube_or_404(pub: Cubes, table_id: str) -> Cube:
        cube = pub.cube(table_id) if len(table_id) <= 100 else None
        if cube is None:
            raise Problem(404, f"Table {table_id[:100]!r} does not exist; GET /tables lists the tables.")
        return cube

    def value_sets(pub: Cubes, codelists: dict[str, str]) -> dict[str, list[str]]:
        return {c: [code for code, _ in pub.value_set(c)[1]] for c in codelists.values()}

    def requested_codelists(cube: Cube, requested: dict[str, list[str]]) -> dict[str, str]:
        flat = {}
        for variable, ids in requested.items():
            if len(ids) != 1 or not ids[0].strip():
                raise Problem(400, f"codelist[{variable[:100]}] must name one codelist.")
            flat[variable] = ids[0].strip()
        try:
            return selection.applied_codelists(cube, flat)
        except selection.BadSelection as exc:
            raise Problem(400, str(exc)) from None

    @app.get("/config")
    def config(request: Request):
        Query(request, "config")
        s = settings()
        return {
            "apiVersion": API_VERSION, "appVersion": APP_VERSION,
            "languages": [{"id": k, "label": v} for k, v in LANGUAGES.items()], "defaultLanguage": "sv",
            "maxDataCells": s.api_max_cells, "maxCallsPerTimeWindow": calls_per_window, "timeWindow": time_window,
            "license": "CC0-1.0",
            "sourceReferences": [{"language": "sv", "text": f"Källa: {SOURCE}"},
                                 {"language": "en", "text": f"Source: {SOURCE}"}],
            "defaultDataFormat": "json-stat2", "dataFormats": list(formats.FORMATS),
            "features": [{"id": "CORS", "params": [{"key": "enabled", "value": "false"}]}],
        }

    @app.get("/navigation")
    def navigation_root(request: Request):
        lang = lang_of(Query(request, "navigation"))
        return {"language": lang, "id": "", "label": "", "description": "", "tags": [],
                "folderContents": [{"type": "FolderInformation", "id": FOLDER[0], "label": FOLDER[1],
                                    "description": FOLDER[1], "tags": [],
                                    "links": [link(request, "self", f"/navigation/{FOLDER[0]}", lang)]}],
                "links": [link(request, "self", "/navigation", lang)]}

    @app.get("/navigation/{folder_id}")
    def navigation(folder_id: str, request: Request):
        lang = lang_of(Query(request, "navigation"))
        if folder_id != FOLDER[0]:
            raise Problem(404, f"Folder {folder_id[:100]!r} does not exist; the one folder is {FOLDER[0]}.")
        pub, _ = published()
        contents = []
        for i, table_id in enumerate(pub.cube_ids()):
            item = table_item(pub, pub.cube(table_id), lang, request)
            contents.append({k: item[k] for k in ("type", "id", "label", "description", "updated", "firstPeriod",
                                                  "lastPeriod", "category", "variableNames", "discontinued",
                                                  "links")} | {"sortCode": f"{i:03d}", "tags": []})
        return {"language": lang, "id": FOLDER[0], "label": FOLDER[1], "description": FOLDER[1], "tags": [],
                "folderContents": contents, "links": [link(request, "self", f"/navigation/{FOLDER[0]}", lang)]}

    @app.get("/tables")
    def tables(request: Request):
        query = Query(request, "tables")
        lang = lang_of(query)
        pub, _ = published()
        page_number = int_param(query, "pagenumber", "pageNumber", 1)
        page_size = int_param(query, "pagesize", "pageSize", DEFAULT_PAGE_SIZE)
        past_days = int_param(query, "pastdays", "pastDays", None)
        bool_param(query, "includediscontinued", "includeDiscontinued")  # no table is discontinued
        words = (query.one("query") or "").strip().lower()[:200].split()
        items = [table_item(pub, pub.cube(t), lang, request) for t in pub.cube_ids()]
        if words:
            items = [i for i in items if all(w in (i["id"] + " " + i["label"] + " "
                                                   + " ".join(i["variableNames"])).lower() for w in words)]
        if past_days is not None:
            since = datetime.now(UTC) - timedelta(days=past_days)
            items = [i for i in items if datetime.fromisoformat(i["updated"].replace("Z", "+00:00")) >= since]
        total = len(items)
        pages = max(1, math.ceil(total / page_size))
        start = (page_number - 1) * page_size
        kept = {"query": query.one("query"), "pastDays": past_days, "pageSize": page_size}

        def page_link(rel: str, number: int) -> dict:
            return link(request, rel, "/tables", lang, **kept, pageNumber=number)

        page_links = [page_link("first", 1)]
        if page_number > 1:
            page_links.append(page_link("previous", min(page_number - 1, pages)))
        if page_number < pages:
            page_links.append(page_link("next", page_number + 1))
        page_links.append(page_link("last", pages))
        return {"language": lang, "tables": items[start:start + page_size],
                "page": {"pageNumber": page_number, "pageSize": page_size, "totalElements": total,
                         "totalPages": pages, "links": page_links},
                "links": [page_link("self", page_number)]}

    @app.get("/tables/{table_id}")
    def table(table_id: str, request: Request):
        lang = lang_of(Query(request, "table"))
        pub, _ = published()
        return {"language": lang} | table_item(pub, cube_or_404(pub, table_id), lang, request)

    @app.get("/tables/{table_id}/metadata")
    def metadata(table_id: str, request: Request):
        query = Query(request, "metadata")
        lang = lang_of(query)
        pub, s = published()
        cube = cube_or_404(pub, table_id)
        codelists = requested_codelists(cube, query.bracketed["codelist"])
        chosen = {d.code: list(d.values) for d in cube.dimensions}
        if bool_param(query, "defaultselection", "defaultSelection"):
            chosen = selection.default_selection(cube)
            for dim in cube.dimensions:
                chosen.setdefault(dim.code, [dim.elimination_value or dim.values[0]])
        for variable, codelist in codelists.items():
            chosen[variable] = value_sets(pub, {variable: codelist})[codelist]
        return JSONResponse(formats.jsonstat(pub, None, cube, lang, s.contact, selection=chosen))

    @app.get("/tables/{table_id}/defaultselection")
    def default_selection(table_id: str, request: Request):
        lang = lang_of(Query(request, "defaultselection"))
        pub, _ = published()
        cube = cube_or_404(pub, table_id)
        chosen = selection.default_selection(cube)
        placed = selection.default_placement(cube)
        return {"language": lang, "selection": [{"variableCode": k, "valueCodes": v} for k, v in chosen.items()],
                "placement": {"heading": placed.heading, "stub": placed.stub},
                "links": [link(request, "self", f"/tables/{table_id}/defaultselection", lang)]}

    def serve_data(table_id: str, request: Request, query: Query, chosen: dict[str, list[str]] | None,
                   requested_lists: dict[str, list[str]], heading: list[str], stub: list[str]):
        lang = lang_of(query)
        output = (query.one("outputformat") or "json-stat2").lower()
        if output not in formats.FORMATS:
            raise Problem(400, f"Output format {output[:40]!r} is not supported; use one of "
                          + ", ".join(formats.FORMATS) + ".")
        params = output_params(query, output)
        if (heading or stub) and output not in formats.PLACED_FORMATS:
            raise Problem(400, f"heading and stub do not apply to outputFormat {output}; they apply to "
                          + ", ".join(formats.PLACED_FORMATS) + ".")
        pub, s = published()
        cube = cube_or_404(pub, table_id)
        codelists = requested_codelists(cube, requested_lists)
        try:
            if chosen is None and codelists:
                raise selection.BadSelection("A codelist applies to a selection: select values of "
                                             + ", ".join(codelists) + " too.")
            resolved = selection.resolve(cube, chosen if chosen is not None else selection.default_selection(cube),
                                         codelists, value_sets(pub, codelists))
            placement = selection.placement(cube, heading, stub)
            result = selection.fetch(pub, cube, resolved, s.api_max_cells)
        except selection.BadSelection as exc:
            raise Problem(400, str(exc)) from None
        except selection.TooManyCells as exc:
            raise Problem(403, str(exc)) from None
        media, suffix = formats.FORMATS[output]
        headers = {} if output in ("json-stat2", "json-px", "html") else \
            {"Content-Disposition": f'attachment; filename="{cube.id}.{suffix}"'}
        title = cube.label(lang)
        if output == "json-stat2":
            body = formats.json_bytes(formats.jsonstat(pub, result, cube, lang, s.contact, placement))
        elif output == "json-px":
            body = formats.json_bytes(formats.json_px(pub, result, lang))
        elif output == "px":
            body = formats.px(pub, result, lang, s.contact, placement)
        elif output == "csv":
            body = formats.cube_csv(result, placement, params, lang, title)
        elif output == "xlsx":
            about = [*pub.db.notes(lang, cube.spec.name), f"Kontakt: {s.contact}",
                     f"Senast uppdaterad: {pub.db.info.updated}"]
            body = formats.cube_xlsx(result, placement, params, lang, title, about)
        elif output == "html":
            body = formats.cube_html(result, placement, params, lang, title, pub.db.notes(lang, cube.spec.name))
        else:
            body = formats.to_parquet(result.table)
        return Response(body, media_type=media, headers=headers)

    @app.get("/tables/{table_id}/data")
    def data_get(table_id: str, request: Request):
        query = Query(request, "data-get")
        chosen: dict[str, list[str]] = {}
        for name, values in query.bracketed["valuecodes"].items():
            codes = [code for value in values for code in selection.split_codes(value)]
            if not codes:
                raise Problem(400, f"valueCodes[{name[:100]}] selects no value.")
            chosen.setdefault(name, []).extend(codes)
        return serve_data(table_id, request, query, chosen or None, query.bracketed["codelist"],
                          query.listed("heading"), query.listed("stub"))

    @app.post("/tables/{table_id}/data")
    async def data_post(table_id: str, request: Request):
        query = Query(request, "data-post")
        raw = await request.body()  # api.serving has already refused a body over MAX_BODY
        chosen, codelists, heading, stub = None, {}, [], []
        if raw.strip():
            try:
                body = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise Problem(400, "The request body is not UTF-8 text; send the selection as UTF-8 JSON.") from None
            except json.JSONDecodeError as exc:
                raise Problem(400, f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
            chosen, codelists, heading, stub = parse_selection(body)
        return await run_in_threadpool(serve_data, table_id, request, query, chosen, codelists, heading, stub)

    @app.get("/codelists/{codelist_id}")
    def codelist(codelist_id: str, request: Request):
        lang = lang_of(Query(request, "codelist"))
        pub, _ = published()
        found = pub.value_set(codelist_id) if len(codelist_id) <= 100 else None
        if found is None:
            raise Problem(404, f"Codelist {codelist_id[:100]!r} does not exist; the codelists are the value sets "
                          "the metadata lists under codeLists.")
        dimension, values = found
        sv, en = dimension_label(dimension)
        return {"id": codelist_id, "label": en if lang == "en" else sv, "language": lang,
                "languages": list(LANGUAGES), "elimination": False, "type": "Valueset",
                "values": [{"code": code, "label": label, "valueMap": [code]} for code, label in values],
                "links": [link(request, "self", f"/codelists/{codelist_id}", lang)]}

    @app.api_route("/savedqueries", methods=["GET", "POST"])
    @app.api_route("/savedqueries/{rest:path}", methods=["GET", "POST"])
    def saved_queries(request: Request, rest: str = ""):
        raise Problem(400, "Saved queries (/savedqueries) are not supported by this server: it keeps no state. "
                           "Send the selection itself to /tables/{id}/data.")

    return Serving(app, lambda: snapshot_key(settings().published_database),
                   RateLimit(calls_per_window, time_window), cache or ResponseCache())


def parse_selection(body) -> tuple[dict[str, list[str]] | None, dict[str, list[str]], list[str], list[str]]:
    """A VariablesSelection body: the selection, the codelists applied (`codeList`, or `codelist` as pxwebpy sends
    it) and the placement, checked for shape; raises Problem(400)."""
    if not isinstance(body, dict) or not isinstance(body.get("selection", []), list):
        raise Problem(400, 'The body must be a JSON object '
                           '{"selection": [{"variableCode": ..., "valueCodes": [...]}], "placement": {...}}.')
    unknown = set(body) - {"selection", "placement"}
    if unknown:
        raise Problem(400, f"The body has {', '.join(sorted(unknown))[:100]}, which a selection does not; it has "
                           "selection and placement.")
    chosen: dict[str, list[str]] = {}
    codelists: dict[str, list[str]] = {}
    for item in body.get("selection", []):
        if not isinstance(item, dict) or not isinstance(item.get("variableCode"), str):
            raise Problem(400, "Each selection item needs a variableCode (a string) "
                               "and valueCodes (a list of strings).")
        name = item["variableCode"]
        extra = {k for k in item if k.lower() not in ("variablecode", "valuecodes", "codelist")}
        if extra:
            raise Problem(400, f"A selection item has {', '.join(sorted(extra))[:100]}, which the spec does not; "
                               "it has variableCode, codeList and valueCodes.")
        codes = item.get("valueCodes")
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise Problem(400, f"valueCodes for {name[:100]!r} must be a non-empty list of strings.")
        codelist = next((v for k, v in item.items() if k.lower() == "codelist"), None)
        if codelist is not None:
            if not isinstance(codelist, str):
                raise Problem(400, f"codeList for {name[:100]!r} must be a string.")
            codelists[name] = [codelist]
        chosen.setdefault(name, []).extend(codes)
    placement = body.get("placement") or {}
    if not isinstance(placement, dict) or set(placement) - {"heading", "stub"} or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in placement.values()):
        raise Problem(400, 'placement must be {"heading": [variable, ...], "stub": [variable, ...]}.')
    return chosen or None, codelists, placement.get("heading", []), placement.get("stub", [])


__all__ = ["CONTENTS", "MAX_BODY", "create_app", "parse_selection"]
