"""The check page: a small web service where a federation checks a file before sending it (`nns check-server`).

It sits above `feedback` (whose page it renders) and `ingest` (whose verdict it shows), below
`operations` (whose CLI starts it), and imports nothing that writes to the data home: it reads the
catalogue, and nothing else of it.
"""
