"""Reweighing (Kamiran & Calders, 2012): training weights that make the label independent of the group."""

from __future__ import annotations

import numpy as np


def reweighing_table(y_true: np.ndarray, groups: np.ndarray, *, n_groups: int | None = None,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    r"""The Kamiran & Calders weight of every group × label cell.

    .. math::

        W(g, y) = \frac{P(G = g)\,P(Y = y)}{P(G = g, Y = y)}
                = \frac{n_g \, n_y}{n \; n_{g,y}}

    the frequency a cell would have if group and label were independent, over its observed
    frequency. Weighted by ``W``, every group has the same favorable rate (the overall one)
    and the total weight is still ``n``. This is aif360's ``Reweighing`` generalised from a
    privileged / unprivileged pair to any number of groups: for the rows of group ``g`` it
    equals aif360's weights with ``g`` as the privileged group and every other group as the
    unprivileged one.

    Parameters
    ----------
    y_true : array of 0/1
        The outcome (1 = favorable).
    groups : array of int
        Group code of each row, ``0 .. n_groups - 1``.
    n_groups : int, optional
        Number of groups (``groups.max() + 1`` when omitted).
    sample_weight : array of float, optional
        Existing row weights: counts become weighted sums (as aif360's ``instance_weights``).

    Returns
    -------
    ndarray of shape (n_groups, 2)
        ``W[g, y]``; ``nan`` for a cell with no row (no row ever takes that weight).
    """
    y = np.asarray(y_true).astype(np.int64, copy=False)
    g = np.asarray(groups).astype(np.int64, copy=False)
    if n_groups is None:
        n_groups = int(g.max()) + 1 if len(g) else 0
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    cell = np.bincount(2 * g + y, weights=w, minlength=2 * n_groups).reshape(n_groups, 2)
    n = cell.sum()
    n_g = cell.sum(axis=1, keepdims=True)
    n_y = cell.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = (n_g * n_y) / (n * cell)
    table[cell == 0] = np.nan
    return table


def reweighing_weights(y_true: np.ndarray, groups: np.ndarray, *, n_groups: int | None = None,
                       sample_weight: np.ndarray | None = None) -> np.ndarray:
    r"""Kamiran & Calders reweighing: each row's training weight.

    Row ``i`` of group ``g`` with label ``y`` gets ``W(g, y) = n_g n_y / (n n_{g,y})`` (see
    :func:`reweighing_table`), times its ``sample_weight`` when one is given. Computed from
    the rows passed in only — in fairsel, a fold's training rows — so it never sees the rows
    it will be evaluated on. The weights are passed to the estimator as ``sample_weight``;
    the model then decides without the protected attribute (unless it is a feature).

    Parameters
    ----------
    y_true : array of 0/1
        The outcome (1 = favorable).
    groups : array of int
        Group code of each row.
    n_groups : int, optional
        Number of groups.
    sample_weight : array of float, optional
        Existing row weights, multiplied by the reweighing factor.

    Returns
    -------
    ndarray of float64, one weight per row (they sum to ``n``, or to the sum of
    ``sample_weight``).
    """
    y = np.asarray(y_true).astype(np.int64, copy=False)
    g = np.asarray(groups).astype(np.int64, copy=False)
    table = reweighing_table(y, g, n_groups=n_groups, sample_weight=sample_weight)
    out = table[g, y]
    if sample_weight is not None:
        out = out * np.asarray(sample_weight, dtype=np.float64)
    return out
