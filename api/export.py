"""`nns export`: published tables as files for people and programs (csv, xlsx, parquet, px).

csv, xlsx and parquet hold the table as published, every row and column (docs/analysts.md, section 3);
px holds the table as the API serves it (docs/analysts.md, section 7), the same as `outputFormat=px` with
every value selected. Each file is written beside its final name and renamed into place.
"""

from __future__ import annotations

from pathlib import Path

from api import data as selection
from api import formats
from api.cubes import Cubes
from core.files import atomic_write_bytes

EXPORT_FORMATS = ("csv", "xlsx", "parquet", "px")


class ExportRefused(ValueError):
    """The table does not exist, or cannot be written in this format (px needs the table's row key)."""


def export_table(pub: Cubes, table: str, fmt: str, out_dir: Path, *, plain: bool = False,
                 contact: str = "", lang: str = "sv") -> Path:
    spec = pub.db.spec(table)
    if spec is None:
        names = ", ".join(s.name for s in pub.tables)
        raise ExportRefused(f"{table!r} is not a published table; the tables are: {names}.")
    if fmt not in EXPORT_FORMATS:
        raise ExportRefused(f"Format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}.")
    suffix = "plain.csv" if fmt == "csv" and plain else formats.FORMATS[fmt][1]
    path = out_dir / f"{table}.{suffix}"
    if fmt == "px":
        cube = pub.cube(table)
        if cube is None:
            raise ExportRefused(f"{table} has no row key the API knows, so it has no PC-Axis form. "
                                "Export it as csv, xlsx or parquet.")
        everything = {d.code: list(d.values) for d in cube.dimensions}
        result = selection.fetch(pub, cube, everything, max_cells=10**9)
        payload = formats.px(pub, result, lang, contact)
    else:
        columns = ", ".join(f'"{c}"' for c in pub.db.published_columns(spec))
        table_rows = pub.db.arrow(f'select {columns} from "{spec.name}"')
        if fmt == "parquet":
            payload = formats.to_parquet(table_rows)
        else:
            frame = selection.frame_of(table_rows)
            if fmt == "csv":
                payload = formats.to_csv(frame, spec.nulled, plain=plain)
            else:
                cube = pub.cube(table)
                title = cube.label(lang) if cube else table
                about = [*pub.db.notes(lang, table), f"Kontakt: {contact}",
                         f"Senast uppdaterad: {pub.db.info.updated}"]
                payload = formats.to_xlsx(frame, spec.nulled, title, about)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, payload, mode=0o644)
    return path
