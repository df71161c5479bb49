"""Which NNS_CKM_SECRET the record keys of this build were made under, without the secret itself.

One row: an HMAC-SHA256 under the secret of a fixed label (core/settings.py,
`Settings.ckm_secret_fingerprint`, computes the same; a test keeps the two equal). Publishing
under NNS_DISCLOSURE_METHOD=ckm compares it with the current secret's, so a
warehouse built under another secret (say the development value, under
suppression) is never perturbed with keys the operator did not choose.
"""

import hashlib
import hmac
import os

LABEL = b"nns ckm secret check"


def model(dbt, session):
    dbt.config(materialized="table")
    secret = os.environ["NNS_CKM_SECRET"].encode()
    fingerprint = hmac.new(secret, LABEL, hashlib.sha256).hexdigest()
    # An Arrow table, not pandas: importing pandas cost this one-row model 1.6-5.6 s per build.
    return session.sql("select $fingerprint as fingerprint", params={"fingerprint": fingerprint}).to_arrow_table()
