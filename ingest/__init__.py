"""Inbox → lake: read, validate, pseudonymise, land or quarantine (entry point: ingest.submission)."""
