"""Feedback to federations: the Swedish page a rejected survey file gets (inbox → feedback/).

A room of its own, above ingest: it reads the quarantine's errors.json and the catalogue,
and imports nothing of the report stack (no charts, no Typst), so an ingest task
that rejects a file writes its page at once.
"""
