"""What the check page's browser test needs besides Python packages: headless Chromium and axe-core.

- Chromium and its driver are Debian packages (`chromium`, `chromium-driver`); `make install`
  installs them with apt-get when it runs as root (best effort, like docker-compose).
- axe-core (Deque's accessibility checker, the WCAG 2.1 A/AA rules) is a JavaScript file from the
  npm registry. `make install` fetches the pinned tarball once into .tools/ (`python -m tests.browser`)
  and checks it against the registry's sha512 integrity before it is used.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

AXE_VERSION = "4.14.1"
AXE_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
AXE_FILE = Path(__file__).resolve().parent.parent / ".tools" / f"axe-core-{AXE_VERSION}" / "axe.min.js"


def chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def fetch_axe(timeout: float = 60) -> Path:
    """axe.min.js of the pinned version, downloaded and verified once (raises if the bytes differ)."""
    if AXE_FILE.exists():
        return AXE_FILE
    with urllib.request.urlopen(AXE_URL, timeout=timeout) as response:  # noqa: S310 - a fixed https URL
        data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != AXE_INTEGRITY:
        raise RuntimeError(f"axe-core {AXE_VERSION}: the tarball's sha512 is not the registry's integrity")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        script = tar.extractfile("package/axe.min.js").read()
    AXE_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial = AXE_FILE.with_suffix(".part")
    partial.write_bytes(script)
    partial.rename(AXE_FILE)
    return AXE_FILE


if __name__ == "__main__":
    try:
        print(f"axe-core {AXE_VERSION}: {fetch_axe()}")
    except Exception as exc:  # noqa: BLE001 - best effort at install time; the test says what is missing
        print(f"axe-core not fetched ({exc}): the check page's accessibility test will be skipped", file=sys.stderr)
