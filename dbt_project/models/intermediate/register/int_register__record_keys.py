"""Every SUS record of the current extract gets a fixed key for the Cell Key Method
(publication/ckm.py; docs/analysts.md, "The Cell Key Method").

The key is an HMAC-SHA256 keyed by NNS_CKM_SECRET (handed to dbt by
core.settings.Settings.dbt_env, so it is never written into compiled SQL) of who
the record is: the person's pseudonym, or for an anonymous record, which has none,
what SUS records about it that no later extract changes. So a person has the same
key in every build and every extract, and nobody without the secret can compute
it. int_register__participants takes it modulo the key range. The HMAC itself has one
home, core.record_keys (computed in DuckDB, the secret's pads bound as parameters).
"""

import os

from core.record_keys import hash_sql, pads, record_hash  # noqa: F401  (record_hash: the Python definition)

ANONYMOUS = ("gender", "birth_year", "federation_code", "insats", "start_date")


def identity(person_key, *anonymous) -> str:
    return person_key if person_key is not None else "anonym|" + "|".join(map(str, anonymous))


# identity() in SQL: Python's str() of a missing value is 'None'; DuckDB casts an integer and a
# date to the same text as str() does (1980, 2023-01-01).
IDENTITY_SQL = ("coalesce(person_key, 'anonym|' || concat_ws('|', "
                + ", ".join(f"coalesce(cast({column} as varchar), 'None')" for column in ANONYMOUS) + "))")
HASH_SQL = hash_sql(IDENTITY_SQL)


def model(dbt, session):
    dbt.config(materialized="table")
    secret = os.environ["NNS_CKM_SECRET"].encode()
    current = dbt.ref("int_register__current_extracts").filter("submission_source = 'register_sus'")
    records = dbt.ref("stg_register__participants").join(current.project("submission_id"), "submission_id")
    session.register("record_keys_records", records)
    keys = session.sql(f"select submission_id, source_row, {HASH_SQL} as record_hash from record_keys_records",
                       params=pads(secret)).to_arrow_table()
    session.unregister("record_keys_records")
    return keys  # dbt's parser wants one return statement, so no try/finally around it
