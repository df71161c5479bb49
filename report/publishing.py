"""The front matter every report carries, from report/publishing.toml (NNS edits the file,
not the code), and the statistician's comments from report/comments/<period>.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = HERE / "publishing.toml"
COMMENTS = HERE / "comments"


@cache
def publishing(path: Path = SETTINGS) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def version(revision: int) -> str:
    """The edition's version and the document's revision: 1.0, 1.1, …"""
    return f"{publishing()['edition']['version']}.{revision}"


def front_matter(title: str, period: str | None, published: str, version: str, year: str) -> dict:
    """What a document says about itself: publisher, contact, date and version, how to cite it,
    the next publication, where the data and the method are, and its source line."""
    settings = publishing()
    publisher = settings["publisher"]
    citation = settings["citation"]
    return {
        "publisher": publisher["name"],
        "contact": publisher["contact"],
        "contact_address": publisher["contact_address"],
        "published": published,
        "version": version,
        "next_publication": settings["edition"]["next_publication"],
        "data": settings["links"]["data"],
        "method": settings["links"]["method"],
        "how_to_cite": citation["how_to_cite"].format(publisher=publisher["name"], year=year, title=title,
                                                      version=version),
        "source": citation["source"].format(period=period or ""),
        "source_registers": citation["source_registers"],
    }


def large_change_points() -> int:
    return int(publishing()["comments"]["large_change_points"])


@dataclass(frozen=True)
class Comment:
    period: str
    indicator_id: int
    respondent_group: str
    text: str | None  # None: a decision not to comment (`no_comment`, with its reason)
    no_comment: str | None = None


def comments(directory: Path = COMMENTS) -> list[Comment]:
    """Every period's comments, oldest first. A file is named by its period: 2021-22.toml."""
    found = []
    for path in sorted(directory.glob("*.toml")):
        period = path.stem.replace("-", "/", 1)
        with path.open("rb") as f:
            for entry in tomllib.load(f).get("comment", []):
                found.append(Comment(period, int(entry["indicator_id"]), str(entry["respondent_group"]),
                                     " ".join(entry["text"].split()) if entry.get("text") else None,
                                     entry.get("no_comment")))
    return found
