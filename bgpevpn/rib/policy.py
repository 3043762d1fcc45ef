"""Ready-made policies for ``Rib(import_policy=...)`` and
``RouteReflector(export_policy=...)``: plain callables, combined freely."""
from __future__ import annotations

from ..values import ExtCommunity


def route_target_filter(route_targets):
    """An import policy keeping paths that carry one of ``route_targets``
    (strings like ``target:65000:100`` or ``ExtCommunity`` values), as a VRF
    or MAC-VRF imports routes (RFC 4364 §4.3.1, RFC 7432 §7.10)."""
    wanted = frozenset(bytes(ExtCommunity(rt)) if isinstance(rt, str) else bytes(rt)
                       for rt in route_targets)

    def policy(source, family, path):
        for rt in path.attrs.route_targets:
            if bytes(rt) in wanted:
                return path
        return None
    return policy


def chain(*policies):
    """Apply policies in order; the first None rejects."""
    def policy(source, family, path):
        for p in policies:
            path = p(source, family, path)
            if path is None:
                return None
        return path
    return policy
