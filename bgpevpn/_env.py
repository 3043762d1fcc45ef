"""The environment switches of the C extensions (read once, at import),
and the one way the package loads an extension.

``BGPEVPN_NO_EXTENSIONS=1``: use none of them (pure Python on purpose);
``BGPEVPN_REQUIRE_EXTENSIONS=1``: a missing one is an ImportError;
``BGPEVPN_NO_SLAB=1``: route objects from pymalloc rather than the route
slab (bgpevpn/_slab.h), e.g. to see them in ``tracemalloc``.
"""
from __future__ import annotations

import importlib
import os


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS = flag("BGPEVPN_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = flag("BGPEVPN_REQUIRE_EXTENSIONS")
NO_SLAB = flag("BGPEVPN_NO_SLAB")
if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    raise ImportError("BGPEVPN_NO_EXTENSIONS and BGPEVPN_REQUIRE_EXTENSIONS are both set")


def extension(name: str):
    """The compiled module ``bgpevpn.<name>``, or None when extensions are
    off or it was not built (then the caller uses its Python twin); with
    ``BGPEVPN_REQUIRE_EXTENSIONS`` a missing one is an ImportError."""
    if NO_EXTENSIONS:
        return None
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            raise ImportError(f"BGPEVPN_REQUIRE_EXTENSIONS is set but the C twin "
                              f"{__package__}.{name} is not importable: {exc}") from exc
        return None
