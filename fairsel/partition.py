"""A protected attribute or intersection as a coarsening of *atoms* (pure numpy, no I/O).

Rows are encoded once as atoms: the cell of the finest partition of all protected attributes.
Each attribute or intersection maps atoms to its groups, so the metric engine needs one
bincount per variant, and data loading and the metric engine share this one description.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The group missing protected values form (a real value "unknown" joins it: fairsel.data).
UNKNOWN = "unknown"
#: What joins the parts of an intersection's group label ("female × unknown").
SEP = " × "


def is_missing_group(label: str, kind: str = "intersection") -> bool:
    """Whether a group is a missing-value group: it is "unknown" or, for an intersection, any
    of its parts is ("male × unknown"). One rule for the data summary's and the metric
    engine's ``unknown`` flag, the gates that skip such groups and the LL144 tables. An
    attribute's group is compared whole, so a recorded value that happens to contain the
    separator is not mistaken for an intersection."""
    if label == UNKNOWN:
        return True
    return kind == "intersection" and UNKNOWN in label.split(SEP)


@dataclass(frozen=True)
class Partition:
    """Groups of one attribute (or intersection) as a map from atoms to group codes."""

    name: str
    columns: tuple[str, ...]
    kind: str  # "attribute" | "intersection"
    labels: tuple[str, ...]
    atom_to_group: np.ndarray  # (n_atoms,) group code of each atom
    reference: int | None = None  # declared reference group, or None (fairlearn's min/max)

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def onehot(self, n_atoms: int) -> np.ndarray:
        """``(n_atoms, n_groups)`` 0/1 matrix: ``counts_groups = onehot.T @ counts_atoms``."""
        h = np.zeros((n_atoms, self.n_groups))
        h[np.arange(n_atoms), self.atom_to_group] = 1.0
        return h

    def is_missing(self, g: int) -> bool:
        """Whether group ``g`` is a missing-value group (:func:`is_missing_group`)."""
        return is_missing_group(self.labels[g], self.kind)

    def codes(self, atoms: np.ndarray) -> np.ndarray:
        """The group code of each row, from its atom code."""
        return self.atom_to_group[atoms]
