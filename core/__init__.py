"""The bottom layer: settings and data-home paths, the catalogue, atomic files, crash points, the ledger."""
