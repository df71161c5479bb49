import os

# Disclosure control solves many small dense SVDs (nns.disclosure). OpenBLAS's
# threads only add overhead at that size, and on a busy machine their spinning
# made publication several times slower (measured in bench/results.md). Set
# before numpy loads it; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
