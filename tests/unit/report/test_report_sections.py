"""The report's section registry: build_context and report_sections only iterate VIEWS."""

from __future__ import annotations

from fairsel.report import context
from fairsel.report.context import SECTIONS, VIEWS, build_context, report_sections
from fairsel.report.section import SectionView
from tests.unit.report.test_report_statements import _golden


def test_every_view_has_its_own_key_and_sections_follow_the_registry_order():
    keys = [v.key for v in VIEWS]
    assert len(keys) == len(set(keys))
    assert [k for k, _ in SECTIONS] == [v.key for v in VIEWS
                                        if v.title is not None and v.present is None]
    mit = _golden("mitigation")
    ids = [k for k, _ in report_sections(mit)]
    assert ids.index("leaderboard") + 1 == ids.index("mitigated")
    assert "mitigated" not in [k for k, _ in report_sections(_golden("recidivism"))]


def test_a_section_is_added_by_one_registry_entry(monkeypatch):
    seen = []

    def build(result, options):
        seen.append(options.with_charts)
        return {"name": result.name, "id": options.report_id}
    extra = SectionView("extra", build, "An extra section",
                        present=lambda result: result.name == "lending")
    at = [v.key for v in VIEWS].index("summary") + 1
    monkeypatch.setattr(context, "VIEWS", (*VIEWS[:at], extra, *VIEWS[at:]))
    lending = _golden("lending")
    ctx = build_context(lending, with_charts=False)
    assert ctx["extra"] == {"name": "lending", "id": ctx["meta"]["report_id"]}
    assert seen == [False]
    ids = [s["id"] for s in ctx["sections"]]
    assert ids[ids.index("summary") + 1] == "extra"
    # absent from the contents where it is not present, its view still built
    other = build_context(_golden("branches"), with_charts=False)
    assert "extra" not in [s["id"] for s in other["sections"]] and other["extra"]
