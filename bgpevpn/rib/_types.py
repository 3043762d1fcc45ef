"""The records the RIB hands out: ``Path`` and ``BestPathChanged``.

They live in a module of their own so that both twins of the RIB's update
loops (``_update_py``, ``_update_c``) can build them without importing
``rib.py``; ``bgpevpn.rib`` re-exports them.  This ``Path`` is the Python
twin's; the C twin has its own (``_update_c.Path``: the same fields and
tuple behaviour, not a tuple, no garbage-collector header) and
``bgpevpn.rib.Path`` is the one of the twin in use.
"""
from __future__ import annotations

from typing import NamedTuple


class Path(NamedTuple):
    """One route as received from one source (immutable; a new announcement
    is a new Path).  Whether it is stale is kept by the Rib (``is_stale``)."""
    route: object
    attrs: object
    source: object
    next_hop: object

    def __repr__(self) -> str:
        return f"Path({self.route!r} from {self.source.name})"


class BestPathChanged(NamedTuple):
    """The best path of ``route`` (its key) in ``family`` changed:
    ``kind`` is ``added``, ``changed`` or ``withdrawn``; ``old``/``new`` are
    the previous and the new best ``Path`` (None when there is none)."""
    family: tuple
    route: object
    kind: str
    old: object
    new: object

