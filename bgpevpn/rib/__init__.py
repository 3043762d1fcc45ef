"""RIB: Adj-RIB-In, Loc-RIB with the decision process, route reflection."""
from .decision import as_path_length, best_path, preference_key
from .policy import chain, route_target_filter
from .rib import LOCAL, AttributeInterner, BestPathChanged, ChangeBuffer, Path, Rib, Source

__all__ = ["Rib", "Source", "LOCAL", "Path", "BestPathChanged", "AttributeInterner",
           "ChangeBuffer", "best_path", "preference_key", "as_path_length", "route_target_filter",
           "chain"]
