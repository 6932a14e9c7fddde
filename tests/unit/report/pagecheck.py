"""Reading a laid-out report (WeasyPrint's document pages): what ends each page, and how each
table is split over pages. Used by the layout tests (``test_pdf_layout.py``)."""

from __future__ import annotations

from collections import defaultdict

#: a definition list's term heads its definition, a caption its table
HEADINGS = ("h2", "h3", "h4", "dt", "caption")


def _walk(box, heading, out: list) -> list:
    """(box, the heading element it belongs to or None) of ``box`` and its descendants."""
    el = getattr(box, "element", None)
    if heading is None and el is not None and getattr(box, "element_tag", None) in HEADINGS:
        heading = el
    out.append((box, heading))
    for child in getattr(box, "children", None) or []:
        _walk(child, heading, out)
    return out


def _content(page) -> list:
    """(box, heading) of the page's boxes in document order, without its margin boxes."""
    from weasyprint.formatting_structure import boxes

    out: list = []
    for child in page._page_box.children:
        if not isinstance(child, boxes.MarginBox):
            _walk(child, None, out)
    return out


def _leaves(page) -> list:
    """(element, heading) of each line-holding block, row and image of the page, in order."""
    from weasyprint.formatting_structure import boxes

    leaves, seen = [], set()
    for b, heading in _content(page):
        if isinstance(b, (boxes.TableRowBox, boxes.ReplacedBox)) or (
                isinstance(b, boxes.BlockContainerBox) and b.children
                and isinstance(b.children[0], boxes.LineBox)):
            el = b.element
            if el is not None and id(el) not in seen:
                seen.add(id(el))
                leaves.append((el, heading))
    return leaves


def _section_intros(document) -> set[int]:
    """ids of the paragraphs that introduce what follows: the one or two ``<p>`` right after a
    section's ``<h2>``, an ``<h3>`` or an ``<h4>`` (``section > h2 + p, section > h2 + p + p,
    h3 + p, h3 + p + p`` and the same for h4 in the print CSS)."""
    root = document.pages[0]._page_box.children[0].element
    found: set[int] = set()
    for parent in root.iter():
        children = list(parent)
        for i, child in enumerate(children):
            if child.tag == "h2" and parent.tag == "section":
                following = children[i + 1:i + 3]
            elif child.tag in ("h3", "h4"):
                following = children[i + 1:i + 3]
            else:
                continue
            for nxt in following:
                if nxt.tag != "p":
                    break
                found.add(id(nxt))
    return found


def _intro(el, heading, intros: set[int] = frozenset()) -> bool:
    """Part of a heading, or a short introduction under one (``p.sub``, or the paragraph
    that opens a section)."""
    return heading is not None or id(el) in intros or (
        el.tag == "p" and "sub" in (el.get("class") or "").split())


def stranded_headings(document) -> list[tuple[int, str]]:
    """(page number, heading text) of every heading that ends a page with nothing of what it
    heads on that page but its introduction (``p.sub``, or a section's opening paragraph),
    the rest following on the next."""
    found = []
    intros = _section_intros(document)
    root = document.pages[0]._page_box.children[0].element
    parent = {id(child): el for el in root.iter() for child in el}

    def within(el, container) -> bool:
        while el is not None:
            if el is container:
                return True
            el = parent.get(id(el))
        return False

    pages = [_leaves(page) for page in document.pages]
    for number, (leaves, following) in enumerate(zip(pages, pages[1:]), start=1):
        heads = [i for i, (_, heading) in enumerate(leaves) if heading is not None]
        if heads and all(_intro(el, h, intros) for el, h in leaves[heads[-1]:]):
            heading = leaves[heads[-1]][1]
            # a short section wholly on this page (heading and introduction only) is whole;
            # stranded means that what it heads goes on on the next page — not a sub-part
            # with a heading of its own (hiring: the LL144 summary's introduction, then
            # "Selection rates" over its tables on the next page)
            if following and following[0][1] is None and \
                    within(following[0][0], parent.get(id(heading))):
                found.append((number, " ".join("".join(heading.itertext()).split())))
    return found


def lone_rows(document) -> list[tuple[int, str, int]]:
    """(page number, table's first header text, body rows on that page) of every piece of a
    table split over pages that holds a single body row."""
    from weasyprint.formatting_structure import boxes

    pieces: dict[int, list[tuple[int, int, object]]] = defaultdict(list)
    for number, page in enumerate(document.pages, start=1):
        for b, _ in _content(page):
            if isinstance(b, boxes.TableBox):
                rows = sum(len(g.children) for g in b.children
                           if isinstance(g, boxes.TableRowGroupBox)
                           and not (g.is_header or g.is_footer))
                pieces[id(b.element)].append((number, rows, b.element))
    found = []
    for parts in pieces.values():
        if len({n for n, _, _ in parts}) < 2:
            continue
        for number, rows, el in parts:
            if rows == 1:
                head = el.find(".//th")
                text = " ".join("".join(head.itertext()).split()) if head is not None else ""
                found.append((number, text, rows))
    return found


def cell_lines(document, table_class: str, column: int) -> list[tuple[str, int]]:
    """(text, lines it is laid out on) of column ``column`` (0-based) of each body row of every
    table of class ``table_class``, on every page."""
    from weasyprint.formatting_structure import boxes

    out = []
    for page in document.pages:
        for b, _ in _content(page):
            if not isinstance(b, boxes.TableBox) or \
                    table_class not in (b.element.get("class") or "").split():
                continue
            for group in b.children:
                if group.element_tag != "tbody":
                    continue
                for row in group.children:
                    cells = [c for c in row.children if isinstance(c, boxes.TableCellBox)]
                    if len(cells) <= column:
                        continue
                    cell = cells[column]
                    lines = sum(1 for d, _ in _walk(cell, None, [])
                                if isinstance(d, boxes.LineBox))
                    out.append((" ".join("".join(cell.element.itertext()).split()), lines))
    return out


def overflowing_tables(document, tolerance: float = 0.5) -> list[tuple[int, str, float]]:
    """(page number, table's first header text, points it extends past the right edge of the
    page's text block) of every table wider than the text block."""
    from weasyprint.formatting_structure import boxes

    found = []
    for number, page in enumerate(document.pages, start=1):
        root = next(c for c in page._page_box.children if not isinstance(c, boxes.MarginBox))
        right = root.content_box_x() + root.width
        for b, _ in _content(page):
            if isinstance(b, boxes.TableBox):
                over = b.border_box_x() + b.border_width() - right
                if over > tolerance:
                    head = next((" ".join("".join(th.itertext()).split())
                                 for th in b.element.iter("th")), "")
                    found.append((number, head[:40], round(over, 1)))
    return found


def split_blocks(document, block_class: str) -> list[tuple[list[int], float, float]]:
    """(pages, total height, page text-block height) of every element of class
    ``block_class`` laid out over more than one page."""
    from weasyprint.formatting_structure import boxes

    pages: dict[int, set[int]] = {}
    height: dict[int, float] = {}
    room = 0.0
    for number, page in enumerate(document.pages, start=1):
        room = max(room, page._page_box.height)
        for b, _ in _content(page):
            el = getattr(b, "element", None)
            if el is not None and block_class in (el.get("class") or "").split() \
                    and isinstance(b, boxes.BlockBox):
                pages.setdefault(id(el), set()).add(number)
                height[id(el)] = height.get(id(el), 0.0) + b.margin_height()
    return [(sorted(p), height[k], room) for k, p in pages.items() if len(p) > 1]


def overflowing_cell_text(document, tolerance: float = 0.5) -> list[tuple[int, str, float]]:
    """(page number, cell text, points past its cell) of every table cell (header or body)
    whose text runs past the cell's border box, into the next: a word too long for its
    column, drawn over its neighbour (review10/11: "Unfavorable" into "Main reasons",
    lending's "Significant" past the margin, the method's "performance" into "higher is")."""
    from weasyprint.formatting_structure import boxes

    found = []
    for number, page in enumerate(document.pages, start=1):
        for b, _ in _content(page):
            if not isinstance(b, boxes.TableCellBox):
                continue
            right = b.border_box_x() + b.border_width()  # its padding is its own, not more
            ends = [t.position_x + t.width for t, _ in _walk(b, None, [])
                    if isinstance(t, boxes.TextBox)]
            if ends and max(ends) > right + tolerance:
                found.append((number, " ".join("".join(b.element.itertext()).split()),
                              round(max(ends) - right, 1)))
    return found
