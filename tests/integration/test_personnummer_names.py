"""A personnummer in a file name never reaches Airflow.

The DAGs pass each file's path from the listing task to the mapped ingest tasks, and Airflow
stores those arguments (XCom) and labels in its metadata database and logs. So the listing
refuses such a name (`PERSONAL_NUMBER_IN_NAME`, ingest/inbox.py) and leaves the file where it
is: after real runs of nns_registers and nns_collect, no form of the number is stored anywhere
under the data home but the inbox (the search is test_end_to_end's, which finds a planted one).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from core import ledger
from core.catalogue import load_catalogue
from core.settings import get_settings
from ingest.personnummer import FORMS, format_number
from ingest.template import write_workbook
from tests.conftest import environment, sample_content
from tests.integration.test_end_to_end import find_personnummer
from tests.unit.test_personnummer_leaks import SECRET
from tests.unit.test_register import MAN, WOMAN, sus_row, write_sus

NNS = str(Path(sys.executable).with_name("nns"))


def test_a_file_named_with_a_personnummer_never_reaches_airflow(tmp_path):
    home = tmp_path / "home"
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="names-test-key", NNS_STABLE_SECONDS="0"):
        settings = get_settings()
    register = settings.inbox / "register"
    register.mkdir(parents=True)
    write_sus(register, [sus_row(format_number(MAN, "12-"), "M")])
    named_sus = write_sus(register, [sus_row(format_number(WOMAN, "12-"), "K")],
                          name=f"sus_deltagare_2024-05_{format_number(SECRET, '10')}.csv")
    catalogue = load_catalogue(settings.catalogue_dir)
    write_workbook(settings.inbox / "SF07_2025-26.xlsx", sample_content(), catalogue, with_guidance=False)
    named_survey = settings.inbox / f"SF08_2025-26_{format_number(SECRET, '12-')}.xlsx"
    write_workbook(named_survey, sample_content("SF08"), catalogue, with_guidance=False)

    env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": "names-test-key", "NNS_STABLE_SECONDS": "0"}
    output = ""
    for command in (["nns_registers"], ["nns_collect", "--conf", '{"ignore_calendar": true}']):
        run = subprocess.run([NNS, "run", *command], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        output += run.stdout + run.stderr

    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        mapped = db.execute("select dag_id, rendered_map_index, state from task_instance where task_id = 'ingest' "
                            "order by dag_id").fetchall()
    assert mapped == [("nns_collect", "SF07_2025-26.xlsx", "success"),
                      ("nns_registers", "sus_deltagare_2024-06.csv", "success")], "only the other files"
    assert named_sus.exists() and named_survey.exists(), "refused and left where they are"
    assert sorted(r.file_name for r in ledger.all_records(settings)) == ["SF07_2025-26.xlsx",
                                                                        "sus_deltagare_2024-06.csv"]
    forms = {format_number(SECRET, form) for form in FORMS}
    assert find_personnummer(home, settings.inbox, forms) == []
    # The listing tasks' log says what was refused, with the number masked (dag.test() logs to the console).
    assert output.count("PERSONAL_NUMBER_IN_NAME") >= 2 and "[personnummer borttaget]" in output, output[-3000:]
    assert not [form for form in forms if form in output] and SECRET[2:] not in output
