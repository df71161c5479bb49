"""The check page's web service: upload a workbook or CSV file, see at once what ingestion would say.

Routes (Swedish, one page, no JavaScript):

- `GET /`: the upload form.
- `POST /kontrollera` (multipart/form-data, field `fil`): the file is judged by `ingest.verdict.judge_upload`,
  the function ingestion itself calls, and the answer is the feedback page a rejected file gets
  (`feedback.page.render_check`), or "Filen kan skickas in" with what was read. Always 200 when the
  file was judged, whatever the verdict.
- `GET /mall/mall_<FEDERATION>_<ÅÅÅÅ-ÅÅ>.xlsx`: the period's template workbook, made in memory on request.
- `GET /halsa`: "ok", for a health check.

Nothing is stored. The body is read into memory (never more than its declared length, itself at most
the upload limit), the file's bytes are handed to the readers as an anonymous in-memory file (memfd),
and all of it is dropped when the request ends; no file name or content is logged (only method,
route, status and size). The service reads the catalogue and nothing else of the data home.

Limits (Settings, NNS_CHECK_*), each refused with a Swedish page:

- **upload size** (`check_max_upload_bytes`): a larger declared body gets 413 before any of it is
  read; a body without a declared length (chunked) gets 411. After a refusal the connection is
  drained for at most `DRAIN_BYTES` or `DRAIN_SECONDS` (discarded, never kept) so that a browser
  shows the answer instead of "connection reset"; a 1 GB stream is cut off there.
- **request time** (`check_request_seconds`): a request not received whole by then gets 408 and
  the connection is closed (a watchdog per connection, so a client trickling bytes cannot hold it).
- **concurrent checks** (`check_concurrent`): a check waits at most `check_queue_seconds` for a slot,
  then gets 503. The slot is taken before the body is read, so memory is bounded by
  check_concurrent × (upload limit, held twice while it is copied into the memfd, + what reading one
  file may take, ingest.reader) + the process. Connections beyond `check_max_connections` get 503
  at once, unread.
- **checks per client per minute** (`check_per_minute`, by the client's address): 429 with Retry-After.

A zip bomb, an encrypted workbook or any malformed file is judged exactly as ingestion judges it
(FILE_TOO_LARGE, FILE_ENCRYPTED, FILE_UNREADABLE…), never a 500.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import socket
import threading
import time
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from api.serving import RateLimit
from core.catalogue import Catalogue, load_catalogue
from core.settings import Settings
from feedback.page import render_check, render_check_form, template_exists, template_name
from ingest.template import SubmissionContent, write_workbook
from ingest.verdict import judge_upload

log = logging.getLogger(__name__)

FIELD = "fil"  # the form's file field
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file, at most
DRAIN_BYTES = 64 * 1024 * 1024  # read and discarded after a refusal, at most, so that the browser sees the answer
DRAIN_SECONDS = 2.0
CHUNK = 256 * 1024
TEMPLATE_PATH = re.compile(r"^/mall/mall_(SF\d{2})_(\d{4})-(\d{2})\.xlsx$")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


class Refused(Exception):
    """A request the service answers with a Swedish refusal page (status, message, extra headers)."""

    def __init__(self, status: int, message: str, headers: dict | None = None, *, drain: bool = False):
        super().__init__(message)
        self.status, self.message, self.headers, self.drain = status, message, headers or {}, drain


class CheckServer(ThreadingHTTPServer):
    """One thread per connection, at most `check_max_connections` of them; the limits of the module's docstring."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], settings: Settings, catalogue: Catalogue | None = None):
        self.settings = settings
        self.catalogue = catalogue or load_catalogue(settings.catalogue_dir)
        self.slots = threading.BoundedSemaphore(settings.check_concurrent)
        self.connections = threading.BoundedSemaphore(settings.check_max_connections)
        self._limit = RateLimit(settings.check_per_minute, 60)
        self._limit_lock = threading.Lock()
        self.checks = 0  # judged uploads, for tests and the log
        # The per-read timeout only backs up the watchdog (CheckHandler._expire), which answers 408 first.
        handler = type("Handler", (CheckHandler,), {"timeout": settings.check_request_seconds + 5})
        super().__init__(address, handler)

    def wait(self, client: str) -> float:
        with self._limit_lock:
            return self._limit.wait(client)

    def process_request(self, request, client_address):
        if not self.connections.acquire(blocking=False):  # too many connections: refused unread
            with contextlib.suppress(OSError):
                request.sendall(_response(503, _refusal_page(self.settings, BUSY), {"Retry-After": "10"}))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


BUSY = "Kontrollsidan är upptagen just nu. Vänta en liten stund och försök igen."


def _too_large_message(settings: Settings) -> str:
    mib = settings.check_max_upload_bytes // (1024 * 1024)
    return (f"Filen är för stor för kontrollsidan: den får vara högst {mib} MB. En inmatningsfil med "
            "20 000 enkäter är ungefär 3 MB, så kontrollera att filen bara innehåller inmatningsfilens blad och "
            "rader (utgå gärna från mallen). Behöver filen ändå vara så stor, skicka in den som vanligt: den "
            "kontrolleras när den tas emot.")


def _refusal_page(settings: Settings, message: str) -> bytes:
    return render_check_form(settings, notice=message).encode("utf-8")


def _response(status: int, body: bytes, headers: dict | None = None,
              content_type: str = "text/html; charset=utf-8") -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in {**SECURITY_HEADERS, **(headers or {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class CheckHandler(BaseHTTPRequestHandler):
    server: CheckServer
    protocol_version = "HTTP/1.1"
    server_version = "nns-check"
    sys_version = ""

    # --- the request's deadline -----------------------------------------------------------------

    def setup(self):
        super().setup()  # sets the socket's timeout per operation (self.timeout)
        self._lock = threading.Lock()
        self._received = self._expired = self._answered = False
        self._start_deadline()

    def _start_deadline(self) -> None:
        """`check_request_seconds` from now to receive the request (again from the start after a wait for a slot,
        which is the service's time, not the client's)."""
        self._timer = threading.Timer(self.server.settings.check_request_seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _pause_deadline(self) -> bool:
        """Stop the clock while the request waits for a check slot (False if the deadline has answered)."""
        with self._lock:
            self._timer.cancel()
            return not self._expired

    def finish(self):
        self._timer.cancel()
        with contextlib.suppress(OSError):
            super().finish()

    def _expire(self) -> None:
        """The request was not received whole in time: 408, and the connection is closed under the reader."""
        with self._lock:
            if self._received:
                return
            self._expired = True
        seconds = self.server.settings.check_request_seconds
        body = _refusal_page(self.server.settings, f"Uppladdningen tog för lång tid (mer än {seconds} sekunder) och "
                                                   "avbröts. Kontrollera anslutningen och försök igen.")
        with contextlib.suppress(OSError):
            self.connection.sendall(_response(408, body))
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        log.info("check: 408 request not received within %s s", seconds)

    def _mark_received(self) -> bool:
        """The request is in: from now on the handler answers (False if the deadline answered already)."""
        with self._lock:
            if self._expired:
                return False
            self._received = True
            self._timer.cancel()
            return True

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (OSError, ValueError):  # the watchdog closed the connection, or the client went away
            self.close_connection = True
        self.close_connection = True  # one request per connection

    # --- answers ------------------------------------------------------------------------------

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        """The access log: method, route and status only (never a file name, a body or a query)."""

    def log_request(self, code="-", size="-"):
        route = getattr(self, "path", "?").split("?", 1)[0]
        route = route if route in ("/", "/kontrollera", "/halsa") else route.split("/")[1][:10] + "/…"
        log.info("check: %s %s %s %s bytes", getattr(self, "command", "?"), route, code, size)

    def send_error(self, code, message=None, explain=None):
        """The base class's own refusals (a malformed request line, too many headers, an unknown method)."""
        self._mark_received()
        self.close_connection = True
        self._send(code, _refusal_page(self.server.settings, "Begäran kunde inte läsas. Börja om på "
                                                             "kontrollsidans första sida och försök igen."))

    def _send(self, status: int, body: bytes, headers: dict | None = None,
              content_type: str = "text/html; charset=utf-8") -> None:
        if self._answered:
            return
        self._answered = True
        self.log_request(status, len(body))
        self.wfile.write(_response(status, body, headers, content_type))
        self.wfile.flush()

    def _refuse(self, refused: Refused) -> None:
        self._send(refused.status, _refusal_page(self.server.settings, refused.message), refused.headers)
        if refused.drain:
            self._drain()

    def _drain(self) -> None:
        """Read and discard what the client still sends, briefly (so that a browser reads the answer)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline, left = time.monotonic() + DRAIN_SECONDS, DRAIN_BYTES
            while left > 0 and time.monotonic() < deadline:
                chunk = self.connection.recv(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def do_GET(self):
        if not self._mark_received():
            return
        path = self.path.split("?", 1)[0]
        settings = self.server.settings
        try:
            if path in ("/", "/kontrollera"):
                self._send(200, render_check_form(settings).encode("utf-8"))
            elif path == "/halsa":
                self._send(200, b"ok\n", content_type="text/plain; charset=utf-8")
            elif match := TEMPLATE_PATH.match(path):
                self._template(match[1], f"{match[2]}/{match[3]}")
            else:
                raise Refused(404, "Sidan finns inte. Börja om på kontrollsidans första sida.")
        except Refused as refused:
            self._refuse(refused)

    def do_HEAD(self):
        self._mark_received()
        self._send(405, b"", {"Allow": "GET, POST"})

    def do_POST(self):
        settings = self.server.settings
        try:
            if self.path.split("?", 1)[0] != "/kontrollera":
                self._mark_received()
                raise Refused(404, "Sidan finns inte. Börja om på kontrollsidans första sida.", drain=True)
            self._check()
        except Refused as refused:
            self._mark_received()
            self._refuse(refused)
        except Exception:  # noqa: BLE001 - a page, never a traceback
            log.exception("check: the check failed")
            if self._mark_received() or not self._expired:
                self._send(500, _refusal_page(settings, "Något gick fel hos oss när filen skulle kontrolleras. "
                                                        "Försök igen om en stund, eller kontakta samordnaren."))

    def _template(self, code: str, period: str) -> None:
        catalogue = self.server.catalogue
        if not template_exists(catalogue, code, period) or catalogue.federation(code) not in \
                catalogue.federations_in(period):
            raise Refused(404, f"Det finns ingen mall för {code} och mätperioden {period}.")
        self._rate_limit()
        if not self.server.slots.acquire(timeout=self.server.settings.check_queue_seconds):
            raise Refused(503, BUSY, {"Retry-After": "10"})
        try:
            out = io.BytesIO()
            write_workbook(out, SubmissionContent(code, period), catalogue)
        finally:
            self.server.slots.release()
        disposition = f'attachment; filename="{template_name(code, period)}"'
        self._send(200, out.getvalue(), {"Content-Disposition": disposition},
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    def _rate_limit(self) -> None:
        wait = self.server.wait(self.client_address[0])
        if wait > 0:
            seconds = math.ceil(wait)
            raise Refused(429, f"Ni har kontrollerat många filer på kort tid (högst "
                               f"{self.server.settings.check_per_minute} per minut). Vänta {seconds} sekunder och "
                               "försök igen.", {"Retry-After": str(seconds)}, drain=True)

    def _check(self) -> None:
        settings = self.server.settings
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or self.headers.get("Content-Length") is None:
            raise Refused(411, "Uppladdningen saknade uppgift om filens storlek. Välj filen i formuläret och "
                               "försök igen.")
        length = self.headers.get("Content-Length", "").strip()
        if not length.isdigit():
            raise Refused(400, "Uppladdningen kunde inte läsas. Välj filen i formuläret och försök igen.")
        if int(length) > settings.check_max_upload_bytes + MULTIPART_OVERHEAD:
            raise Refused(413, _too_large_message(settings), drain=True)  # nothing of the body has been read
        boundary = _boundary(self.headers.get("Content-Type", ""))
        if boundary is None:
            raise Refused(400, "Uppladdningen kunde inte läsas: den ska skickas med formuläret (som en fil). "
                               "Välj filen och försök igen.", drain=True)
        self._rate_limit()
        if not self._pause_deadline():
            return
        if not self.server.slots.acquire(timeout=settings.check_queue_seconds):
            raise Refused(503, BUSY, {"Retry-After": "10"}, drain=True)
        try:
            self._start_deadline()
            body = self._read_body(int(length))
            if body is None:
                return  # the deadline answered (408)
            if not self._mark_received():
                return
            found = _file_part(body, boundary)
            if found is None:
                raise Refused(400, "Ingen fil kom med uppladdningen. Välj filen i formuläret och försök igen.")
            name, start, end = found
            if end - start > settings.check_max_upload_bytes:
                raise Refused(413, _too_large_message(settings))
            view = memoryview(body)[start:end]
            try:
                verdict = judge_upload(view, name, settings, self.server.catalogue)
            finally:
                view.release()
                del body  # the upload is gone before the page is rendered
            self.server.checks += 1
        finally:
            self.server.slots.release()
        catalogue = self.server.catalogue
        template = (f"/mall/{template_name(verdict.federation_code, verdict.period)}"
                    if verdict.kind == "survey" and template_exists(catalogue, verdict.federation_code, verdict.period)
                    and catalogue.federation(verdict.federation_code) in catalogue.federations_in(verdict.period)
                    else None)
        page = render_check(verdict, settings, catalogue, checked_at=datetime.now(UTC), template_url=template)
        self._send(200, page.encode("utf-8"))

    def _read_body(self, length: int) -> bytearray | None:
        """Exactly `length` bytes (never more), or None when the deadline cut the request off."""
        body = bytearray()
        try:
            while len(body) < length:
                chunk = self.rfile.read1(min(CHUNK, length - len(body))) if hasattr(self.rfile, "read1") \
                    else self.rfile.read(min(CHUNK, length - len(body)))
                if not chunk:
                    break
                body += chunk
        except (OSError, ValueError):
            pass
        if self._expired:
            return None
        if len(body) < length:
            self._mark_received()
            raise Refused(400, "Uppladdningen avbröts innan hela filen kom fram. Försök igen.")
        return body


def _boundary(content_type: str) -> bytes | None:
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    match = re.search(r'boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))', content_type)
    return ("--" + (match[1] or match[2])).encode("latin-1") if match else None


_DISPOSITION = re.compile(rb'^content-disposition:(.*)$', re.IGNORECASE | re.MULTILINE)
_PARAM = re.compile(rb';\s*(name|filename)="((?:[^"\\\r\n]|\\.)*)"', re.IGNORECASE)
_PARAM_STAR = re.compile(rb";\s*filename\*=(?:UTF-8|utf-8)''([^;\r\n]+)")


def _file_part(body: bytearray, boundary: bytes) -> tuple[str, int, int] | None:
    """The form field `fil`'s file name and where its bytes start and end in the body (no copy)."""
    position = body.find(boundary)
    while position >= 0:
        header_start = position + len(boundary) + 2  # past the boundary's CRLF
        header_end = body.find(b"\r\n\r\n", header_start, header_start + 16 * 1024)
        if header_end < 0:
            return None
        headers = bytes(body[header_start:header_end])
        end = body.find(b"\r\n" + boundary, header_end + 4)
        if end < 0:
            return None
        disposition = _DISPOSITION.search(headers)
        params = {k.lower(): v for k, v in _PARAM.findall(disposition[1])} if disposition else {}
        if params.get(b"name") == FIELD.encode() and (b"filename" in params or _PARAM_STAR.search(headers)):
            star = _PARAM_STAR.search(headers)
            if star:
                name = unquote(star[1].decode("latin-1"), encoding="utf-8", errors="replace")
            else:
                # As the HTML standard has browsers escape them: a line break as %0A/%0D, a quote as %22.
                name = params[b"filename"].decode("utf-8", "replace").replace('\\"', '"')
                name = name.replace("%0A", "\n").replace("%0D", "\r").replace("%22", '"')
            name = re.split(r"[\\/]", name)[-1]  # a browser may send a whole Windows path
            return name, header_end + 4, end
        position = end + 2
        if body.startswith(b"--", position + len(boundary)):  # the closing boundary
            return None
    return None


def make_server(settings: Settings, host: str = "127.0.0.1", port: int = 8082) -> CheckServer:
    return CheckServer((host, port), settings)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8082) -> int:
    """Serve until interrupted; 0 when stopped, 1 when the address cannot be used."""
    try:
        server = make_server(settings, host, port)
    except OSError as exc:
        print(f"nns check-server: cannot listen on {host}:{port} ({exc.strerror})")
        return 1
    mib = settings.check_max_upload_bytes / (1024 * 1024)
    print(f"Check page on http://{host}:{server.server_address[1]}/ (uploads up to {mib:.0f} MiB, "
          f"{settings.check_concurrent} checks at a time, {settings.check_per_minute} per client per minute, "
          f"{settings.check_request_seconds} s per request); nothing is stored", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
