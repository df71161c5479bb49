"""The read API under measurement: `nns serve` on loopback over a run's published database.

- the median latency of a typical /data request (one indicator, one questionnaire, the latest
  period, every federation and gender, n and positive_share: json-stat2) and of /metadata,
  each over sequential requests from one client; and of the same request for each indicator once
  (rendered, not cached: `data_uncached_median_ms`);
- then CLIENTS concurrent clients for SECONDS, alternating /data and /metadata: requests,
  errors (anything but 200) and the server's peak memory (its process tree, sampled like the
  end-to-end run).

All clients are one address (loopback), so the server runs with its rate limit raised out of the way
(`--calls-per-window`): what is measured is how fast it serves, not the limit, which refuses a single
client's calls over `maxCallsPerTimeWindow` with 429 (tests/integration/test_api.py). Identical requests
are answered from the per-build response cache (api.serving) after the first; the sequential medians
time those cached answers, as an analyst's repeated script or a dashboard sees them.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bench.measure import GIB, TreeMemory

REPEATS = 30
CLIENTS = 20
SECONDS = 30
UNLIMITED = str(10**9)  # calls per window: the rate limit out of the way of one address's many clients


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def typical_request(base: str) -> tuple[str, str]:
    """The /data URL of a typical question, and the metadata URL, for this build."""
    table = requests.get(f"{base}/tables/indicator_results", timeout=30).json()
    latest = table["lastPeriod"]
    data = (f"{base}/tables/indicator_results/data?valueCodes[period]={latest}"
            "&valueCodes[respondent_group]=deltagare&valueCodes[indicator_id]=4&valueCodes[federation_code]=*"
            "&valueCodes[gender]=*&valueCodes[ContentsCode]=n,positive_share")
    return data, f"{base}/tables/indicator_results/metadata"


def _median_ms(session: requests.Session, url: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _median_of_each(session: requests.Session, urls: list[str]) -> float:
    """The median time of requests each made once, answered by rendering, not from the cache."""
    times = []
    for url in urls:
        started = time.perf_counter()
        session.get(url, timeout=30).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _load(urls: list[str], clients: int, seconds: float) -> dict:
    stop = time.monotonic() + seconds
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def client(n: int) -> None:
        session = requests.Session()
        i = n
        while time.monotonic() < stop:
            try:
                ok = session.get(urls[i % len(urls)], timeout=60).status_code == 200
            except requests.RequestException:
                ok = False
            i += 1
            with lock:
                counts["requests"] += 1
                counts["errors"] += not ok

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def measure(home: Path, *, repeats: int = REPEATS, clients: int = CLIENTS, seconds: float = SECONDS) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    nns = str(Path(sys.executable).with_name("nns"))
    server = subprocess.Popen([nns, "serve", "--port", str(port), "--calls-per-window", UNLIMITED],
                              env={**os.environ, "NNS_HOME": str(home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/config", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("nns serve did not start: " + (server.stderr.read() or b"").decode()[-2000:])
            time.sleep(0.1)
        data_url, metadata_url = typical_request(base)
        session = requests.Session()
        session.get(data_url, timeout=30).raise_for_status()  # the first request opens the file and builds the cube
        uncached = [data_url.replace("valueCodes[indicator_id]=4", f"valueCodes[indicator_id]={i}")
                    for i in requests.get(f"{base}/tables/indicator_results/metadata", timeout=30).json()
                    ["dimension"]["indicator_id"]["category"]["index"]]
        out = {"data_uncached_median_ms": _median_of_each(session, uncached),
               "data_median_ms": _median_ms(session, data_url, repeats),
               "metadata_median_ms": _median_ms(session, metadata_url, repeats),
               "repeats": repeats, "clients": clients, "seconds": seconds}
        with TreeMemory(server.pid) as memory:
            counts = _load([data_url, metadata_url], clients, seconds)
        out.update(counts)
        out["load_peak_rss_gib"] = round(memory.peak_bytes / GIB, 3)
        out["load_memory_samples"] = memory.samples
        out["requests_per_s"] = round(counts["requests"] / seconds, 1)
        return out
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
