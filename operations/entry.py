"""The `nns` console script: process-wide settings first, then the CLI.

OpenBLAS reads OPENBLAS_NUM_THREADS once, when numpy loads it, so it is set
here, before anything imports numpy: disclosure control solves many small dense
problems, where OpenBLAS's threads only add overhead (on a busy machine their
spinning made publication several times slower; bench/results.md). An explicit
setting wins. The compose file sets the same for the Airflow workers.
"""

import os
import sys


def main() -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Lazy on purpose: the CLI imports numpy, which reads the setting above when it loads.
    from operations.cli import main as cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
