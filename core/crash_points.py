"""Named crash points for the fault tests: `checkpoint("publish.before_replace")`.

A no-op unless NNS_FAULT_KILL_AT names the point (optionally `name@n` for its
n-th pass in this process); then the process SIGKILLs itself there, as a power
cut or an OOM kill would. Read straight from the environment, not the settings
object: it is a test hook, not configuration, and must cost nothing when unset.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passes: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    wanted = os.environ.get("NNS_FAULT_KILL_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
