"""Adj-RIB-In, Loc-RIB and change events (RFC 4271 §3.2, §9).

Routes are keyed by the route objects themselves (their equality and hash
are the RIB key, RFC 7432 §7 for EVPN); one ``Path`` per (route key,
source).  Attribute sets are interned, so a million routes from a VTEP
share a handful of ``Attributes`` objects.

The per-route loops of ``Rib.update`` (announce without an import policy,
withdraw) have two twins, like the codec: ``_update_c`` (Cython) when it was
built, else ``_update_py``; ``BGPEVPN_NO_EXTENSIONS=1`` forces the Python
twin and ``BGPEVPN_REQUIRE_EXTENSIONS=1`` makes a missing C twin an
ImportError (bgpevpn._impl).  Both give the same tables and changes.  Each
twin has its ``Path`` and ``BestPathChanged`` (``bgpevpn.rib`` exports those
of the twin in use): NamedTuples in the Python twin, NamedTuple-like C types
that the cyclic garbage collector never sees in the C twin (see
``_update_c``).
"""
from __future__ import annotations

import asyncio
import gc
import ipaddress
from collections import deque

from .. import _impl
from .._gcpause import BULK
from ..attributes import Attributes
from . import _update_py
from .decision import best_path

_update_c = _impl.extension("rib._update_c")
#: the twin of the per-route loops in use (``IMPLEMENTATION`` is "c" or "py")
update_loops = _update_c if _update_c is not None else _update_py
#: the twin's records: ``Path(route, attrs, source, next_hop)`` and
#: ``BestPathChanged(family, route, kind, old, new)``, NamedTuples in the
#: Python twin, NamedTuple-like C types the garbage collector never sees in
#: the C twin
Path = update_loops.Path
BestPathChanged = update_loops.BestPathChanged


class Source:
    """Where paths come from: a peer (or ``LOCAL`` for our own routes)."""
    __slots__ = ("name", "address", "router_id", "asn", "ebgp", "client", "address_int",
                 "router_id_int")

    def __init__(self, name: str, address: str = "0.0.0.0", router_id: str = "0.0.0.0",
                 asn: int = 0, ebgp: bool = False, client: bool = False):
        self.name, self.address, self.router_id, self.asn = name, address, router_id, asn
        self.ebgp, self.client = ebgp, client
        self.address_int = int(ipaddress.ip_address(address.split("%")[0]))
        self.router_id_int = int(ipaddress.ip_address(router_id))

    def __repr__(self) -> str:
        return f"Source({self.name!r})"


LOCAL = Source("local")



class AttributeInterner:
    """One shared ``Attributes`` per distinct attribute set."""

    def __init__(self):
        self._sets: dict = {}

    def __call__(self, attrs: Attributes) -> Attributes:
        return self._sets.setdefault(attrs.key, attrs)

    def __len__(self) -> int:
        return len(self._sets)


class Rib:
    """Adj-RIB-In per source and the Loc-RIB with best paths.

    ``loc[family][route]`` is the best ``Path``; ``_cands[family][route]``
    holds the other candidates only for keys with more than one path.
    Changes of best path go to callbacks (``on_change``) and to an async
    iterator (``async for change in rib.changes()``).
    """

    #: the twin of the per-route loops (``update_loops``; a subclass may pick one)
    _loops = update_loops

    def __init__(self, import_policy=None):
        self.adj_in: dict = {}     # source -> family -> {route: Path}
        self.loc: dict = {}        # family -> {route: best Path}
        self._cands: dict = {}     # family -> {route: [Path, ...]} (2+ paths)
        self.intern = AttributeInterner()
        self.import_policy = import_policy
        self._stale: dict = {}     # (source, family) -> set of routes kept stale (RFC 4724)
        self._callbacks: list = []
        self._queues: list = []

    # --- change delivery -----------------------------------------------------
    def on_change(self, callback) -> None:
        self._callbacks.append(callback)

    async def changes(self, maxsize: int = 0):
        """Async iterator of BestPathChanged (bounded by ``maxsize`` if set)."""
        q: asyncio.Queue = asyncio.Queue(maxsize)
        self._queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.remove(q)

    def _emit(self, changes) -> None:
        if not changes:
            return
        for cb in self._callbacks:
            for c in changes:
                cb(c)
        for q in self._queues:
            for c in changes:
                q.put_nowait(c)

    # --- input ------------------------------------------------------------------
    def update(self, source: Source, family, announced=(), withdrawn=(), attributes=None,
               next_hop=None) -> list:
        """Apply what ``source`` sent for ``family``: withdrawals first, then
        announcements with one attribute set.  Returns the BestPathChanged list.

        Batches of ``BULK`` routes and more run with the garbage collector
        paused (as ``_gcpause.gc_paused``, inlined: this is called once per
        UPDATE) and restored before returning."""
        if len(announced) + len(withdrawn) >= BULK and gc.isenabled():
            gc.disable()
            try:
                changes = self._update(source, family, announced, withdrawn, attributes,
                                       next_hop)
            finally:
                gc.enable()
        else:
            changes = self._update(source, family, announced, withdrawn, attributes, next_hop)
        if self._callbacks or self._queues:
            self._emit(changes)
        return changes

    def _update(self, source, family, announced, withdrawn, attributes, next_hop) -> list:
        # the tables of (source, family), made when first needed
        fams = self.adj_in.get(source)
        if fams is None:
            fams = self.adj_in[source] = {}
        fam_in = fams.get(family)
        if fam_in is None:
            fam_in = fams[family] = {}
        loc = self.loc.get(family)
        if loc is None:
            loc = self.loc[family] = {}
        cands = self._cands.get(family)
        if cands is None:
            cands = self._cands[family] = {}
        changes = []
        if self._stale and withdrawn:
            stale = self._stale.get((source, family))
            if stale:
                stale.difference_update(withdrawn)
        if withdrawn:
            self._loops.withdraw(family, fam_in, loc, cands, withdrawn, changes, self._remove)
        if announced:
            attrs = self.intern(attributes) if attributes is not None else Attributes()
            policy = self.import_policy
            if policy is not None:
                self._announce_with_policy(family, fam_in, loc, cands, source, announced, attrs,
                                           next_hop, policy, changes)
            else:
                stale = self._stale.get((source, family)) if self._stale else None
                if stale:
                    stale.difference_update(announced)   # announced again: fresh
                # one Path per route, one dict probe per table in the common cases
                # (a new key; the same source replacing its path), the rest in _add
                self._loops.announce(family, fam_in, loc, cands, source, announced, attrs,
                                     next_hop, changes, self._add)
        return changes

    def _announce_with_policy(self, family, fam_in, loc, cands, source, announced, attrs,
                              next_hop, policy, changes) -> None:
        stale = self._stale.get((source, family)) if self._stale else None
        if stale:
            stale.difference_update(announced)
        for r in announced:
            path = policy(source, family, self._loops.Path(r, attrs, source, next_hop))
            if path is None:
                old = fam_in.pop(r, None)
                if old is not None:
                    self._remove(family, loc, cands, r, old, changes)
                continue
            old = fam_in.get(r)
            fam_in[r] = path
            self._add(family, loc, cands, r, path, old, changes)

    def _add(self, family, loc, cands, r, path, old, changes) -> None:
        BestPathChanged = self._loops.BestPathChanged
        cur = loc.get(r)
        if cur is None:
            loc[r] = path
            changes.append(BestPathChanged(family, r, "added", None, path))
            return
        lst = cands.get(r)
        if lst is None:
            if cur.source is path.source:
                loc[r] = path   # implicit withdraw of the source's previous path
                changes.append(BestPathChanged(family, r, "changed", cur, path))
                return
            lst = cands[r] = [cur]
        if old is not None:
            lst[:] = [p for p in lst if p.source is not path.source]
        lst.append(path)
        best = best_path(lst)
        if best is not cur:
            loc[r] = best
            changes.append(BestPathChanged(family, r, "changed", cur, best))

    def _remove(self, family, loc, cands, r, old, changes) -> None:
        BestPathChanged = self._loops.BestPathChanged
        lst = cands.get(r)
        if lst is None:
            if loc.get(r) is old:
                del loc[r]
                changes.append(BestPathChanged(family, r, "withdrawn", old, None))
            return
        lst[:] = [p for p in lst if p is not old]
        cur = loc.get(r)
        if len(lst) == 1:
            del cands[r]
        best = best_path(lst)
        if best is not cur:
            loc[r] = best
            changes.append(BestPathChanged(family, r, "changed", cur, best))

    def apply_event(self, source: Source, event) -> list:
        """A session ``UpdateReceived`` event (RFC 7606 already applied)."""
        changes = []
        attrs = event.attributes
        mp = attrs.mp_reach
        by_family: dict = {}
        for r in event.withdrawn:
            by_family.setdefault(r.family, ([], []))[1].append(r)
        for r in event.announced:
            by_family.setdefault(r.family, ([], []))[0].append(r)
        for fam, (ann, wd) in by_family.items():
            nh = bytes(mp.next_hop) if mp is not None and (mp.afi, mp.safi) == fam \
                else event.next_hop
            changes += self.update(source, fam, ann, wd, attrs, nh)
        return changes

    # --- sources ----------------------------------------------------------------
    def drop_source(self, source: Source, family=None) -> list:
        """Remove what ``source`` sent (all families, or one): a session down."""
        fams = self.adj_in.get(source, {})
        changes = []
        for fam in [family] if family is not None else list(fams):
            routes = fams.get(fam)
            if not routes:
                continue
            changes += self.update(source, fam, (), list(routes.keys()))
            fams.pop(fam, None)
        if family is None:
            self.adj_in.pop(source, None)
        for key in [k for k in self._stale if k[0] is source and (family is None or k[1] == family)]:
            del self._stale[key]
        return changes

    def mark_stale(self, source: Source, family) -> int:
        """RFC 4724 §4.2: keep the routes but mark them stale."""
        routes = self.adj_in.get(source, {}).get(family, {})
        self._stale[(source, family)] = set(routes)
        return len(routes)

    def is_stale(self, source: Source, family, route) -> bool:
        st = self._stale.get((source, family))
        return bool(st) and route in st

    def flush_stale(self, source: Source, family) -> list:
        """Remove the paths still stale (not re-announced after the restart)."""
        stale = self._stale.pop((source, family), None)
        if not stale:
            return []
        return self.update(source, family, (), list(stale))

    # --- queries -----------------------------------------------------------------
    def best(self, family) -> dict:
        return self.loc.get(family, {})

    def paths(self, family, route) -> list:
        lst = self._cands.get(family, {}).get(route)
        if lst is not None:
            return list(lst)
        p = self.loc.get(family, {}).get(route)
        return [p] if p is not None else []

    def count(self, family=None) -> int:
        if family is not None:
            return len(self.loc.get(family, {}))
        return sum(len(v) for v in self.loc.values())


class ChangeBuffer:
    """Collects changes for consumers that batch (Adj-RIB-Out, FDB programming)."""

    def __init__(self):
        self.items: deque = deque()

    def __call__(self, change) -> None:
        self.items.append(change)

    def drain(self) -> list:
        out = list(self.items)
        self.items.clear()
        return out
