"""The layout's promises, checked: imports go one way, DAG files stay thin, modules import at the top."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from core.settings import REPO_ROOT

PRODUCT = ["core", "ingest", "warehouse", "expectations", "publication", "report", "api", "operations", "synthetic"]


def test_the_import_contract_holds():
    """pyproject.toml's [tool.importlinter] contracts: the layers, and what each layer must not import."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node, [node.module or ""]


def test_dag_files_import_only_airflow_and_the_operations_layer():
    for dag_file in sorted((REPO_ROOT / "dags").glob("*.py")):
        for _, names in _imports(ast.parse(dag_file.read_text(encoding="utf-8"))):
            for name in names:
                top = name.split(".")[0]
                assert top in {"airflow", "operations", "datetime", "pathlib", "__future__"}, (dag_file.name, name)
                if top in PRODUCT:
                    assert top == "operations", (dag_file.name, name)


def test_an_import_inside_a_function_says_why():
    """Imports go at the top of a module; a lazy one carries a comment with its measured cost."""
    unexplained = []
    for package in PRODUCT:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            tree = ast.parse(source)
            for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        context = " ".join(lines[max(0, node.lineno - 4):node.lineno])
                        if "lazy" not in context.lower():
                            unexplained.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not unexplained, "imports inside functions without a 'Lazy: <why>' comment: " + ", ".join(unexplained)


def test_importing_the_product_changes_no_environment():
    code = ("import os; before = dict(os.environ); "
            + "; ".join(f"import {m}" for m in ["core.settings", "ingest.submission", "publication.stage",
                                                 "operations.steps", "operations.cli"])
            + "; assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_readme_layout_table_matches_the_tree():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([^`]+)/`", readme, re.MULTILINE))
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    folders = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    assert table == folders, f"in the tree but not the table: {folders - table}; in the table only: {table - folders}"
