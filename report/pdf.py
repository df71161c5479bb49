"""PDF output through WeasyPrint, with each font subset once per process.

WeasyPrint subsets every embedded font for every document. Without HarfBuzz's
subsetter library it uses fontTools, about 0.3 s per font per document for
DejaVu Sans, which made font subsetting a fifth of the report time. The reports
share a few fonts and nearly the same characters, so a process keeps, per font,
the subset it made last and the glyphs in it. If a document needs no other
glyphs, it reuses that subset. Otherwise it subsets again to the union of both
glyph sets, so the union grows and reuse becomes the rule. Glyph ids are kept in
a subset (retain_gids), so a subset with more glyphs is valid for any document
whose glyphs it holds. The pages look the same; a PDF can carry a few more glyphs.
"""

from __future__ import annotations

import functools

from weasyprint import HTML
from weasyprint.pdf import fonts

_SUBSETS: dict[tuple, tuple[frozenset, bytes]] = {}


def _install() -> None:
    original = fonts.Font.subset
    if getattr(original, "_nns_cached", False):
        return

    @functools.wraps(original)
    def subset(self, to_unicode, hinting):
        file_hash = getattr(self, "hash", None)
        if not to_unicode or self.missing or file_hash is None:
            return original(self, to_unicode, hinting)
        key = (file_hash, self.index, len(self.file_content), bool(hinting))
        wanted = frozenset(to_unicode)
        known = _SUBSETS.get(key)
        if known and wanted <= known[0]:
            self.file_content = known[1]
            return None
        glyphs = wanted | (known[0] if known else frozenset())
        # Only the glyph ids (the keys) are used for subsetting; the text mapping is built elsewhere.
        result = original(self, dict.fromkeys(sorted(glyphs)), hinting)
        _SUBSETS[key] = (glyphs, self.file_content)
        return result

    subset._nns_cached = True
    fonts.Font.subset = subset


PDF_VARIANT = "pdf/ua-1"  # tagged PDF: structure tree, /Lang from <html lang>, title shown, figure /Alt


def write_pdf(html: str, base_url: str, target) -> None:
    """Render HTML to a tagged PDF/UA-1 file (WeasyPrint), reusing font subsets across documents."""
    _install()
    HTML(string=html, base_url=base_url).write_pdf(target, pdf_variant=PDF_VARIANT)
