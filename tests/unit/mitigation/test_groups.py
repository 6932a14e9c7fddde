"""The groups a mitigation equalises: cells of the protected attributes' intersection."""

from __future__ import annotations

import numpy as np

from fairsel.mitigation.groups import mitigation_groups
from fairsel.partition import Partition


def _attributes():
    # sex (2 levels, reference male) × race (3 levels incl. unknown, no reference): 6 atoms
    sex = Partition("sex", ("sex",), "attribute", ("female", "male"),
                    np.array([0, 0, 0, 1, 1, 1]), reference=1)
    race = Partition("race", ("race",), "attribute", ("black", "white", "unknown"),
                     np.array([0, 1, 2, 0, 1, 2]), reference=None)
    return [sex, race]


def test_intersection_by_default_drops_empty_cells():
    atoms = np.array([0, 1, 1, 3, 4, 4, 5, 0])  # atom 2 (female × unknown) has no row
    g = mitigation_groups(atoms, _attributes())
    assert g.labels == ("female × black", "female × white", "male × black", "male × white",
                        "male × unknown")
    np.testing.assert_array_equal(g.codes, [0, 1, 1, 2, 3, 3, 4, 0])
    assert g.attributes == ("sex", "race") and g.reference is None  # race has no reference


def test_one_attribute_and_its_reference():
    atoms = np.array([0, 1, 2, 3, 4, 5])
    g = mitigation_groups(atoms, _attributes(), ["sex"])
    assert g.labels == ("female", "male") and g.reference == 1
    np.testing.assert_array_equal(g.codes, [0, 0, 0, 1, 1, 1])
    r = mitigation_groups(atoms, _attributes(), ["race"])
    assert r.labels == ("black", "white", "unknown")  # unknown is a group like any other
    np.testing.assert_array_equal(r.codes, [0, 1, 2, 0, 1, 2])


def test_reference_cell_when_every_attribute_declares_one():
    attrs = _attributes()
    attrs[1] = Partition("race", ("race",), "attribute", ("black", "white", "unknown"),
                         np.array([0, 1, 2, 0, 1, 2]), reference=1)
    g = mitigation_groups(np.arange(6), attrs)
    assert g.labels[g.reference] == "male × white"
