"""Pausing the garbage collector around bulk work.

Inserting a million paths creates a million GC-tracked objects; with the
collector running, each allocation burst triggers collections that walk
everything created so far, which costs several times the insertion itself.
Bulk operations (a large UPDATE into the RIB) pause collection for their
duration only and restore the previous state, as msgpack-python's
documentation advises for large unpacking.  Nothing they create forms
reference cycles.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

#: batches at least this large run with the collector paused
BULK = 512


@contextmanager
def gc_paused(n: int):
    """Pause the collector when ``n`` (the batch size) is at least ``BULK``."""
    if n < BULK or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
