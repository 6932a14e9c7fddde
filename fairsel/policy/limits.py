"""The limits that keep a small policy from asking for a huge amount of work or memory.

Each is far above what a real policy needs (every example in policies/ and an Adult-like policy
with five protected attributes stay well below them), and each is an exit 2 naming the limit,
its value, and the line of the policy where it was exceeded. The README ("Limits") and the
policy schema's descriptions repeat these numbers.
"""

from __future__ import annotations

#: YAML aliases (``*name``) in one policy file. Anchors let a policy reuse a block; a few dozen
#: aliases are plenty, a long chain of them is how a few hundred bytes expand to gigabytes.
MAX_ALIASES = 100

#: The policy's size with every alias expanded, in characters of scalar text plus one per
#: node (key, value, list item). A policy without aliases counts about its own length.
MAX_EXPANDED_SIZE = 1_000_000

#: How deeply lists and mappings may nest (the policy's own structure needs 5 levels; estimator
#: parameters a few more).
MAX_DEPTH = 50

#: Bin edges of one protected attribute (``protected[].bins``): 100 edges make 99 groups.
MAX_BIN_EDGES = 100

#: Groups an audit measures: the groups of every attribute plus the cells of every
#: intersection it audits, as found in the data. Each group is measured for every candidate
#: variant, fold and bootstrap resample.
MAX_GROUPS = 10_000
