"""The check page (`nns check-server`, check/service.py) under friendly and hostile use, and in a real browser.

One server process for the module (`nns -v check-server --port 0`, an upload limit of 2 MiB so
that "too large" is cheap to send, 3 s per request, 2 checks at a time), started with a data home
whose bytes are hashed before and after, and an empty TMPDIR that must stay empty. One headless
Chromium session (Debian's chromium + chromedriver) does the browser part, with axe-core's WCAG 2.1
A/AA rules run in each page it sees (tests/browser.py fetches the pinned axe-core at `make install`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import psutil
import pytest

from core.settings import get_settings
from feedback.page import render_check
from ingest.verdict import judge, judge_upload
from synthetic import generate
from synthetic.bad import read_manifest
from tests.browser import AXE_FILE, chromium
from tests.conftest import environment
from tests.integration.test_check import tree_digest

MiB = 1024 * 1024
MAX_UPLOAD = 2 * MiB
REQUEST_SECONDS = 3
CONCURRENT = 2
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Server:
    port: int
    process: subprocess.Popen
    home: Path
    tmpdir: Path
    log: Path
    corpus: Path
    manifest: dict
    before: dict


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("check-page")
    home, tmpdir, corpus = root / "home", root / "tmp", root / "corpus"
    tmpdir.mkdir()
    with environment(NNS_HOME=str(home)):
        generate("bad", corpus, get_settings())  # (writes arrival state into this home: before the digest)
    (home / "inbox").mkdir(parents=True, exist_ok=True)
    (home / "inbox" / "SF07_2025-26.xlsx").write_bytes(b"a file waiting in the inbox")
    before = tree_digest(home)
    log = root / "server.log"
    env = {"PATH": "/usr/bin:/bin", "NNS_HOME": str(home), "TMPDIR": str(tmpdir), "HOME": str(root),
           "NNS_CHECK_MAX_UPLOAD_BYTES": str(MAX_UPLOAD), "NNS_CHECK_REQUEST_SECONDS": str(REQUEST_SECONDS),
           "NNS_CHECK_CONCURRENT": str(CONCURRENT), "NNS_CHECK_PER_MINUTE": "100000", "NNS_CHECK_QUEUE_SECONDS": "30",
           "PYTHONDONTWRITEBYTECODE": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen([str(REPO / ".venv/bin/nns"), "-v", "check-server", "--port", "0"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, cwd=root)
    deadline = time.monotonic() + 30
    port = None
    while port is None and time.monotonic() < deadline and process.poll() is None:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
        port = int(match[1]) if match else time.sleep(0.1)
    assert port, log.read_text()
    yield Server(port, process, home, tmpdir, log, corpus, read_manifest(corpus), before)
    process.terminate()
    process.wait(10)


def post(port: int, name: str, data: bytes, *, timeout: float = 60) -> tuple[int, dict, str]:
    boundary = uuid.uuid4().hex
    name = name.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")  # as a browser sends a name
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    con.request("POST", "/kontrollera", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = con.getresponse()
    text = response.read().decode("utf-8")
    con.close()
    return response.status, dict(response.getheaders()), text


def get(port: int, path: str) -> tuple[int, dict, bytes]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    con.request("GET", path)
    response = con.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def text_of(page: str) -> str:
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def without_time(page: str) -> str:
    return re.sub(r"Kontrollerad</th><td class=\"text\">[^<]*<", "Kontrollerad</th><td class=\"text\">-<", page)


def good_file(server: Server) -> Path:
    name = next(n for n, e in server.manifest.items() if e["kind"] == "survey" and e["expected"] == "accepted"
                and not e["warnings"] and re.fullmatch(r"SF\d\d_\d{4}-\d\d_[a-z-]+\.xlsx", n))
    return server.corpus / server.manifest[name]["path"]


def bad_file(server: Server) -> Path:
    name = next(n for n, e in server.manifest.items() if e["kind"] == "survey" and "COLUMN_MISSING" in e["errors"])
    return server.corpus / server.manifest[name]["path"]


def test_a_good_file_can_be_sent_and_its_template_is_linked(server):
    path = good_file(server)
    status, headers, page = post(server.port, path.name, path.read_bytes())
    assert status == 200, page
    text = text_of(page)
    assert "Filen kan skickas in" in text and "Det här lästes i filen" in text and "Deltagare" in text
    template = re.search(r'href="(/mall/mall_SF\d\d_\d{4}-\d\d\.xlsx)"', page)
    assert template, "the period's template is linked"
    status, headers, data = get(server.port, template[1])
    assert status == 200 and data.startswith(b"PK") and "attachment" in headers["Content-Disposition"]
    assert headers["Cache-Control"] == "no-store"


def test_every_corpus_file_gets_the_answer_ingestion_gives(server):
    """Through the service, each corpus file gets the page of its in-memory verdict, and that verdict is the
    one `nns check` (ingest.verdict.judge, shown equal to ingestion in test_check.py) gives for the file."""
    settings = dataclasses.replace(get_settings(), check_max_upload_bytes=MAX_UPLOAD)  # as the server's
    answered = 0
    for name, entry in server.manifest.items():
        path = server.corpus / entry["path"]
        if entry["kind"] == "register" or path.is_symlink() or not path.is_file():
            continue  # extracts come from the agencies, not through this page; a FIFO or a link cannot be uploaded
        data = path.read_bytes()
        status, _, page = post(server.port, path.name, data)
        if len(data) > MAX_UPLOAD:
            assert status == 413 and "för stor för kontrollsidan" in text_of(page), name
            continue
        assert status == 200, (name, status)
        verdict = judge_upload(data, path.name, settings)
        assert verdict == judge(path, settings), name  # the memfd and the file on disk: one verdict
        template = re.search(r'href="(/mall/[^"]+)"', page)
        expected = render_check(verdict, settings, _catalogue(), checked_at=datetime.now(UTC),
                                template_url=template[1] if template else None)
        assert without_time(page) == without_time(expected), name
        answered += 1
    assert answered > 80


def _catalogue():
    from core.catalogue import load_catalogue

    return load_catalogue(get_settings().catalogue_dir)


def test_a_file_over_the_limit_is_refused_in_swedish(server):
    status, headers, page = post(server.port, "SF07_2025-26.xlsx", b"x" * (MAX_UPLOAD + 100 * 1024))
    assert status == 413 and "för stor för kontrollsidan" in text_of(page) and 'lang="sv"' in page


def test_a_gigabyte_stream_is_refused_early_without_reading_it(server):
    """1 GiB declared and streamed: 413 comes back after the first MiB, and the server stops reading."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /kontrollera HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: %d\r\n\r\n" % (1024 * MiB))
        sent, chunk, answer = 0, b"\0" * MiB, b""
        started = time.monotonic()
        sock.settimeout(0.05)
        try:
            while sent < 1024 * MiB and b"\r\n\r\n" not in answer:
                sock.sendall(chunk) if sent < 1024 * MiB else None
                sent += len(chunk)
                with contextlib.suppress(TimeoutError):
                    answer += sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            while b"</html>" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except (TimeoutError, ConnectionResetError):
            pass
    seconds = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert "för stor för kontrollsidan" in answer.decode("utf-8", "replace")
    assert sent < 200 * MiB and seconds < 10, (sent, seconds)  # (at most 64 MiB drained after the answer)
    print(f"\n1 GiB stream: 413 after the client had sent {sent // MiB} MiB, in {seconds:.2f} s")
    assert get(server.port, "/")[0] == 200  # still serving


def test_a_slow_client_gets_408_and_the_service_keeps_serving(server):
    path = good_file(server)
    data = path.read_bytes()
    for partial in (b"POST /kontrollera HTTP/1.1\r\nHost: x\r\n",  # headers never finished
                    b"POST /kontrollera HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    b"Content-Length: %d\r\n\r\n--b\r\n" % (len(data) + 200)):  # a body trickling in
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_SECONDS + 5) as sock:
            sock.sendall(partial)
            answer = b""
            while True:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        seconds = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert "tog för lång tid" in answer.decode("utf-8")
        assert REQUEST_SECONDS - 0.5 < seconds < REQUEST_SECONDS + 3
    assert post(server.port, path.name, data)[0] == 200


def test_fifty_parallel_uploads_are_answered_or_refused_in_swedish_with_bounded_memory(server):
    good, bad = good_file(server), bad_file(server)
    bomb = next(server.corpus / e["path"] for e in server.manifest.values()
                if "FILE_TOO_LARGE" in e["errors"] and (server.corpus / e["path"]).stat().st_size < MAX_UPLOAD
                and e["kind"] == "survey")
    files = [good, bad, bomb] * 17
    proc = psutil.Process(server.process.pid)
    samples, stop = [proc.memory_info().rss], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(lambda p: post(server.port, p.name, p.read_bytes()), files[:50]))
    finally:
        stop.set()
        sampler.join()
    seconds = time.monotonic() - started
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    for status, _, page in results:
        text = text_of(page)
        assert ("kan skickas in" in text or "behöver rättas" in text) if status == 200 else "upptagen" in text
    assert statuses.count(200) >= 40  # queued, not dropped: 2 at a time, each in milliseconds
    assert get(server.port, "/")[0] == 200
    # The bound: concurrent checks × (the upload twice + reading one file, ingest.reader: at most about
    # 512 MiB for a full-size workbook) + the process. With these small files far less is used.
    peak, base = max(samples), samples[0]
    bound = base + CONCURRENT * (2 * MAX_UPLOAD + 512 * MiB)
    print(f"\n50 parallel uploads: {statuses.count(200)} answered, {statuses.count(503)} refused (503) in "
          f"{seconds:.1f} s; server RSS {base / MiB:.0f} MiB before, peak {peak / MiB:.0f} MiB "
          f"(bound {bound / MiB:.0f} MiB)")
    assert peak < bound


def test_rate_limit_and_connection_cap_answer_in_swedish(server):
    """Second, in-process servers with tight limits: 429 past the per-minute count, 503 past the connections.
    One server per limit: a closed connection is released by the server a moment after the client sees
    its answer, so a cap of one connection would also refuse a quick second request."""
    from check.service import make_server

    @contextlib.contextmanager
    def serving(**limits):
        with environment(NNS_HOME=str(server.home)):
            settings = dataclasses.replace(get_settings(), **limits)
        local = make_server(settings, "127.0.0.1", 0)
        thread = threading.Thread(target=local.serve_forever, daemon=True)
        thread.start()
        try:
            yield local.server_address[1]
        finally:
            local.shutdown()
            local.server_close()

    path = good_file(server)
    with serving(check_per_minute=2) as port:
        statuses = [post(port, path.name, path.read_bytes()) for _ in range(3)]
        assert [s for s, _, _ in statuses] == [200, 200, 429]
        status, headers, page = statuses[2]
        assert int(headers["Retry-After"]) > 0 and "per minut" in text_of(page)
    # The held socket takes the one connection.
    with serving(check_max_connections=1) as port, socket.create_connection(("127.0.0.1", port)) as hold:
        hold.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(1.0)  # for the server to take it, also on a busy machine
        status, _, body = get(port, "/")
        assert status == 503 and "upptagen" in text_of(body.decode("utf-8"))


def test_nothing_is_stored_or_logged(server):
    """Run last among the server tests (pytest keeps the file's order): after every upload above."""
    assert tree_digest(server.home) == server.before
    assert list(server.tmpdir.iterdir()) == []
    log = server.log.read_text()
    assert "check: POST /kontrollera 200" in log  # the access log is there, with routes and statuses only
    names = {Path(e["path"]).name for e in server.manifest.values()}
    assert not [n for n in names if n in log]
    fds = Path(f"/proc/{server.process.pid}/fd")
    open_files = [str(Path(fd).resolve()) for fd in fds.iterdir() if Path(fd).resolve().is_file()]
    assert not [f for f in open_files if f.startswith(str(server.home))], open_files


@pytest.fixture(scope="module")
def browser():
    found = chromium()
    if found is None:
        pytest.skip("chromium and chromedriver are not installed (make install installs them with apt-get as root)")
    if not AXE_FILE.exists():
        pytest.skip(f"axe-core is not at {AXE_FILE} (make install fetches it from the npm registry)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--lang=sv-SE"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def axe_violations(driver) -> list[dict]:
    driver.execute_script(AXE_FILE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done({violations: r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.html)})),"
        " passes: r.passes.map(p => p.id)}));")
    assert "color-contrast" in result["passes"] or any(v["id"] == "color-contrast" for v in result["violations"])
    return result["violations"]


def test_the_page_in_a_browser_by_keyboard_with_axe(server, browser, tmp_path):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    base = f"http://127.0.0.1:{server.port}/"
    browser.get(base)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=fil]").text.startswith("Inmatningsfil")
    assert browser.find_element(By.ID, "fil").get_attribute("aria-describedby") == "fil-hjalp"
    assert axe_violations(browser) == []
    # Focus order by keyboard: the file field, then the button.
    browser.find_element(By.TAG_NAME, "body").click()
    order = []
    for _ in range(2):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        order.append(active.get_attribute("id") or active.tag_name)
    assert order == ["fil", "button"]

    def check(path: Path) -> str:
        browser.get(base)
        browser.find_element(By.ID, "fil").send_keys(str(path))
        button = browser.find_element(By.CSS_SELECTOR, "form button[type=submit]")
        browser.execute_script("arguments[0].focus()", button)
        ActionChains(browser).send_keys(Keys.ENTER).perform()  # submitted from the keyboard

        def left(_) -> bool:  # the form's page has gone (chromedriver may say so in either of two ways)
            try:
                button.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                if "does not belong to the document" in str(exc):
                    return True
                raise

        WebDriverWait(browser, 20).until(left)
        loading = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(browser, 20, ignored_exceptions=loading).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
            and d.find_element(By.TAG_NAME, "h1").text)

    assert check(good_file(server)) == "Filen kan skickas in"
    assert browser.find_element(By.CSS_SELECTOR, "a[href^='/mall/']")
    assert axe_violations(browser) == []
    assert check(bad_file(server)) == "Filen behöver rättas"
    assert "Kolumnen D02 saknas" in browser.find_element(By.CSS_SELECTOR, "table.problems").text
    assert axe_violations(browser) == []
    big = tmp_path / "SF07_2025-26.xlsx"
    big.write_bytes(b"PK" + b"\0" * (MAX_UPLOAD + MiB))
    assert check(big) == "Kontrollera filen innan ni skickar den"
    assert "för stor för kontrollsidan" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert axe_violations(browser) == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
