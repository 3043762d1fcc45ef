"""Route reflection (RFC 4456) and the Adj-RIB-Out it implies.

Which peers get a best path (§6): from an eBGP peer or local → every iBGP
peer; from a client → every other peer (clients and non-clients); from a
non-client → clients only.  Never back to the source.  On reflection
ORIGINATOR_ID is set (when absent) to the source's router id and our
cluster id is prepended to CLUSTER_LIST (§8); routes carrying our router id
as ORIGINATOR_ID or our cluster id in CLUSTER_LIST are dropped on receipt.
No MED is added and the next hop is left unchanged.

The Adj-RIB-Out is derived, not stored: a best-path change tells which
peers must now announce and which must withdraw, and a newly established
peer gets a walk of the Loc-RIB.  Announcements are grouped by
(outgoing attributes, next hop, target peers) and encoded once per group,
so ten clients cost one encoding.
"""
from __future__ import annotations


from ..attributes import Attributes, ClusterList, OriginatorId
from ..constants import AttrType
from .. import wire


class RouteReflector:
    """RFC 4456 policy over a ``Rib``'s best paths."""

    def __init__(self, router_id: str, cluster_id: str | None = None, export_policy=None):
        """``export_policy(peer_source, path) -> bool`` may veto sending a
        best path to a peer (RFC 4684-style route-target constraint, tenant
        separation, ...)."""
        self.router_id = router_id
        self.cluster_id = cluster_id or router_id
        self.export_policy = export_policy
        self._out_attrs: dict = {}

    # receive side (§8) -----------------------------------------------------
    def accept(self, attrs: Attributes) -> bool:
        """False for a route that looped back to us (our router id as
        ORIGINATOR_ID or our cluster id in CLUSTER_LIST)."""
        if attrs.originator_id == self.router_id:
            return False
        if self.cluster_id in attrs.cluster_list:
            return False
        return True

    # send side ---------------------------------------------------------------
    def targets(self, path, peers) -> list:
        """The peers (objects with ``.source``) a best path is advertised to."""
        src = path.source
        out = []
        allow = self.export_policy
        for p in peers:
            ps = p.source
            if ps is src:
                continue
            if ps.ebgp or src.ebgp or src.name == "local" or src.client or ps.client:
                if allow is None or allow(ps, path):
                    out.append(p)
        return out

    def outgoing(self, path) -> Attributes:
        """The attributes sent for a reflected path (iBGP source): ORIGINATOR_ID
        set if absent, our cluster id prepended; eBGP/local paths unchanged."""
        src = path.source
        attrs = path.attrs
        if src.ebgp or src.name == "local":
            return attrs
        key = (id(attrs), src.router_id)
        out = self._out_attrs.get(key)
        if out is not None and out[0] is attrs:
            return out[1]
        items = [a for a in attrs.items
                 if a.code not in (AttrType.ORIGINATOR_ID, AttrType.CLUSTER_LIST,
                                   AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI)]
        originator = attrs.originator_id or src.router_id
        clusters = (self.cluster_id,) + tuple(attrs.cluster_list)
        items.append(OriginatorId(originator))
        items.append(ClusterList(clusters))
        items.sort(key=lambda a: a.code)
        new = Attributes(items)
        self._out_attrs[key] = (attrs, new)
        return new


class UpdateGroups:
    """Turns best-path changes into encoded UPDATEs per target-peer set.

    ``peers`` are objects with ``.source`` (a ``rib.Source``), ``.context``
    (the negotiated send Context) and ``.send(bytes)``; established peers only.
    """

    def __init__(self, reflector: RouteReflector):
        self.reflector = reflector

    def build(self, changes, peers) -> dict:
        """{peer: [wire bytes, ...]} for a batch of BestPathChanged."""
        announce: dict = {}   # (attrs id, next hop, targets id, family) -> (attrs, nh, peers, routes)
        withdraw: dict = {}   # peer -> family -> [routes]
        refl = self.reflector
        # without an export policy the targets depend on the path's source only:
        # compute them (and their id set) once per source, not once per change
        per_source: dict = {}

        def targets_of(path):
            if refl.export_policy is not None:
                t = refl.targets(path, peers)
                return t, {id(p) for p in t}
            key = id(path.source)
            hit = per_source.get(key)
            if hit is None:
                t = refl.targets(path, peers)
                hit = per_source[key] = (t, {id(p) for p in t})
            return hit

        no_targets = ([], set())
        for ch in changes:
            new = ch.new
            new_targets, keep = targets_of(new) if new is not None else no_targets
            if new is not None and new_targets:
                out_attrs = refl.outgoing(new)
                key = (id(out_attrs), new.next_hop, id(new_targets), ch.family)
                g = announce.get(key)
                if g is None:
                    g = announce[key] = (out_attrs, new.next_hop, new_targets, ch.family, [])
                g[4].append(new.route)
            if ch.old is not None:
                for p in targets_of(ch.old)[0]:
                    if id(p) not in keep:
                        withdraw.setdefault(p, {}).setdefault(ch.family, []).append(ch.old.route)
        out: dict = {}
        for p, fams in withdraw.items():
            for fam, routes in fams.items():
                out.setdefault(p, []).extend(wire.pack_updates(routes, (), None, p.context,
                                                               withdraw=True))
        encoded: dict = {}
        for out_attrs, nh, targets, fam, routes in announce.values():
            for p in targets:
                ctx = p.context
                ck = (id(out_attrs), nh, fam, ctx, len(routes), id(routes))
                msgs = encoded.get(ck)
                if msgs is None:
                    msgs = encoded[ck] = wire.pack_updates(routes, out_attrs, nh, ctx)
                out.setdefault(p, []).extend(msgs)
        return out

    def full_table(self, rib, peer, peers, families) -> list:
        """Everything ``peer`` should have from the Loc-RIB (a new session)."""
        groups: dict = {}
        refl = self.reflector
        for fam in families:
            for route, path in rib.best(fam).items():
                if peer not in refl.targets(path, peers):
                    continue
                out_attrs = refl.outgoing(path)
                key = (id(out_attrs), path.next_hop, fam)
                g = groups.get(key)
                if g is None:
                    g = groups[key] = (out_attrs, path.next_hop, fam, [])
                g[3].append(route)
        msgs = []
        for out_attrs, nh, fam, routes in groups.values():
            msgs += wire.pack_updates(routes, out_attrs, nh, peer.context)
        return msgs
