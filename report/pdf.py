"""The PDF of a report: its HTML turned into Typst markup and typeset by Typst as PDF/UA-1.

The HTML is the one source of what a report says; the PDF is made from it, so the two
cannot disagree. Only the small set of elements the report templates use is understood
(headings, paragraphs, lists, tables with header rows, figures with an image and a
caption, and a few classes for layout), and an element outside it is an error, not
something silently dropped.

Typst was chosen by measurement (docs/reports.md, "Renderer"): it typesets a federation
report in a few hundredths of a second where WeasyPrint took about 3.5 s, and with the
PDF/UA-1 standard it refuses to write a file that breaks the standard's machine-checkable
rules (a missing title or language, an image without alternative text, a skipped heading
level, …): every PDF written is checked by it, and a refusal is raised as `PdfRefused`.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import typst

STANDARD = "ua-1"
FONTS = [Path("/usr/share/fonts/truetype/dejavu")]  # DejaVu Sans, as in the HTML (Debian: fonts-dejavu-core)
ACCENT, MUTED, LINE = "#2f6f9f", "#5b6770", "#d9dee2"


class PdfRefused(RuntimeError):
    """Typst refused to write the PDF: it would not conform to PDF/UA-1 (or the markup is wrong)."""


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list = field(default_factory=list)  # Node or str

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


VOID = {"meta", "img", "br", "link", "hr"}


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def _find(node: Node, tag: str) -> Node | None:
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == tag:
                return child
            found = _find(child, tag)
            if found:
                return found
    return None


def string(text: str) -> str:
    """A Typst string literal; control characters (no font draws them) are dropped."""
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _text(text: str) -> str:
    """Text in markup, never read as markup: an embedded string, ended by ';'."""
    return f"#{string(text)};" if text else ""


def _colour(value: str) -> str:
    return f'rgb("{value}")'


INLINE = {"strong", "b", "em", "i", "a", "span", "br", "small", "sup", "abbr", "code"}
PREAMBLE = f"""
#set text(lang: "sv", region: "SE", font: "DejaVu Sans", size: 9.5pt, fill: rgb("#1f2933"))
#set par(leading: 0.6em, spacing: 0.9em)
#set figure(numbering: none, gap: 4pt)
#set figure.caption(position: top)
#show figure.caption: it => align(left, text(weight: "bold", size: 9.5pt, it.body))
#show figure: set align(left)
#show figure.where(kind: table): set block(breakable: true)
#show heading: set text(fill: {_colour(ACCENT)})
#show heading.where(level: 1): set text(size: 20pt)
#show heading.where(level: 2): it => block(width: 100%, below: 7pt, above: 16pt, inset: (bottom: 3pt),
  stroke: (bottom: 1.5pt + {_colour(ACCENT)}), text(size: 13.5pt, it.body))
#show heading.where(level: 3): set text(size: 11pt, fill: rgb("#1f2933"))
#show heading.where(level: 4): set text(size: 9.5pt, fill: rgb("#1f2933"))
#show link: set text(fill: {_colour(ACCENT)})
#set table(stroke: (x: none, y: 0.5pt + {_colour(LINE)}), inset: (x: 4pt, y: 3pt))
#show table: set text(size: 8.5pt)
#set list(indent: 4pt, spacing: 0.7em)
"""


class Converter:
    """HTML (the report templates' subset) to Typst markup."""

    def __init__(self):
        self.label_next: str | None = None  # an enclosing element's id: the label of the next heading or table

    def take_label(self) -> str | None:
        label, self.label_next = self.label_next, None
        return label

    # ---- blocks ----
    def blocks(self, node: Node) -> str:
        """The children of `node` as block markup; runs of inline content become paragraphs."""
        out, run = [], []

        def flush():
            text = "".join(run).strip()
            if text:
                out.append(text + "\n\n")
            run.clear()

        for child in node.children:
            if isinstance(child, str):
                run.append(self.inline_text(child))
            elif child.tag in INLINE:
                run.append(self.inline(child))
            else:
                flush()
                out.append(self.block(child))
        flush()
        return "".join(out)

    def inline_text(self, text: str) -> str:
        collapsed = re.sub(r"\s+", " ", text)
        return _text(collapsed) if collapsed.strip() else (" " if collapsed else "")

    def inlines(self, node: Node) -> str:
        return "".join(self.inline_text(c) if isinstance(c, str) else self.inline(c) for c in node.children).strip()

    def inline(self, node: Node) -> str:
        inner = self.inlines(node)
        if node.tag in ("strong", "b"):
            return f"#strong[{inner}]"
        if node.tag in ("em", "i"):
            return f"#emph[{inner}]"
        if node.tag == "br":
            return "#linebreak()"
        if node.tag == "sup":
            return f"#super[{inner}]"
        if node.tag == "a":
            href = node.attrs.get("href", "")
            target = f"<{href[1:]}>" if href.startswith("#") else string(href)
            return f"#link({target})[{inner}]"
        if node.tag == "span" and "note" in node.classes:
            return f"#text(fill: {_colour(MUTED)}, size: 8.5pt)[{inner}]"
        if node.tag == "code":
            return f"#raw({string(node.text())})"
        return inner

    def block(self, node: Node) -> str:
        tag, classes = node.tag, node.classes
        if tag in ("h1", "h2", "h3", "h4"):
            label = node.attrs.get("id") or self.label_next
            self.label_next = None
            outlined = "false" if tag == "h1" or "no-outline" in classes else "true"
            return (f"#heading(level: {tag[1]}, outlined: {outlined})[{self.inlines(node)}]"
                    + (f" <{label}>" if label else "") + "\n\n")
        if tag == "p":
            inner = self.inlines(node)
            if not inner:
                return ""
            if "note" in classes or "source" in classes:
                return f"#block(above: 3pt)[#text(fill: {_colour(MUTED)}, size: 8pt)[{inner}]]\n\n"
            if "legend-suppressed" in classes or "comment" in classes:
                return (f"#block(breakable: false, width: 100%, fill: rgb(\"#fbf6ec\"), inset: 6pt, "
                        f"stroke: (left: 3pt + rgb(\"#b07600\")))[#text(size: 8.5pt)[{inner}]]\n\n")
            if "subtitle" in classes:
                return f"#text(size: 12pt, fill: {_colour(MUTED)})[{inner}]\n\n"
            return inner + "\n\n"
        if tag in ("ul", "ol"):
            items = [f"[{self.blocks(li).strip()}]" for li in node.children if isinstance(li, Node) and li.tag == "li"]
            kind = "enum" if tag == "ol" else "list"
            if "toc" in classes:
                return "#outline(title: none, depth: 2)\n\n"
            body = f"#{kind}(tight: true, {', '.join(items)})"
            return (f"#columns(2, gutter: 14pt)[{body}]\n\n" if "columns" in classes else body + "\n\n")
        if tag == "table":
            return self.table(node)
        if tag == "figure":
            return self.figure(node)
        if tag == "nav" and "toc" in classes:
            heading = _find(node, "h2")
            title = f"#heading(level: 2, outlined: false)[{self.inlines(heading)}]\n\n" if heading else ""
            return title + "#outline(title: none, depth: 2)\n\n"
        if tag == "img":
            return self.image(node) + "\n\n"
        # containers
        if node.attrs.get("id"):
            self.label_next = node.attrs["id"]
        inner = self.blocks(node)
        if tag == "section" and "chapter" in classes:
            return "#pagebreak(weak: true)\n" + inner
        if "cover" in classes:
            return f"#v(20mm)\n{inner}"
        if "keep" in classes or "group" in classes:
            return f"#block(breakable: false, width: 100%)[{inner}]\n\n"
        if "figures" in classes:
            cells = [c for c in node.children if isinstance(c, Node)]
            boxes = ", ".join(f"block(width: 100%, stroke: 0.7pt + {_colour(LINE)}, radius: 3pt, inset: 6pt)"
                              f"[{self.blocks(c)}]" for c in cells)
            return f"#grid(columns: ({'1fr, ' * len(cells)}), gutter: 6pt, {boxes})\n\n"
        if "value" in classes:
            return f"#text(size: 16pt, weight: \"bold\", fill: {_colour(ACCENT)})[{self.inlines(node)}]\n\n"
        if "label" in classes:
            return f"#text(size: 8.5pt, fill: {_colour(MUTED)})[{self.inlines(node)}]\n\n"
        if "grid" in classes or "pair" in classes:
            cells = [c for c in node.children if isinstance(c, Node)]
            per_row = 3 if "three" in classes else 2
            return (f"#grid(columns: ({'1fr, ' * per_row}), column-gutter: 10pt, row-gutter: 6pt, "
                    + ", ".join(f"[{self.block(c)}]" for c in cells) + ")\n\n")
        if "appendix-tables" in classes:
            return f"#columns(2, gutter: 12pt)[{inner}]\n\n"
        if "outcome" in classes:
            return (f"#block(width: 100%, fill: rgb(\"#eef4f9\"), stroke: (left: 4pt + {_colour(ACCENT)}), "
                    f"inset: 8pt)[{inner}]\n\n")
        if "colophon" in classes:
            return (f"#block(width: 100%, stroke: (top: 0.7pt + {_colour(LINE)}), inset: (top: 6pt))"
                    f"[#text(size: 8.5pt)[{inner}]]\n\n")
        if "page-break" in classes:
            return "#pagebreak(weak: true)\n" + inner
        return inner

    # ---- tables and figures ----
    def table(self, node: Node) -> str:
        caption = next((c for c in node.children if isinstance(c, Node) and c.tag == "caption"), None)
        head = [r for part in node.children if isinstance(part, Node) and part.tag == "thead"
                for r in part.children if isinstance(r, Node) and r.tag == "tr"]
        body = [r for part in node.children if isinstance(part, Node) and part.tag in ("tbody", "tfoot")
                for r in part.children if isinstance(r, Node) and r.tag == "tr"]
        rows = head + body
        if not rows:
            return ""
        columns = max(sum(int(c.attrs.get("colspan", 1)) for c in r.children if isinstance(c, Node))
                      for r in rows)

        # Each cell's column, past the cells that reach down into its row from above (rowspan).
        column_of: dict[int, int] = {}
        reaching: dict[int, int] = {}  # column -> rows it is still taken for
        for r in rows:
            at = 0
            for c in (x for x in r.children if isinstance(x, Node)):
                while reaching.get(at, 0) > 0:
                    at += 1
                column_of[id(c)] = at
                width, height = int(c.attrs.get("colspan", 1)), int(c.attrs.get("rowspan", 1))
                for taken in range(at, at + width):
                    reaching[taken] = reaching.get(taken, 0) + height
                at += width
            reaching = {k: v - 1 for k, v in reaching.items() if v > 1}
        # A header is aligned as its column's text is: left above words, right above figures.
        text_columns = {column_of[id(c)] for r in body for c in r.children
                        if isinstance(c, Node) and "text" in c.classes}

        def cell(c: Node, header: bool) -> str:
            spans = "".join(f", {k}: {int(c.attrs[k])}" for k in ("colspan", "rowspan") if k in c.attrs)
            first = column_of[id(c)] == 0
            left = (first or "text" in c.classes or "colspan" in c.attrs
                    or (header and column_of[id(c)] in text_columns))
            content = self.inlines(c)
            if "nowrap" in c.classes:  # an interval is read as one: never broken at its dash
                content = f"#box[{content}]"
            if header or "group-row" in c_row(c).classes:
                content = f"#strong[{content}]"
            return f"table.cell(align: {'left' if left else 'right'}{spans})[{content}]"

        parents: dict[int, Node] = {id(c): r for r in rows for c in r.children if isinstance(c, Node)}

        def c_row(c: Node) -> Node:
            return parents[id(c)]

        header = ", ".join(cell(c, True) for r in head for c in r.children if isinstance(c, Node))
        cells = ", ".join(cell(c, False) for r in body for c in r.children if isinstance(c, Node))
        fill = (f"fill: (x, y) => if y < {len(head)} {{ rgb(\"#f3f6f8\") }}, " if head else "")
        if "data" in node.classes:
            widths = f"(auto,) * {columns}"
        elif node.classes & {"story", "overview"}:  # a long indicator text, then short figures
            widths = "(1fr, " + "auto, " * (columns - 1) + ")"
        elif "ranking" in node.classes:
            widths = "(auto, 1fr, " + "auto, " * (columns - 2) + ")"
        elif "facts" in node.classes:
            widths = "(auto, 1fr)"
        else:
            widths = f"(auto,) * {columns}"  # Typst shares the width out by content
        table = (f"table(columns: {widths}, {fill}"
                 + (f"table.header({header}), " if header else "") + cells + ")")
        label = f" <{self.take_label()}>" if self.label_next else ""
        if "compact" in node.classes:  # smaller type and padding, in a scope of its own
            return "#[#show table: set text(size: 7.8pt)\n#set table(inset: (x: 3pt, y: 2pt))\n" + \
                self._placed(table, caption, label) + "]\n\n"
        return self._placed(table, caption, label)

    def _placed(self, table: str, caption: Node | None, label: str) -> str:
        if caption is not None:
            caption_text = f"#text(weight: \"regular\", size: 8.5pt, fill: {_colour(MUTED)})[{self.inlines(caption)}]"
            return f"#figure({table}, kind: table, caption: figure.caption(position: top)[{caption_text}]){label}\n\n"
        return f"#{table}{label}\n\n"

    def image(self, node: Node, width: str | None = None) -> str:
        src = node.attrs.get("src", "")
        if not src.startswith("data:image/svg+xml;base64,"):
            raise ValueError(f"only embedded SVG images are supported, not {src[:40]!r}")
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        size = f", width: {width}" if width else ""
        return f"#image(bytes({string(svg)}), format: \"svg\", alt: {string(node.attrs.get('alt', ''))}{size})"

    def figure(self, node: Node) -> str:
        image = _find(node, "img")
        caption = _find(node, "figcaption")
        # At the size it was drawn (the SVG's own width in points), so its text prints at the size chosen.
        picture = self.image(image)[1:] if image else "[]"
        captioned = caption is not None and caption.text().strip()
        figure = (f"#figure({picture}" + (f", caption: [{self.inlines(caption)}]" if captioned else "") + ")\n\n")
        rest = Node("div", children=[c for c in node.children
                                     if isinstance(c, Node) and c.tag not in ("img", "figcaption")])
        return figure + self.blocks(rest)


def to_typst(html: str) -> str:
    """The Typst markup of a report's HTML."""
    root = parse(html)
    title = (_find(root, "title") or Node("title")).text().strip()
    footer = (f"footer: context {{ if counter(page).get().first() > 1 [#set text(size: 8pt, fill: {_colour(MUTED)}); "
              f"{_text(title)} #h(1fr) #\"Sida\"; #counter(page).display() #\"av\"; "
              f"#counter(page).final().first()] }}")
    page = f"#set page(paper: \"a4\", margin: (x: 18mm, top: 18mm, bottom: 20mm), {footer})"
    body = _find(root, "body") or root
    return (f"#set document(title: {string(title)}, author: \"Nationella nätverket för samordningsförbund (NNS)\")\n"
            + PREAMBLE + page + "\n" + Converter().blocks(body))


_COMPILER: typst.Compiler | None = None


def _compiler() -> typst.Compiler:
    """One compiler per process: it loads the fonts once."""
    global _COMPILER
    if _COMPILER is None:
        _COMPILER = typst.Compiler(font_paths=[str(p) for p in FONTS if p.exists()], ignore_system_fonts=True)
    return _COMPILER


def pdf_bytes(html: str) -> bytes:
    """The report's HTML typeset as a PDF/UA-1 file; `PdfRefused` if Typst will not write it."""
    try:
        return _compiler().compile(input=to_typst(html).encode("utf-8"), format="pdf", pdf_standards=STANDARD,
                                   timestamp=0)
    except typst.TypstError as error:
        raise PdfRefused(f"{error.message} {' '.join(error.hints or [])}".strip()) from None


def write_pdf(html: str, target) -> None:
    """Write the PDF of `html` to `target` (a path or a binary file)."""
    data = pdf_bytes(html)
    if hasattr(target, "write"):
        target.write(data)
    else:
        Path(target).write_bytes(data)
