"""The read API (PxWebApi 2.0) and the exports, over publish/marts.duckdb only."""
