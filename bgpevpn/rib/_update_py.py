"""The RIB's per-route loops, pure-Python twin (``_update_c.pyx`` is the C
twin: same functions, same arguments, same results; ``rib.py`` picks one).

Both loops work on the tables of one (source, family) as ``Rib._update``
passes them: ``fam_in`` (the source's Adj-RIB-In, route -> Path), ``loc``
(the Loc-RIB, route -> best Path) and ``cands`` (route -> candidate list,
only for routes with two paths or more).  The cases that need the decision
process go to ``Rib._add`` / ``Rib._remove``, passed in as ``add`` /
``remove``; the loops handle the common ones inline: a new route, the same
source replacing its only path, withdrawing a route's only path.
"""
from __future__ import annotations

from ._types import BestPathChanged, Path

IMPLEMENTATION = "py"

_tuple_new = tuple.__new__   # builds the NamedTuples without their Python-level __new__


def announce(family, fam_in, loc, cands, source, routes, attrs, next_hop, changes, add) -> None:
    """Add one ``Path(route, attrs, source, next_hop)`` per route of ``routes``,
    appending the ``BestPathChanged`` of each to ``changes``."""
    append = changes.append
    for r in routes:
        path = _tuple_new(Path, (r, attrs, source, next_hop))
        old = fam_in.setdefault(r, path)
        if old is not path:
            fam_in[r] = path
        cur = loc.setdefault(r, path)
        if cur is path:
            append(_tuple_new(BestPathChanged, (family, r, "added", None, path)))
        elif cur.source is source and r not in cands:
            loc[r] = path   # implicit withdraw of the source's previous (only) path
            append(_tuple_new(BestPathChanged, (family, r, "changed", cur, path)))
        else:
            add(family, loc, cands, r, path, old if old is not path else None, changes)


def withdraw(family, fam_in, loc, cands, routes, changes, remove) -> None:
    """Remove the source's path of every route of ``routes`` (routes it has no
    path for are skipped), appending the ``BestPathChanged`` to ``changes``."""
    append = changes.append
    pop = fam_in.pop
    for r in routes:
        old = pop(r, None)
        if old is None:
            continue
        if cands and r in cands:
            remove(family, loc, cands, r, old, changes)
        elif loc.get(r) is old:   # the only path: no candidate list
            del loc[r]
            append(_tuple_new(BestPathChanged, (family, r, "withdrawn", old, None)))
