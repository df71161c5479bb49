"""Every SUS record of the current extract gets a fixed key for the Cell Key Method
(publication/ckm.py; docs/analysts.md, "The Cell Key Method").

The key is an HMAC-SHA256 keyed by NNS_CKM_SECRET (handed to dbt by
core.settings.Settings.dbt_env, so it is never written into compiled SQL) of who
the record is: the person's pseudonym, or for an anonymous record, which has none,
what SUS records about it that no later extract changes. So a person has the same
key in every build and every extract, and nobody without the secret can compute
it. int_register__participants takes it modulo the key range.
"""

import hashlib
import hmac
import os

import pandas as pd

ANONYMOUS = ("gender", "birth_year", "federation_code", "insats", "start_date")


def identity(person_key, *anonymous) -> str:
    return person_key if person_key is not None else "anonym|" + "|".join(map(str, anonymous))


def record_hash(secret: bytes, who: str) -> int:
    """The first 7 bytes of the HMAC as a non-negative BIGINT."""
    return int.from_bytes(hmac.new(secret, who.encode(), hashlib.sha256).digest()[:7], "big")


def model(dbt, session):
    dbt.config(materialized="table")
    secret = os.environ["NNS_CKM_SECRET"].encode()
    current = dbt.ref("int_register__current_extracts").filter("submission_source = 'register_sus'")
    records = dbt.ref("stg_register__participants").join(current.project("submission_id"), "submission_id")
    rows = records.project(", ".join(["submission_id", "source_row", "person_key", *ANONYMOUS])).fetchall()
    return pd.DataFrame(
        [(submission_id, source_row, record_hash(secret, identity(*who))) for submission_id, source_row, *who in rows],
        columns=["submission_id", "source_row", "record_hash"],
    ).astype({"submission_id": "string", "source_row": "int64", "record_hash": "int64"})  # typed even when empty
