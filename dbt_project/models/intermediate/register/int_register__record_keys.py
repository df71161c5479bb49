"""Every SUS record of the current extract gets a fixed key for the Cell Key Method
(publication/ckm.py; docs/analysts.md, "The Cell Key Method").

The key is an HMAC-SHA256 keyed by NNS_CKM_SECRET (handed to dbt by
core.settings.Settings.dbt_env, so it is never written into compiled SQL) of who
the record is: the person's pseudonym, or for an anonymous record, which has none,
what SUS records about it that no later extract changes. So a person has the same
key in every build and every extract, and nobody without the secret can compute
it. int_register__participants takes it modulo the key range.

`identity` and `record_hash` define the key in Python. The model computes the same
in DuckDB (IDENTITY_SQL, HASH_SQL: HMAC from SHA-256 as RFC 2104 builds it), with the
key's two pads bound as query parameters, so the secret is in no SQL text; that is
about ten times quicker than hashing row by row in Python. tests/unit/test_ckm.py
keeps the two equal.
"""

import hashlib
import hmac
import os

ANONYMOUS = ("gender", "birth_year", "federation_code", "insats", "start_date")
BLOCK = 64  # SHA-256's block size in bytes (RFC 2104's B)


def identity(person_key, *anonymous) -> str:
    return person_key if person_key is not None else "anonym|" + "|".join(map(str, anonymous))


def record_hash(secret: bytes, who: str) -> int:
    """The first 7 bytes of the HMAC as a non-negative BIGINT."""
    return int.from_bytes(hmac.new(secret, who.encode(), hashlib.sha256).digest()[:7], "big")


def pads(secret: bytes) -> dict[str, bytes]:
    """HMAC's inner and outer pads of the key: HASH_SQL's parameters $ipad and $opad."""
    key = (hashlib.sha256(secret).digest() if len(secret) > BLOCK else secret).ljust(BLOCK, b"\0")
    return {"ipad": bytes(b ^ 0x36 for b in key), "opad": bytes(b ^ 0x5C for b in key)}


# identity() in SQL: Python's str() of a missing value is 'None'; DuckDB casts an integer and a
# date to the same text as str() does (1980, 2023-01-01).
IDENTITY_SQL = ("coalesce(person_key, 'anonym|' || concat_ws('|', "
                + ", ".join(f"coalesce(cast({column} as varchar), 'None')" for column in ANONYMOUS) + "))")
# record_hash() in SQL: sha256(opad || sha256(ipad || message)), its first 7 bytes (14 hex digits) as a BIGINT.
HASH_SQL = f"('0x' || left(sha256($opad || unhex(sha256($ipad || encode({IDENTITY_SQL})))), 14))::bigint"


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
