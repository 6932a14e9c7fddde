"""What keeps the PDF fast (issue 12, "Speed", fourth round): the objects a report leaves
behind are frozen, not walked once more by the collector, and the PDF lays out the exhaustive
per-fold tables densely (one text cell per row)."""

from __future__ import annotations

import gc
import weakref

import pytest

from fairsel.report import no_gc_pauses


class _Node:
    pass


def _cycle():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def clean_freeze(monkeypatch):
    import fairsel.report

    monkeypatch.setattr(fairsel.report, "_FROZE_AFTER_WRITING", False)
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


def test_garbage_of_a_report_is_frozen_then_collected_by_the_next_one(clean_freeze):
    with no_gc_pauses():
        ref = _cycle()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.collect()
    assert ref() is not None  # frozen: the collector does not walk it again after writing
    seen = []
    with no_gc_pauses():
        seen.append(ref())  # the next report unfroze and collected the previous one's cycles
    assert seen == [None]


def test_a_caller_that_froze_objects_keeps_its_frozen_set(clean_freeze):
    theirs = _cycle()
    gc.freeze()
    frozen = gc.get_freeze_count()
    for _ in range(2):
        with no_gc_pauses():
            ours = _cycle()
    assert 0 < gc.get_freeze_count() <= frozen and gc.isenabled()  # not grown
    gc.collect()
    assert ours() is None  # not frozen by us: collected as before
    assert theirs() is not None  # and theirs not released
