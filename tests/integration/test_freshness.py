"""Collection freshness: a federation that submitted last period but has sent
nothing in the current window is flagged 'saknas', and dbt warns about it."""

from __future__ import annotations

import duckdb

from core.settings import get_settings
from warehouse.dbt import run_dbt


def _status(settings, federation: str) -> tuple[str, str]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("select period || ' ' || window_name, freshness_status from marts.collection_freshness "
                           "where federation_code = ?", [federation]).fetchone()


def test_a_federation_silent_in_this_window_is_flagged(published_home, monkeypatch):
    # SF01 sent its 2022/23 file on 24 October 2023, in the autumn window that opened on 1 October.
    monkeypatch.setenv("NNS_AS_OF", "2023-10-20")
    output = run_dbt(get_settings(), "build", "--select", "collection_freshness")
    assert _status(get_settings(), "SF01") == ("2022/23 höst", "saknas")
    assert "WARN" in output and "accepted_values_collection_freshness_freshness_status" in output

    monkeypatch.setenv("NNS_AS_OF", "2023-10-25")
    run_dbt(get_settings(), "build", "--select", "collection_freshness")
    assert _status(get_settings(), "SF01") == ("2022/23 höst", "inkommen")
