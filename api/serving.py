"""What every request passes before the API answers it: the rate limit, the body's size, and the response cache.

- **The rate limit** of /config (`maxCallsPerTimeWindow` calls per `timeWindow` seconds) is counted per client
  address over a sliding window; a call over it gets 429 (a Problem) with `Retry-After`, as PxAPI-2.yml says.
- **The body** of a request is at most MAX_BODY bytes (a selection is much smaller); a larger one is refused with 400
  before it is parsed.
- **The response cache**: the published file is immutable for as long as one build is published (a new build is a new
  file swapped in by rename), so an answer depends only on the request and the build. Responses are kept per build,
  keyed by the file's inode and modification time (publication.reader.snapshot_key, the key the reader itself opens
  snapshots by) and the normalised request, and dropped as soon as a new build is seen. Only answers that follow from
  the build alone are kept (not /tables?pastDays=, which depends on today, nor a 429 or a 5xx).

Written as plain ASGI, in front of FastAPI, so that a cached answer costs a dictionary look-up, not a trip through the
framework.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import parse_qsl

CALLS_PER_WINDOW, TIME_WINDOW = 1000, 10  # the rate limit /config advertises, by default
MAX_BODY = 64 * 1024  # a selection is small; anything bigger is refused before it is parsed
CACHED_STATUSES = (200, 400, 403, 404)
UNCACHED_PARAMETERS = ("pastdays",)  # answers that depend on the clock, not only on the build


def problem_body(status: int, title: str, detail: str, instance: str) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class RateLimit:
    """At most `calls` calls per `window` seconds from one client address (a sliding window)."""

    def __init__(self, calls: int, window: int):
        if calls < 1 or window < 1:
            raise ValueError("the rate limit needs at least one call per window of at least one second")
        self.calls, self.window = calls, window
        self._seen: dict[str, deque[float]] = {}
        self._swept = 0.0

    def wait(self, client: str, now: float | None = None) -> float:
        """0 when the call may go ahead (and is counted), else the seconds until it may."""
        now = time.monotonic() if now is None else now
        if now - self._swept > self.window:  # forget clients that have been quiet for a whole window
            self._seen = {c: q for c, q in self._seen.items() if q and now - q[-1] < self.window}
            self._swept = now
        calls = self._seen.setdefault(client, deque())
        while calls and now - calls[0] >= self.window:
            calls.popleft()
        if len(calls) >= self.calls:
            return self.window - (now - calls[0])
        calls.append(now)
        return 0.0


class ResponseCache:
    """Rendered responses of one build, least recently used dropped first, at most `max_bytes` in all."""

    def __init__(self, max_bytes: int = 256 * 1024**2, max_item: int = 16 * 1024**2):
        self.max_bytes, self.max_item = max_bytes, max_item
        self.build: object = None
        self._items: OrderedDict[tuple, tuple[int, list, bytes]] = OrderedDict()
        self._size = 0
        self.hits = self.misses = 0

    def get(self, build: object, key: tuple) -> tuple[int, list, bytes] | None:
        if build != self.build:
            self._items.clear()
            self._size, self.build = 0, build
            return None
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return found

    def put(self, build: object, key: tuple, response: tuple[int, list, bytes]) -> None:
        size = len(response[2]) + 512
        if build != self.build or size > self.max_item:
            return
        self._items[key] = response
        self._size += size
        while self._size > self.max_bytes:
            _, (_, _, body) = self._items.popitem(last=False)
            self._size -= len(body) + 512


def request_key(scope: dict, body: bytes) -> tuple | None:
    """The normalised request (method, path, parameters in a stable order, host, body), or None if not cacheable."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if any(name.lower() in UNCACHED_PARAMETERS for name, _ in pairs):
        return None
    pairs.sort(key=lambda pair: pair[0].lower())  # stable: values of one parameter keep their order
    host = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
    return scope["method"], scope.get("scheme", "http"), host, scope["path"], tuple(pairs), body


class Serving:
    """ASGI middleware: rate limit, body size and the response cache (`build()` names the published build, or None
    while nothing is published)."""

    def __init__(self, app, build: Callable[[], object], limit: RateLimit, cache: ResponseCache):
        self.app, self.build, self.limit, self.cache = app, build, limit, cache

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limit.wait(client)
        if wait > 0:
            detail = (f"More than {self.limit.calls} calls in {self.limit.window} seconds from one client "
                      f"(maxCallsPerTimeWindow and timeWindow in /config); try again in {math.ceil(wait)} s.")
            return await _respond(send, 429, problem_body(429, "Too Many Requests", detail, path),
                                  [(b"retry-after", str(math.ceil(wait)).encode())])
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await _too_big(send, path)
        body = b""
        if scope["method"] in ("POST", "PUT", "PATCH"):
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > MAX_BODY:  # a body without Content-Length is cut off here, not read whole
                    return await _too_big(send, path)
        build = self.build() if scope["method"] in ("GET", "POST") else None
        key = request_key(scope, body) if build is not None else None
        if key is not None and (hit := self.cache.get(build, key)) is not None:
            return await _respond(send, hit[0], hit[2], hit[1], complete_headers=True)

        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: dict = {"body": []}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay, capture)
        if key is not None and captured.get("status") in CACHED_STATUSES:
            self.cache.put(build, key, (captured["status"], captured["headers"], b"".join(captured["body"])))


async def _too_big(send, path: str):
    detail = f"The request body is larger than {MAX_BODY} bytes; a selection is much smaller."
    return await _respond(send, 400, problem_body(400, "Bad Request", detail, path))


async def _respond(send, status: int, body: bytes, headers: list | None = None, *, complete_headers: bool = False):
    if complete_headers:
        all_headers = headers or []
    else:
        all_headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                       *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
