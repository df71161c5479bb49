"""Record keys for the Cell Key Method: the one definition of how a record's fixed, secret key is made.

Every record a published count counts (a SUS record, a questionnaire row) gets a key from an
HMAC-SHA256 under NNS_CKM_SECRET of *who or what the record is*, something no later delivery
changes (publication/ckm.py; docs/analysts.md, "The Cell Key Method"). The warehouse takes it
modulo the key range; a cell's key is the sum of its records' keys, modulo the range.

`record_hash` defines the key in Python; `hash_sql` builds the same in DuckDB (HMAC from
SHA-256 as RFC 2104 builds it), with the secret's two pads bound as query parameters (`pads`),
so the secret is in no SQL text. The dbt Python models that key the records
(int_register__record_keys, int_survey__record_keys) use `hash_sql`; tests/unit/test_ckm.py
keeps it equal to `record_hash`.
"""

from __future__ import annotations

import hashlib
import hmac

BLOCK = 64  # SHA-256's block size in bytes (RFC 2104's B)


def record_hash(secret: bytes, who: str) -> int:
    """The first 7 bytes of the HMAC as a non-negative BIGINT."""
    return int.from_bytes(hmac.new(secret, who.encode(), hashlib.sha256).digest()[:7], "big")


def pads(secret: bytes) -> dict[str, bytes]:
    """HMAC's inner and outer pads of the key: hash_sql's parameters $ipad and $opad."""
    key = (hashlib.sha256(secret).digest() if len(secret) > BLOCK else secret).ljust(BLOCK, b"\0")
    return {"ipad": bytes(b ^ 0x36 for b in key), "opad": bytes(b ^ 0x5C for b in key)}


def hash_sql(identity_sql: str) -> str:
    """record_hash() in SQL for the text `identity_sql`: sha256(opad || sha256(ipad || message)), its first
    7 bytes (14 hex digits) as a BIGINT."""
    return f"('0x' || left(sha256($opad || unhex(sha256($ipad || encode({identity_sql})))), 14))::bigint"
