# cython: language_level=3, boundscheck=False, wraparound=False
"""The RIB's per-route loops, C twin of ``_update_py.py``: the same two
functions with the same arguments, the same table updates and the same
``BestPathChanged`` lists (tests/test_rib_twins.py checks it), and the
``Path`` and ``BestPathChanged`` they make.

What differs is only how the work is done:

* ``Path`` and ``BestPathChanged`` are small C types here (read-only
  fields) that behave as the Python twin's NamedTuples do (fields by name or
  index, unpacking, equality and hash with tuples, ``_replace``,
  ``_asdict``, pickling) but are not tuples and not garbage-collected types:
  48 and 64 bytes (in the allocator's 16-byte classes) instead of 80, and they neither add to the collector's
  allocation count nor are ever walked by a collection.  A Path holds a
  route, an attribute set, a source and a next hop, a change a family, a
  route, a kind and two Paths; none of these refers back to a Path or a
  change, so neither can be part of a reference cycle made of bgpevpn's
  objects.  (A cycle that runs through one, e.g. a ``Source`` subclass that
  refers to its ``Rib``, is not found by the collector: do not build one.)
  As NamedTuples, a million paths in the tables were a million objects that
  every full collection walked, and every bulk update's changes, counted as
  new objects and alive when the collector ran right after the update,
  caused a young collection per update and were promoted into the old
  generation by the thousand, triggering full collections
  (docs/performance.md, "Where the time goes").
* the route is hashed once per route, and the tables are probed with that
  hash (``_PyDict_*_KnownHash``, CPython 3.9-3.12; the public dict API,
  which hashes again, elsewhere).
"""
cimport cython
from cpython.object cimport PyObject, PyTypeObject

IMPLEMENTATION = "c"

cdef extern from *:
    """
    #if !defined(PYPY_VERSION) && PY_VERSION_HEX < 0x030D0000 && !defined(BGPEVPN_RIB_PUBLIC_DICT_API)
    #define BGPEVPN_RIB_KNOWN_HASH 1
    #else
    #define BGPEVPN_RIB_KNOWN_HASH 0
    #endif

    /* Dict operations with the key's hash computed once by the caller:
       NULL without an exception when absent (get), 0 / -1 (set, del). */
    static PyObject *bgpevpn_rib_get(PyObject *d, PyObject *k, Py_hash_t h) {
    #if BGPEVPN_RIB_KNOWN_HASH
        return _PyDict_GetItem_KnownHash(d, k, h);
    #else
        (void)h;
        return PyDict_GetItemWithError(d, k);
    #endif
    }
    static int bgpevpn_rib_set(PyObject *d, PyObject *k, PyObject *v, Py_hash_t h) {
    #if BGPEVPN_RIB_KNOWN_HASH
        return _PyDict_SetItem_KnownHash(d, k, v, h);
    #else
        (void)h;
        return PyDict_SetItem(d, k, v);
    #endif
    }
    static int bgpevpn_rib_del(PyObject *d, PyObject *k, Py_hash_t h) {
    #if BGPEVPN_RIB_KNOWN_HASH
        return _PyDict_DelItem_KnownHash(d, k, h);
    #else
        (void)h;
        return PyDict_DelItem(d, k);
    #endif
    }
    """
    PyObject *dict_get "bgpevpn_rib_get"(object d, object k, Py_hash_t h) except? NULL
    int dict_set "bgpevpn_rib_set"(object d, object k, object v, Py_hash_t h) except -1
    int dict_del "bgpevpn_rib_del"(object d, object k, Py_hash_t h) except -1
    void PyObject_GC_UnTrack(object o)

cdef str ADDED = "added"
cdef str CHANGED = "changed"
cdef str WITHDRAWN = "withdrawn"


# Path and BestPathChanged: no cdef methods, so no vtable pointer in each
# instance (a Path is 48 bytes: the object header and its four fields).

cdef tuple _astuple(object o):
    """The fields of a Path or BestPathChanged as a tuple; a tuple as is;
    None for anything else."""
    if type(o) is Path:
        return ((<Path>o).route, (<Path>o).attrs, (<Path>o).source, (<Path>o).next_hop)
    if type(o) is BestPathChanged:
        return ((<BestPathChanged>o).family, (<BestPathChanged>o).route,
                (<BestPathChanged>o).kind, (<BestPathChanged>o).old, (<BestPathChanged>o).new)
    if isinstance(o, tuple):
        return <tuple>o
    return None


cdef object _compare(object self, object other, int op):
    cdef tuple a = _astuple(self)
    cdef tuple b = _astuple(other)
    if b is None:
        return NotImplemented
    if op == 0:
        return a < b
    if op == 1:
        return a <= b
    if op == 2:
        return a == b
    if op == 3:
        return a != b
    if op == 4:
        return a > b
    return a >= b


cdef object _replace(object self, dict changes):
    d = dict(zip(self._fields, _astuple(self)))
    unknown = [k for k in changes if k not in d]
    if unknown:
        raise ValueError(f"Got unexpected field names: {unknown!r}")
    d.update(changes)
    return type(self)(**d)


cdef object _make(object cls, object iterable):
    t = tuple(iterable)
    if len(t) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(t)}")
    return cls(*t)


cdef class _NamedFields:
    """What Path and BestPathChanged share to behave as the NamedTuples of
    the Python twin: length, iteration, indexing, hashing and ordering as
    their tuple of fields, pickling, ``_asdict``/``_replace``/``_make``,
    ``count``/``index``.  No fields of its own, so it adds nothing to them."""

    def __len__(self):
        return len(self._fields)

    def __iter__(self):
        return iter(_astuple(self))

    def __getitem__(self, i):
        return _astuple(self)[i]

    def __hash__(self):
        return hash(_astuple(self))

    def __richcmp__(self, other, int op):
        return _compare(self, other, op)

    def __reduce__(self):
        return (type(self), _astuple(self))

    def _asdict(self):
        return dict(zip(self._fields, _astuple(self)))

    def _replace(self, **changes):
        return _replace(self, changes)

    @classmethod
    def _make(cls, iterable):
        return _make(cls, iterable)

    def count(self, value):
        return _astuple(self).count(value)

    def index(self, value, *args):
        return _astuple(self).index(value, *args)


@cython.final
@cython.no_gc
cdef class Path(_NamedFields):
    """One route as received from one source (immutable; a new announcement
    is a new Path).  Whether it is stale is kept by the Rib (``is_stale``).

    ``Path(route, attrs, source, next_hop)``; behaves as a NamedTuple of
    those four fields (the Python twin's ``Path`` is one) without being a
    tuple."""
    cdef readonly object route
    cdef readonly object attrs
    cdef readonly object source
    cdef readonly object next_hop

    _fields = ("route", "attrs", "source", "next_hop")
    __match_args__ = _fields

    def __init__(self, route, attrs, source, next_hop):
        self.route = route
        self.attrs = attrs
        self.source = source
        self.next_hop = next_hop

    def __repr__(self):
        return f"Path({self.route!r} from {self.source.name})"


@cython.final
@cython.no_gc
cdef class BestPathChanged(_NamedFields):
    """The best path of ``route`` (its key) in ``family`` changed:
    ``kind`` is ``added``, ``changed`` or ``withdrawn``; ``old``/``new`` are
    the previous and the new best ``Path`` (None when there is none).

    Behaves as a NamedTuple of those five fields (the Python twin's
    ``BestPathChanged`` is one) without being a tuple."""
    cdef readonly object family
    cdef readonly object route
    cdef readonly object kind
    cdef readonly object old
    cdef readonly object new

    _fields = ("family", "route", "kind", "old", "new")
    __match_args__ = _fields

    def __init__(self, family, route, kind, old, new):
        self.family = family
        self.route = route
        self.kind = kind
        self.old = old
        self.new = new

    def __repr__(self):
        return (f"BestPathChanged(family={self.family!r}, route={self.route!r}, "
                f"kind={self.kind!r}, old={self.old!r}, new={self.new!r})")


cdef inline Path _path(object route, object attrs, object source, object next_hop):
    cdef Path p = Path.__new__(Path)
    p.route = route
    p.attrs = attrs
    p.source = source
    p.next_hop = next_hop
    return p


cdef inline BestPathChanged _change(object family, object route, str kind, object old,
                                    object new):
    cdef BestPathChanged c = BestPathChanged.__new__(BestPathChanged)
    c.family = family
    c.route = route
    c.kind = kind
    c.old = old
    c.new = new
    return c


cdef inline void _untrack_tables(dict fam_in, dict loc):
    """The Adj-RIB-In and Loc-RIB dicts of a family map routes to Paths, and
    neither can refer to a container: the collector would walk (touch) each
    of their million entries for nothing, so they are left untracked, as
    CPython leaves dicts of atomic values.  It tracks them again when a
    route is inserted (it cannot know routes hold no references); each loop
    untracks them when done."""
    PyObject_GC_UnTrack(fam_in)
    PyObject_GC_UnTrack(loc)


def announce(family, dict fam_in not None, dict loc not None, dict cands not None, source,
             routes, attrs, next_hop, list changes not None, add):
    """Add one ``Path(route, attrs, source, next_hop)`` per route of ``routes``,
    appending the ``BestPathChanged`` of each to ``changes``."""
    cdef Py_hash_t h
    cdef PyObject *p
    cdef object old, cur, cur_source
    cdef Path path
    for r in routes:
        h = hash(r)
        path = _path(r, attrs, source, next_hop)
        p = dict_get(loc, r, h)
        if p == NULL:
            # a route the Loc-RIB lacks: whatever the Adj-RIB-In had for it, the
            # Python twin puts the new path in both and reports it added
            dict_set(fam_in, r, path, h)
            dict_set(loc, r, path, h)
            changes.append(_change(family, r, ADDED, None, path))
            continue
        cur = <object>p
        p = dict_get(fam_in, r, h)
        old = <object>p if p != NULL else None
        dict_set(fam_in, r, path, h)
        cur_source = (<Path>cur).source if type(cur) is Path else cur.source
        if cur_source is source and (len(cands) == 0 or dict_get(cands, r, h) == NULL):
            dict_set(loc, r, path, h)   # implicit withdraw of the source's previous (only) path
            changes.append(_change(family, r, CHANGED, cur, path))
        else:
            add(family, loc, cands, r, path, old, changes)
    _untrack_tables(fam_in, loc)


def withdraw(family, dict fam_in not None, dict loc not None, dict cands not None, routes,
             list changes not None, remove):
    """Remove the source's path of every route of ``routes`` (routes it has no
    path for are skipped), appending the ``BestPathChanged`` to ``changes``."""
    cdef Py_hash_t h
    cdef PyObject *p
    cdef object old
    for r in routes:
        h = hash(r)
        p = dict_get(fam_in, r, h)
        if p == NULL:
            continue
        old = <object>p
        dict_del(fam_in, r, h)
        if len(cands) != 0 and dict_get(cands, r, h) != NULL:
            remove(family, loc, cands, r, old, changes)
        elif dict_get(loc, r, h) == <PyObject *>old:   # the only path: no candidate list
            dict_del(loc, r, h)
            changes.append(_change(family, r, WITHDRAWN, old, None))
    _untrack_tables(fam_in, loc)
