"""What a report section is to the assembler: a view model built from the result, under a key
the templates read, and (for a section of its own) a title in the contents.

Each section's view model lives beside its template (``summary_view.py`` for
``_summary.html.j2``) and declares one :class:`SectionView`; :data:`fairsel.report.context.VIEWS`
lists them in document order. A new section is a new module, a template, one entry there and
one ``include`` in ``report.html.j2``: no other section changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fairsel.results import AuditResult


@dataclass(frozen=True)
class BuildOptions:
    """What a view may need besides the result: the report's id and whether to draw charts."""

    report_id: str
    with_charts: bool = True


@dataclass(frozen=True)
class SectionView:
    """One entry of the report's section registry.

    Attributes
    ----------
    key
        The name the templates read the view model under (``summary`` → ``summary.findings``).
    build
        ``build(result, options)`` → the view model (a pure function of the result).
    title
        The heading in the contents, or None for a part that is not a section of its own (the
        cover, the key figures, the gates' significance table).
    present
        Whether the section is in this result's report (None: always). An absent section is
        left out of the contents; its view model is still built (it says it is empty).
    """

    key: str
    build: Callable[[AuditResult, BuildOptions], Any]
    title: str | None = None
    present: Callable[[AuditResult], bool] | None = None
    #: A heading that depends on the result (the compliance template's name); wins over title.
    title_of: Callable[[AuditResult], str] | None = None

    def heading(self, result: AuditResult) -> str | None:
        """The heading in the contents for ``result``."""
        return self.title_of(result) if self.title_of is not None else self.title

    def shown(self, result: AuditResult) -> bool:
        """Whether the contents list this section for ``result``."""
        return self.title is not None and (self.present is None or self.present(result))


__all__ = ["BuildOptions", "SectionView"]
