"""``bgpevpn vtep``: a VTEP agent built on the library (docs/vtep.md)."""
from .agent import VtepAgent, query
from .config import ConfigError, load_config, validate_config

__all__ = ["VtepAgent", "query", "ConfigError", "load_config", "validate_config"]
