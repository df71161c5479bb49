"""The operator CLI: help texts, exit codes scripts can trust, progress bars only on a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import ledger
from operations import cli
from tests.conftest import sample_content

NNS = str(Path(sys.executable).with_name("nns"))
ANSI = re.compile(r"\x1b\[")
COMMANDS = ["status", "generate", "template", "ingest", "build", "report", "sql", "serve", "export"]


def test_every_command_explains_itself_and_its_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    top = capsys.readouterr().out
    assert all(command in top for command in COMMANDS) and "exit codes: 0 success; 1" in top
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "exit codes: 0" in text, command


def nns_in(settings, *args, tty: bool) -> tuple[int, str]:
    """Run nns with stdout on a pseudo-terminal (tty=True) or a pipe; return (exit code, stdout)."""
    env = {**os.environ, "NNS_HOME": str(settings.home), "COLUMNS": "120", "TERM": "xterm"}
    if not tty:
        result = subprocess.run([NNS, *args], env=env, capture_output=True, text=True, timeout=300)
        return result.returncode, result.stdout
    leader, follower = pty.openpty()
    process = subprocess.Popen([NNS, *args], env=env, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def three_files(write_submission):
    return [write_submission(f"SF0{i}_2025-26.xlsx", content=sample_content(f"SF0{i}")) for i in (1, 2, 7)]


def test_ingest_draws_a_bar_on_a_terminal(settings, write_submission):
    three_files(write_submission)
    code, out = nns_in(settings, "ingest", tty=True)
    assert code == 0
    assert ANSI.search(out) and "ingest" in out and "3/3" in out, out[-2000:]
    assert out.count("accepted SF0") == 3


def test_ingest_prints_plain_lines_to_a_pipe(settings, write_submission):
    three_files(write_submission)
    code, out = nns_in(settings, "ingest", tty=False)
    assert code == 0 and not ANSI.search(out)
    assert [line.split()[0] for line in out.splitlines()] == ["accepted"] * 3


def test_a_rejected_file_exits_1(settings, write_submission):
    def broken(wb):
        wb["Deltagare"]["F2"] = 7

    write_submission("SF07_2025-26.xlsx", edit=broken)
    code, out = nns_in(settings, "ingest", tty=False)
    assert code == 1 and out.startswith("REJECTED SF07_2025-26.xlsx")


def test_a_wrong_path_exits_2_before_any_work(settings, write_submission, capsys):
    good = write_submission("SF07_2025-26.xlsx")
    assert cli.main(["ingest", str(good), str(settings.inbox / "no-such-file.xlsx")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert good.exists(), "the good file was not ingested either"
    assert not settings.ledger.exists() or ledger.all_records(settings) == []


REFUSED_LINK = ("REFUSED FILE_NOT_REGULAR: SF01_2025-26.xlsx är ingen vanlig fil (en symbolisk länk) och lämnas "
                "orörd. Lägg filen själv i inkorgen, inte en genväg (symbolisk länk) eller en annan specialfil.")
REFUSED_FIFO = ("REFUSED FILE_NOT_REGULAR: SF02_2025-26.xlsx är ingen vanlig fil (en namngiven pipe (FIFO)) och "
                "lämnas orörd. Lägg filen själv i inkorgen, inte en genväg (symbolisk länk) eller en annan specialfil.")


def test_a_symlink_or_fifo_is_refused_in_one_line_and_the_others_go_on(settings, write_submission, tmp_path):
    outside = write_submission("SF01_2025-26.xlsx", content=sample_content("SF01")).rename(tmp_path / "x.xlsx")
    link = settings.inbox / "SF01_2025-26.xlsx"
    link.symlink_to(outside)
    fifo = settings.inbox / "SF02_2025-26.xlsx"
    os.mkfifo(fifo)
    write_submission("SF07_2025-26.xlsx")
    write_submission("SF03_2025-26.xlsx", content=sample_content("SF03"))
    env = {**os.environ, "NNS_HOME": str(settings.home)}

    def ingest(*given: Path) -> list[str]:
        result = subprocess.run([NNS, "ingest", *map(str, given)], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        return result.stdout.splitlines()

    by_name = ingest(link, fifo, settings.inbox / "SF07_2025-26.xlsx")
    assert by_name[:2] == [REFUSED_LINK, REFUSED_FIFO] and by_name[2].startswith("accepted SF07_2025-26.xlsx")
    from_folder = ingest(settings.inbox)  # a folder: every entry in it, symlinks and FIFOs too
    assert from_folder[:2] == [REFUSED_LINK, REFUSED_FIFO] and from_folder[2].startswith("accepted SF03")
    outside.unlink()  # now a dangling link
    assert ingest() == [REFUSED_LINK, REFUSED_FIFO], "listing the inbox reports them the same way"
    assert link.is_symlink() and fifo.is_fifo(), "left where they are"
    assert sorted(r.file_name for r in ledger.all_records(settings)) == ["SF03_2025-26.xlsx", "SF07_2025-26.xlsx"]


def test_a_folder_given_to_ingest_leaves_out_what_the_inbox_calls_temporary(tmp_path):
    """`nns ingest FOLDER` and the inbox skip the same names (ingest.inbox.is_temporary)."""
    from operations.cli import files_in

    for name in ("SF01_2025-26.xlsx", "SF02_2025-26.xlsx.part", "~$SF03_2025-26.xlsx", ".hidden.xlsx",
                 "upload.crdownload", ".partial/SF04_2025-26.xlsx", "sub/SF05_2025-26.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in files_in(tmp_path)] == [
        "SF01_2025-26.xlsx", "sub/SF05_2025-26.csv"]


def test_generate_draws_bars_on_a_terminal_only(settings, tmp_path):
    code, out = nns_in(settings, "generate", "--profile", "small", "--surveys-only", "--out", str(tmp_path / "t"),
                       tty=True)
    assert code == 0 and ANSI.search(out) and "surveys" in out
    code, out = nns_in(settings, "generate", "--profile", "small", "--surveys-only", "--out", str(tmp_path / "p"),
                       tty=False)
    assert code == 0 and not ANSI.search(out) and out.lstrip().startswith("{")
    assert sorted(p.read_bytes() for p in (tmp_path / "t").iterdir()) == \
        sorted(p.read_bytes() for p in (tmp_path / "p").iterdir()), "the bar changes nothing written"
