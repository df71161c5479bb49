"""Every returned questionnaire gets a fixed key for the Cell Key Method
(publication/ckm.py; docs/analysts.md, "The Cell Key Method").

The key is an HMAC-SHA256 keyed by NNS_CKM_SECRET of what the questionnaire is, and no
resubmission or new file changes: the federation, the period, the questionnaire and the
serial number the federation gave it. So a questionnaire keeps its key in every build,
in a corrected file of its own federation, and whatever other federations send; nobody
without the secret can compute it. Its answers carry its key (int_survey__responses takes
it modulo the key range). The HMAC has one home, core.record_keys.
"""

import os

from core.record_keys import hash_sql, pads

IDENTITY = ("federation_code", "period", "respondent_group", "serial")


def identity(*values) -> str:
    return "enkät|" + "|".join(map(str, values))


IDENTITY_SQL = "'enkät|' || concat_ws('|', " + ", ".join(f"cast({c} as varchar)" for c in IDENTITY) + ")"
HASH_SQL = hash_sql(IDENTITY_SQL)


def model(dbt, session):
    dbt.config(materialized="table")
    secret = os.environ["NNS_CKM_SECRET"].encode()
    session.register("record_keys_questionnaires", dbt.ref("int_survey__respondents"))
    keys = session.sql(f"select respondent_id, {HASH_SQL} as record_hash from record_keys_questionnaires",
                       params=pads(secret)).to_arrow_table()
    session.unregister("record_keys_questionnaires")
    return keys  # dbt's parser wants one return statement, so no try/finally around it
