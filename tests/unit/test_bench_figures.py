"""The committed benchmark figures are written in one place, results.json; results.md and the
README's headline block are generated from it and must not drift from it (or from each other)."""

from __future__ import annotations

import json

from bench.report import README_END, README_START, with_headline, write_markdown
from core.settings import REPO_ROOT

RESULTS = json.loads((REPO_ROOT / "bench" / "results.json").read_text(encoding="utf-8"))


def test_results_page_is_what_the_committed_figures_give():
    assert (REPO_ROOT / "bench" / "results.md").read_text(encoding="utf-8") == write_markdown(RESULTS), \
        "bench/results.md differs from bench/results.json: run `.venv/bin/python -m bench.report`"


def test_readme_headline_is_what_the_committed_figures_give():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(README_START) == readme.count(README_END) == 1
    assert readme == with_headline(readme, RESULTS), \
        "the README's headline figures differ from bench/results.json: run `.venv/bin/python -m bench.report`"
    block = readme.split(README_START)[1].split(README_END)[0]
    national = RESULTS["profiles"]["national"]
    # The figures a reader looks for first, as the results page prints them.
    assert f"({national['e2e_s']:.0f} s)" in block or f"{national['e2e_s']:.1f} s" in block
    assert f"{national['increment_s']:.1f} s" in block
    assert RESULTS["machine"]["commit"] in block
