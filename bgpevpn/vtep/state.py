"""What a VTEP advertises and programs, decided from what it sees.

Inputs: the kernel (VXLAN devices, MACs the bridges learnt on local ports,
neighbour entries) and the best EVPN paths of the RIB.  Outputs: the EVPN
routes to advertise (type 3 per local VNI, type 2 per local MAC and MAC+IP)
and the kernel entries to hold (remote MACs, flood lists, neighbour
entries).  No I/O here: ``VtepState`` records what changed and
``reconcile()`` returns the differences, so the agent (agent.py) and the
tests drive it the same way.

RFC 7432 §15 MAC mobility: a MAC learnt locally while other VTEPs
advertise it is advertised with their highest sequence number + 1; a
remote route that beats ours (sticky, a higher sequence, or the same one
from a lower VTEP address, §15.1) means the MAC moved away: we withdraw
ours and forward to the new VTEP.
"""
from __future__ import annotations

import ipaddress
from typing import NamedTuple

from ..attributes import AsPath, Attributes, ExtCommunities, LocalPref, Origin, PmsiTunnel, \
    format_next_hop
from ..constants import PmsiTunnelType, TunnelType
from ..evpn import mac_mobility, route_vni
from ..routes import InclusiveMulticastRoute, MacIpRoute
from ..values import ExtCommunity
from .config import auto_rts, default_import_rts

EVPN = (25, 70)


def _ip_int(text) -> int:
    try:
        return int(ipaddress.ip_address(text))
    except ValueError:
        return 1 << 129


def _multicast(mac: str, ip: str) -> bool:
    """A group MAC, or a multicast / IPv6 link-local IP: nothing to advertise."""
    if int(mac[:2] or "0", 16) & 1:
        return True
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return True
    return a.is_multicast or (a.version == 6 and a.is_link_local)


class Vni:
    """A local VNI: its VXLAN device, bridge and the RD/RTs we use for it."""
    __slots__ = ("vni", "device", "ifindex", "bridge", "bridge_name", "rd", "export_rts",
                 "import_rts", "arp_suppression", "index")

    def __init__(self, vni, device, ifindex, bridge, bridge_name, rd, export_rts, import_rts,
                 arp_suppression, index):
        self.vni, self.device, self.ifindex = vni, device, ifindex
        self.bridge, self.bridge_name = bridge, bridge_name
        self.rd, self.export_rts, self.import_rts = rd, export_rts, import_rts
        self.arp_suppression, self.index = arp_suppression, index


class LocalMac(NamedTuple):
    port: int
    static: bool        # an administrator's static entry: advertised sticky (like FRR)
    seq: int


class RemoteMac(NamedTuple):
    """One type 2 best path: (vni, mac) is at ``vtep``."""
    vtep: str
    seq: int
    sticky: bool
    ip: str | None
    rd: str
    vni_from: str
    source: str


def beats(a: RemoteMac, b: RemoteMac) -> bool:
    """RFC 7432 §15: sticky first, then the higher sequence, then the lower VTEP."""
    return (not a.sticky, -a.seq, _ip_int(a.vtep)) < (not b.sticky, -b.seq, _ip_int(b.vtep))


class VtepState:
    """The agent's decisions; see the module docstring."""

    def __init__(self, asn: int, router_id: str, source: str, rt_style: str = "frr",
                 vni_config=None, advertise_all: bool = True, arp_suppression: bool = False):
        self.asn, self.router_id, self.source = asn, router_id, source
        self.source_int = _ip_int(source)
        self.rt_style = rt_style
        self.vni_config = {v["vni"]: v for v in (vni_config or [])}
        self.advertise_all = advertise_all
        self.arp_suppression = arp_suppression
        self.links: dict = {}            # ifindex -> kernel Link
        self.vnis: dict = {}             # vni -> Vni (the active ones)
        self._rd_index: dict = {}        # vni -> index of its auto RD (kept while we run)
        self.by_bridge: dict = {}        # bridge ifindex -> vni
        self.by_vxlan: dict = {}         # vxlan ifindex -> vni
        self.local: dict = {}            # (vni, mac) -> LocalMac
        self.local_ips: dict = {}        # (vni, mac) -> {ip: bridge ifindex}
        self._ip_owner: dict = {}        # (vni, ip) -> mac of local_ips
        self._bridge_fdb: dict = {}      # (bridge, mac) -> FdbEntry, every bridge
        self._bridge_neigh: dict = {}    # (ifindex, ip) -> Neighbour, local ones
        self._ip_claims: dict = {}       # (vni, ip) -> {mac: routes} of remote MAC+IP routes
        self.remote: dict = {}           # (vni, mac) -> {route: RemoteMac}
        self.floods: dict = {}           # vni -> {route: vtep}
        self._route_at: dict = {}        # route -> ("mac", (vni, mac)) or ("flood", vni)
        self.ignored: dict = {}          # why remote routes were not used -> count
        self._dirty_macs: set = set()
        self._dirty_vnis: set = set()
        # what is advertised / held in the kernel (maintained by reconcile)
        self.advertised: dict = {}       # route -> Attributes
        self.macs_installed: dict = {}   # (vni, mac) -> vtep
        self.steered: set = set()        # (vni, mac) whose bridge entry we pointed at the VXLAN port
        self.floods_installed: dict = {}  # vni -> set of vteps
        self.neigh_installed: dict = {}  # (vni, ip) -> mac
        self.neigh_of_mac: dict = {}     # (vni, mac) -> {ip} installed for it
        self.held: set = set()           # (kind, key, value) of an earlier run, kept until synced
        self._adv_t3: dict = {}          # vni -> our type 3 route
        self._adv_by_mac: dict = {}      # (vni, mac) -> our type 2 routes
        self._attrs_cache: dict = {}     # (vni, rd, seq, sticky) -> (Vni, Attributes)
        self.moves = 0                   # local MACs that moved to another VTEP

    # -- VNIs -------------------------------------------------------------------------
    def set_link(self, link) -> None:
        if link.deleted:
            self.links.pop(link.index, None)
        else:
            old = self.links.get(link.index)
            if link.kind is None and old is not None and old.kind is not None:
                # a notification without IFLA_LINKINFO: the device did not change kind
                link = link._replace(kind=old.kind, vni=old.vni, local=old.local)
            self.links[link.index] = link
        self._refresh_vnis()

    def _wanted(self, link) -> bool:
        if not (link.kind == "vxlan" and link.vni is not None and link.up and link.master
                and link.master in self.links
                and (self.advertise_all or link.vni in self.vni_config)):
            return False
        cfg = self.vni_config.get(link.vni, {})
        # a VNI pinned to a device / bridge by name is served only there
        return cfg.get("device", link.name) == link.name and \
            cfg.get("bridge", self.links[link.master].name) == self.links[link.master].name

    def _refresh_vnis(self) -> None:
        now = {}
        for link in self.links.values():
            if self._wanted(link):
                now[link.vni] = link
        for vni in list(self.vnis):
            v = self.vnis[vni]
            link = now.get(vni)
            if link is None or link.index != v.ifindex or link.master != v.bridge:
                self._drop_vni(vni)
        for vni, link in sorted(now.items()):
            if vni not in self.vnis:
                self._add_vni(vni, link)

    def _configured_rd_indexes(self) -> set:
        """Indexes taken by configured RDs of the form router-id:N."""
        out = set()
        for c in self.vni_config.values():
            head, _, tail = str(c.get("rd", "")).rpartition(":")
            if head == self.router_id and tail.isdigit():
                out.add(int(tail))
        return out

    def _add_vni(self, vni: int, link) -> None:
        cfg = self.vni_config.get(vni, {})
        if vni not in self._rd_index and "rd" not in cfg:
            used = set(self._rd_index.values()) | self._configured_rd_indexes()
            self._rd_index[vni] = next(i for i in range(1, 1 << 16) if i not in used)
        idx = self._rd_index.get(vni, 0)
        rd = cfg.get("rd") or f"{self.router_id}:{idx}"
        export = cfg.get("_export_rts") or auto_rts(self.asn, vni, self.rt_style)
        imports = self.import_rts(vni)        # (not active yet: the configured or default ones)
        bridge = self.links[link.master]
        v = Vni(vni, link.name, link.index, link.master, bridge.name, rd, tuple(export),
                tuple(imports), bool(cfg.get("arp_suppression", self.arp_suppression)), idx)
        self.vnis[vni] = v
        self.by_bridge[v.bridge] = vni
        self.by_vxlan[v.ifindex] = vni
        self._dirty_vnis.add(vni)
        self._dirty_macs.update(k for k in self.remote if k[0] == vni)
        # what the bridge already holds (a VNI coming back, or appearing while we run)
        for (bridge, _), e in list(self._bridge_fdb.items()):
            if bridge == v.bridge:
                self._apply_fdb(e)
        for (ifindex, _), n in list(self._bridge_neigh.items()):
            if ifindex == v.bridge:
                self.neighbour(n, record=False)

    def _drop_vni(self, vni: int) -> None:
        v = self.vnis.pop(vni)
        self.by_bridge.pop(v.bridge, None)
        self.by_vxlan.pop(v.ifindex, None)
        dev = self.links.get(v.ifindex)
        if dev is None or dev.kind != "vxlan" or dev.vni != vni:
            # the device is gone, and the kernel removed its FDB entries with it
            for k in [k for k in self.macs_installed if k[0] == vni]:
                del self.macs_installed[k]
                self.steered.discard(k)
            self.floods_installed.pop(vni, None)
            self.held = {h for h in self.held if not (h[0] == "flood" and h[1] == vni)
                         and not (h[0] == "mac" and h[1][0] == vni)}
        if v.bridge not in self.links:   # and the bridge's neighbour entries with the bridge
            for k in [k for k in self.neigh_installed if k[0] == vni]:
                del self.neigh_installed[k]
            for k in [k for k in self.neigh_of_mac if k[0] == vni]:
                del self.neigh_of_mac[k]
            self.held = {h for h in self.held if not (h[0] == "neigh" and h[1][0] == vni)}
        for k in [k for k in self.local if k[0] == vni]:
            del self.local[k]
            self._dirty_macs.add(k)
        for k in [k for k in self.local_ips if k[0] == vni]:
            del self.local_ips[k]
        for k in [k for k in self._ip_owner if k[0] == vni]:
            del self._ip_owner[k]
        self._dirty_macs.update(k for k in self.remote if k[0] == vni)
        self._dirty_macs.update(k for k in self.macs_installed if k[0] == vni)
        self._dirty_vnis.add(vni)

    def vni_of_device(self, ifindex: int):
        return self.vnis.get(self.by_vxlan.get(ifindex))

    # -- local MACs and IPs -------------------------------------------------------------
    def fdb_entry(self, e) -> None:
        """A bridge FDB entry (dump or notification)."""
        if not e.master or e.permanent:
            return
        # kept for every bridge, served or not, to replay when a VNI appears
        if e.deleted:
            cur = self._bridge_fdb.get((e.master, e.mac))
            if cur is not None and cur.ifindex == e.ifindex:
                del self._bridge_fdb[(e.master, e.mac)]
        else:
            self._bridge_fdb[(e.master, e.mac)] = e
        self._apply_fdb(e)

    def _apply_fdb(self, e) -> None:
        if int(e.mac[:2] or "0", 16) & 1:
            return     # group addresses are not hosts
        vni = self.by_bridge.get(e.master)
        if vni is None:
            return
        key = (vni, e.mac)
        v = self.vnis[vni]
        cur = self.local.get(key)
        if e.ifindex == v.ifindex or e.ifindex == v.bridge:
            # the bridge forwards this MAC into the tunnel: not (or no longer) local
            # (it moved away, and the bridge saw its frames come from the tunnel)
            if cur is not None and not e.deleted:
                del self.local[key]
                self.moves += 1
                self._dirty_macs.add(key)
            return
        if e.deleted:
            if cur is not None and cur.port == e.ifindex:
                del self.local[key]
                self._dirty_macs.add(key)
            return
        if cur is not None and cur.port == e.ifindex and cur.static == e.static:
            return
        # learnt here (again, or on another port): RFC 7432 §15 sequence
        seq = cur.seq if cur is not None else self._next_seq(key)
        self.local[key] = LocalMac(e.ifindex, e.static, seq)
        self.steered.discard(key)      # the bridge took the entry back from the VXLAN port
        self._dirty_macs.add(key)

    def _next_seq(self, key) -> int:
        rem = self.remote.get(key)
        return max(r.seq for r in rem.values()) + 1 if rem else 0

    def neighbour(self, n, record: bool = True) -> None:
        """An ARP/ND entry on a bridge (the SVI): MAC+IP routes for a VNI
        with ARP suppression.  Our own (extern_learn) entries are not local
        ones: one replacing a local entry means the IP is now remote."""
        if n.mac is not None and _multicast(n.mac, n.ip):
            return     # the kernel's own multicast mappings (224.0.0.22, ff02::...)
        if record:
            if n.deleted or not n.valid or n.extern_learn:
                self._bridge_neigh.pop((n.ifindex, n.ip), None)
            else:
                self._bridge_neigh[(n.ifindex, n.ip)] = n
        vni = self.by_bridge.get(n.ifindex)
        if vni is None or not self.vnis[vni].arp_suppression:
            return
        where = self._ip_owner.get((vni, n.ip))
        if n.extern_learn:
            if where is not None:
                self._drop_local_ip(vni, n.ip)
            return
        if where is not None and (n.deleted or not n.valid or where != n.mac):
            key = (vni, where)
            ips = self.local_ips.get(key, {})
            ips.pop(n.ip, None)
            if not ips:
                self.local_ips.pop(key, None)
            del self._ip_owner[(vni, n.ip)]
            self._dirty_macs.add(key)
        if not n.deleted and n.valid and where != n.mac:
            key = (vni, n.mac)
            self.local_ips.setdefault(key, {})[n.ip] = n.ifindex
            self._ip_owner[(vni, n.ip)] = n.mac
            self._dirty_macs.add(key)

    def _drop_local_ip(self, vni, ip) -> None:
        mac = self._ip_owner.pop((vni, ip), None)
        if mac is None:
            return
        key = (vni, mac)
        ips = self.local_ips.get(key, {})
        ips.pop(ip, None)
        if not ips:
            self.local_ips.pop(key, None)
        self._dirty_macs.add(key)

    # -- remote routes -------------------------------------------------------------------
    def import_rts(self, vni: int) -> tuple:
        v = self.vnis.get(vni)
        if v is not None:
            return v.import_rts
        cfg = self.vni_config.get(vni, {})
        return cfg.get("_import_rts") or default_import_rts(self.asn, vni, self.rt_style)

    def _ignore(self, why: str) -> None:
        self.ignored[why] = self.ignored.get(why, 0) + 1

    def rib_change(self, change) -> None:
        """A BestPathChanged of the RIB (EVPN family)."""
        route = change.route
        where = self._route_at.pop(route, None)
        if where is not None:
            kind, k = where
            if kind == "mac":
                m = self.remote.get(k)
                if m is not None:
                    old = m.pop(route, None)
                    if old is not None and old.ip is not None:
                        self._claim(k[0], old.ip, k[1], -1)
                    if not m:
                        del self.remote[k]
                self._dirty_macs.add(k)
            else:
                f = self.floods.get(k)
                if f is not None:
                    f.pop(route, None)
                    if not f:
                        del self.floods[k]
                self._dirty_vnis.add(k)
        path = change.new
        if path is None or route.route_type not in (2, 3):
            return
        attrs = path.attrs
        vni, how = route_vni(route, attrs)
        if vni is None:
            self._ignore(how)
            return
        rts = set(attrs.route_targets)
        if not rts.intersection(self.import_rts(vni)):
            self._ignore(f"no import route target of VNI {vni}")
            return
        nh = path.next_hop
        nh = format_next_hop(bytes(nh))[0] if isinstance(nh, (bytes, bytearray)) else nh
        if route.route_type == 3:
            pmsi = attrs.pmsi_tunnel
            vtep = (pmsi.endpoint if pmsi is not None else None) or \
                (str(route.originator_ip) if route.originator_ip else nh)
            if vtep is None or _ip_int(vtep) == self.source_int:
                self._ignore("own VTEP address")
                return
            self.floods.setdefault(vni, {})[route] = vtep
            self._route_at[route] = ("flood", vni)
            self._dirty_vnis.add(vni)
            return
        if nh is None or _ip_int(nh) == self.source_int:
            self._ignore("own VTEP address")
            return
        seq, sticky = mac_mobility(attrs)
        k = (vni, str(route.mac))
        ip = route.ip
        ip = str(ip) if ip is not None else None
        self.remote.setdefault(k, {})[route] = RemoteMac(nh, seq, sticky, ip, str(route.rd), how,
                                                         path.source.name)
        if ip is not None:
            self._claim(vni, ip, k[1], 1)
        self._route_at[route] = ("mac", k)
        self._dirty_macs.add(k)

    def _claim(self, vni, ip, mac, n) -> None:
        """Count the remote MAC+IP routes giving ``ip`` to ``mac``."""
        claims = self._ip_claims.setdefault((vni, ip), {})
        c = claims.get(mac, 0) + n
        if c > 0:
            claims[mac] = c
        else:
            claims.pop(mac, None)
            if not claims:
                del self._ip_claims[(vni, ip)]
            # the other claimants of the IP may get it now
            self._dirty_macs.update((vni, m) for m in claims)

    def best_remote(self, key):
        """The winning remote (vtep, seq, sticky) of (vni, mac), and its IPs."""
        rem = self.remote.get(key)
        if not rem:
            return None, ()
        best = None
        for r in rem.values():
            if best is None or beats(r, best):
                best = r
        ips = sorted({r.ip for r in rem.values() if r.ip is not None and r.vtep == best.vtep})
        return best, ips

    def _moved_away(self, loc: LocalMac, rem: RemoteMac) -> bool:
        if loc.static:
            return False          # our sticky MAC stays (a remote sticky one is a duplicate)
        if rem.sticky or rem.seq > loc.seq:
            return True
        return rem.seq == loc.seq and _ip_int(rem.vtep) < self.source_int

    # -- what we advertise ---------------------------------------------------------------
    def _base_attrs(self, v: Vni, extra=()) -> list:
        ecs = list(v.export_rts) + [ExtCommunity.encapsulation(TunnelType.VXLAN)] + list(extra)
        return [Origin(0), AsPath([]), LocalPref(100), ExtCommunities(ecs)]

    def type3(self, v: Vni):
        route = InclusiveMulticastRoute.build(v.rd, self.source, 0)
        attrs = self._base_attrs(v)
        # RFC 8365 §9: ingress replication, the label carries the VNI
        attrs.append(PmsiTunnel((0, PmsiTunnelType.INGRESS_REPLICATION, v.vni,
                                 ipaddress.ip_address(self.source).packed)))
        return route, Attributes(attrs)

    def type2(self, v: Vni, mac: str, loc: LocalMac, ips) -> list:
        ck = (v.vni, v.rd, loc.seq, loc.static)
        attrs = self._attrs_cache.get(ck)
        if attrs is None or attrs[0] is not v:
            extra = [ExtCommunity.mac_mobility(loc.seq, loc.static)] \
                if loc.seq or loc.static else []
            attrs = self._attrs_cache[ck] = (v, Attributes(self._base_attrs(v, extra)))
        attrs = attrs[1]   # one object per VNI and sequence: cheap to compare, one UPDATE group
        out = [(MacIpRoute.build(v.rd, mac, None, (v.vni,)), attrs)]
        for ip in sorted(ips):
            out.append((MacIpRoute.build(v.rd, mac, ip, (v.vni,)), attrs))
        return out

    # -- the differences -----------------------------------------------------------------
    def hold(self, kind: str, key, value) -> None:
        """An entry found in the kernel at start that an earlier run installed:
        counted as installed (left alone when it is still wanted, so traffic
        keeps flowing) and not removed before ``reconcile(release_held=True)``."""
        if kind == "mac":
            self.macs_installed[key] = value
        elif kind == "flood":
            self.floods_installed.setdefault(key, set()).add(value)
        else:
            self.neigh_installed[key] = value
            self.neigh_of_mac.setdefault((key[0], value), set()).add(key[1])
        self.held.add((kind, key, value))

    def reconcile(self, release_held: bool = False):
        """(announce, withdraw, kernel ops) since the last call.

        ``announce`` is a list of (route, Attributes), ``withdraw`` a list of
        routes; kernel ops are tuples ("mac", vni, mac, vtep or None, old vtep),
        ("steer", vni, mac), ("flood", vni, vtep, add), ("neigh", vni, ip,
        mac or None).  Entries of an earlier run (``hold``) are kept until
        ``release_held``.
        """
        if release_held and self.held:
            for kind, key, value in self.held:
                if kind == "flood":
                    self._dirty_vnis.add(key)
                else:
                    self._dirty_macs.add(key if kind == "mac" else (key[0], value))
            self.held = set()
        announce, withdraw, ops = [], [], []
        dirty_vnis, self._dirty_vnis = self._dirty_vnis, set()
        dirty_macs, self._dirty_macs = self._dirty_macs, set()
        for vni in sorted(dirty_vnis):
            self._reconcile_flood(vni, ops)
            v = self.vnis.get(vni)
            want = self.type3(v) if v is not None else None
            old = self._adv_t3.pop(vni, None)
            if want is not None:
                self._adv_t3[vni] = want[0]
                if self.advertised.get(want[0]) != want[1]:
                    self.advertised[want[0]] = want[1]
                    announce.append(want)
            if old is not None and (want is None or old != want[0]):
                self.advertised.pop(old, None)
                withdraw.append(old)
        for key in sorted(dirty_macs):
            self._reconcile_mac(key, ops)
        # neighbour entries (ARP suppression): per IP, as several MACs may claim one
        ips = set()
        for vni, mac in dirty_macs:
            for r in self.remote.get((vni, mac), {}).values():
                if r.ip is not None:
                    ips.add((vni, r.ip))
            ips.update((vni, ip) for ip in self.neigh_of_mac.get((vni, mac), ()))
            ips.update((vni, ip) for ip in self.local_ips.get((vni, mac), ()))
        for vni, ip in sorted(ips):
            self._reconcile_neigh(vni, ip, ops)
        dirty_macs |= self._dirty_macs      # local MAC+IPs given up to a remote claim
        self._dirty_macs = set()
        for key in sorted(dirty_macs):
            self._reconcile_adv(key, announce, withdraw)
        return announce, withdraw, ops

    def _reconcile_flood(self, vni, ops) -> None:
        v = self.vnis.get(vni)
        want = set(self.floods.get(vni, {}).values()) if v is not None else set()
        have = self.floods_installed.get(vni, set())
        keep = {vt for vt in have - want if ("flood", vni, vt) in self.held}
        for vtep in sorted(want - have, key=_ip_int):
            ops.append(("flood", vni, vtep, True))
        for vtep in sorted(have - want - keep, key=_ip_int):
            ops.append(("flood", vni, vtep, False))
        if want | keep:
            self.floods_installed[vni] = want | keep
        else:
            self.floods_installed.pop(vni, None)

    def _reconcile_mac(self, key, ops) -> None:
        """Local or remote, and the kernel's MAC entry."""
        vni, mac = key
        v = self.vnis.get(vni)
        loc = self.local.get(key)
        best, _ = self.best_remote(key) if v is not None else (None, ())
        if loc is not None and best is not None and self._moved_away(loc, best):
            # RFC 7432 §15: the MAC moved to another VTEP: stop claiming it, and
            # point the bridge at the tunnel now rather than when its entry ages
            del self.local[key]
            self.moves += 1
            loc = None
            self.steered.add(key)
            ops.append(("steer", vni, mac))
        target = best.vtep if (best is not None and loc is None) else None
        cur = self.macs_installed.get(key)
        if target is not None:
            if target != cur:
                self.macs_installed[key] = target
                ops.append(("mac", vni, mac, target, cur))
            self.held.discard(("mac", key, cur))
        elif cur is not None and ("mac", key, cur) not in self.held:
            del self.macs_installed[key]
            self.steered.discard(key)
            ops.append(("mac", vni, mac, None, cur))

    def _neigh_owner(self, vni, ip):
        """Who gets the neighbour entry of ``ip``: among the remote MACs whose
        winning VTEP advertises it, RFC 7432 §15 order (then the lowest MAC),
        unless a local MAC holds the IP and is not beaten (the IP moved)."""
        v = self.vnis.get(vni)
        if v is None or not v.arp_suppression:
            return None
        owner = None
        for mac in self._ip_claims.get((vni, ip), ()):
            key = (vni, mac)
            if key in self.local:
                continue
            best, ips = self.best_remote(key)
            if best is None or ip not in ips:
                continue
            if owner is None or beats(best, owner[0]) or \
                    (not beats(owner[0], best) and mac < owner[1]):
                owner = (best, mac)
        if owner is None:
            return None
        mine = self._ip_owner.get((vni, ip))
        if mine is not None:
            loc = self.local.get((vni, mine))
            me = RemoteMac(self.source, loc.seq if loc else 0, bool(loc and loc.static), ip,
                           "", "", "")
            if not beats(owner[0], me):
                return None
            self._drop_local_ip(vni, ip)      # the IP moved to the remote MAC
        return owner[1]

    def _reconcile_neigh(self, vni, ip, ops) -> None:
        mac = self._neigh_owner(vni, ip)
        cur = self.neigh_installed.get((vni, ip))
        if mac == cur:
            self.held.discard(("neigh", (vni, ip), cur))
            return
        if mac is None and ("neigh", (vni, ip), cur) in self.held:
            return
        self.held.discard(("neigh", (vni, ip), cur))
        if cur is not None:
            have = self.neigh_of_mac.get((vni, cur))
            if have is not None:
                have.discard(ip)
                if not have:
                    del self.neigh_of_mac[(vni, cur)]
        if mac is None:
            del self.neigh_installed[(vni, ip)]
            ops.append(("neigh", vni, ip, None))
        else:
            self.neigh_installed[(vni, ip)] = mac
            self.neigh_of_mac.setdefault((vni, mac), set()).add(ip)
            ops.append(("neigh", vni, ip, mac))

    def _reconcile_adv(self, key, announce, withdraw) -> None:
        """Our type 2 routes for (vni, mac)."""
        vni, mac = key
        v = self.vnis.get(vni)
        loc = self.local.get(key)
        wanted = self.type2(v, mac, loc, self.local_ips.get(key, {})) \
            if loc is not None and v is not None else []
        wanted_routes = {r for r, _ in wanted}
        for r in self._adv_by_mac.pop(key, ()):
            if r not in wanted_routes and self.advertised.pop(r, None) is not None:
                withdraw.append(r)
        for r, a in wanted:
            cur = self.advertised.get(r)
            if cur is not a and cur != a:
                self.advertised[r] = a
                announce.append((r, a))
        if wanted_routes:
            self._adv_by_mac[key] = wanted_routes

    # -- views ------------------------------------------------------------------------------
    def vni_view(self, vni: int) -> dict:
        """One VNI as ``bgpevpn vtep status`` shows it (FRR's show evpn vni /
        show evpn mac vni)."""
        v = self.vnis[vni]
        macs = []
        for (n, mac), loc in self.local.items():
            if n == vni:
                macs.append({"mac": mac, "type": "local", "port": self._ifname(loc.port),
                             "seq": loc.seq, "sticky": loc.static,
                             "ips": sorted(self.local_ips.get((n, mac), {}))})
        for (n, mac) in self.remote:
            if n != vni or (n, mac) in self.local:
                continue
            best, ips = self.best_remote((n, mac))
            macs.append({"mac": mac, "type": "remote", "vtep": best.vtep, "seq": best.seq,
                         "sticky": best.sticky, "ips": list(ips), "rd": best.rd,
                         "vni_from": best.vni_from,
                         "installed": self.macs_installed.get((n, mac)) == best.vtep})
        macs.sort(key=lambda m: m["mac"])
        return {"vni": vni, "device": v.device, "bridge": v.bridge_name, "rd": v.rd,
                "export_rts": [str(r) for r in v.export_rts],
                "import_rts": [str(r) for r in v.import_rts],
                "arp_suppression": v.arp_suppression,
                "local_macs": sum(1 for m in macs if m["type"] == "local"),
                "remote_macs": sum(1 for m in macs if m["type"] == "remote"),
                "flood": sorted(self.floods_installed.get(vni, set()), key=_ip_int),
                "macs": macs}

    def _ifname(self, ifindex: int) -> str:
        link = self.links.get(ifindex)
        return link.name if link is not None else str(ifindex)
