"""Which rows form one group for a mitigation: the cells of the protected attributes' intersection.

Mitigations act on integer group codes ``0 .. n_groups - 1`` (pure numpy, no data frame). The
default is the intersection of every protected attribute: a row's group is its *atom*, the
cell of all the attributes together (``sex × race``). Weights or thresholds that equalise the
cells also equalise every coarser grouping, because each attribute's group is a union of
cells and its rate is a weighted mean of theirs: if every cell's selection rate lies in
``[a, a + tol]``, so does every attribute group's. Rows with a missing value form the
``unknown`` group of that attribute, like any other group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairsel.partition import Partition


@dataclass(frozen=True)
class MitigationGroups:
    """Group code of every row, the groups' labels, and the reference group if declared."""

    codes: np.ndarray  # (n_rows,) int64 in 0 .. n_groups - 1
    labels: tuple[str, ...]
    attributes: tuple[str, ...]  # the attributes intersected, in policy order
    reference: int | None = None  # the cell of every attribute's declared reference, if any

    @property
    def n_groups(self) -> int:
        return len(self.labels)


def mitigation_groups(atoms: np.ndarray, attributes: list[Partition],
                      names: list[str] | None = None) -> MitigationGroups:
    """The groups a mitigation equalises: the intersection of the named attributes.

    Parameters
    ----------
    atoms : array of int
        Each row's atom (its cell of all protected attributes).
    attributes : list of Partition
        One partition per protected attribute (``AuditData.attributes``), in policy order.
    names : list of str, optional
        The attributes to intersect (display names); all of them when omitted. A single name
        gives that attribute's groups.

    Returns
    -------
    MitigationGroups
        Codes numbered in the order of the cells (attribute levels, first attribute slowest);
        cells with no row are dropped. ``reference`` is the cell of the declared reference
        groups when every chosen attribute declares one and that cell has rows.
    """
    chosen = [a for a in attributes if names is None or a.name in names]
    if not chosen:
        raise ValueError(f"no protected attribute among {names!r}")
    dims = [a.n_groups for a in chosen]
    if len(chosen) == 1:
        cell_of_atom = chosen[0].atom_to_group
    else:
        cell_of_atom = np.ravel_multi_index([a.atom_to_group for a in chosen], dims)
    cells = np.asarray(cell_of_atom, dtype=np.int64)[np.asarray(atoms, dtype=np.int64)]
    n_cells = int(np.prod(dims))
    present = np.bincount(cells, minlength=n_cells) > 0
    remap = np.cumsum(present) - 1
    used = np.flatnonzero(present)
    levels = np.unravel_index(used, dims)
    labels = tuple(" × ".join(a.labels[int(levels[i][j])] for i, a in enumerate(chosen))
                   for j in range(len(used)))
    reference = None
    if all(a.reference is not None for a in chosen):
        ref_cell = int(np.ravel_multi_index([a.reference for a in chosen], dims))
        if present[ref_cell]:
            reference = int(remap[ref_cell])
    return MitigationGroups(codes=remap[cells].astype(np.int64), labels=labels,
                            attributes=tuple(a.name for a in chosen), reference=reference)
