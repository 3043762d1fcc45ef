# cython: language_level=3, boundscheck=False, wraparound=False
"""The RIB's per-route loops, C twin of ``_update_py.py``: the same two
functions with the same arguments, the same table updates and the same
``BestPathChanged`` lists (tests/test_rib_twins.py checks it).

What differs is only how the work is done:

* the route is hashed once per route, and the tables are probed with that
  hash (``_PyDict_*_KnownHash``, CPython 3.9-3.12; the public dict API,
  which hashes again, elsewhere);
* the ``Path`` and ``BestPathChanged`` NamedTuples are allocated directly
  (``tp_alloc`` of their class, items set in place), as ``tuple.__new__``
  would make them;
* every ``Path`` and ``BestPathChanged`` is untracked by the cyclic garbage
  collector as soon as it is made.  A Path is an immutable tuple of (route,
  attributes, source, next hop), a change one of (family, route, kind, old
  path, new path): it can be part of a reference cycle only if one of its
  items refers back to it, which none of bgpevpn's objects do.  CPython
  itself untracks exact tuples whose items cannot form cycles; it does not
  look at tuple subclasses, so these loops do it.  Without it, a table of a
  million paths is a million objects that every full collection walks, and
  the changes of each bulk update, alive when the collector runs right after
  it, are promoted to the oldest generation by the thousand, which is what
  triggers those full collections (docs/performance.md, "Where the time
  goes").  Untracking changes nothing else: both are freed by reference
  counting as any tuple.
"""
from cpython.object cimport PyObject, PyTypeObject

from ._types import BestPathChanged, Path

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

    /* An instance of the tuple subclass t holding the n items (new
       references taken): what tuple.__new__(t, items) makes.  untrack:
       leave it untracked by the cyclic collector. */
    static PyObject *bgpevpn_rib_tuple(PyTypeObject *t, Py_ssize_t n, PyObject **items,
                                       int untrack) {
        Py_ssize_t i;
        PyObject *o = t->tp_alloc(t, n);
        if (o == NULL) return NULL;
        for (i = 0; i < n; i++) {
            Py_INCREF(items[i]);
            PyTuple_SET_ITEM(o, i, items[i]);
        }
        if (untrack) PyObject_GC_UnTrack(o);
        return o;
    }
    static PyObject *bgpevpn_rib_path(PyTypeObject *t, PyObject *route, PyObject *attrs,
                                      PyObject *source, PyObject *next_hop) {
        PyObject *items[4] = {route, attrs, source, next_hop};
        return bgpevpn_rib_tuple(t, 4, items, 1);
    }
    static PyObject *bgpevpn_rib_change(PyTypeObject *t, PyObject *family, PyObject *route,
                                        PyObject *kind, PyObject *old, PyObject *new_) {
        PyObject *items[5] = {family, route, kind, old, new_};
        return bgpevpn_rib_tuple(t, 5, items, 1);
    }
    """
    PyObject *dict_get "bgpevpn_rib_get"(object d, object k, Py_hash_t h) except? NULL
    int dict_set "bgpevpn_rib_set"(object d, object k, object v, Py_hash_t h) except -1
    int dict_del "bgpevpn_rib_del"(object d, object k, Py_hash_t h) except -1
    object new_path "bgpevpn_rib_path"(PyTypeObject *t, object route, object attrs,
                                       object source, object next_hop)
    object new_change "bgpevpn_rib_change"(PyTypeObject *t, object family, object route,
                                           object kind, object old, object new)

# the classes must be tuple subclasses with exactly these fields (tp_alloc and
# PyTuple_SET_ITEM rely on it)
assert issubclass(Path, tuple) and Path._fields == ("route", "attrs", "source", "next_hop")
assert issubclass(BestPathChanged, tuple) and len(BestPathChanged._fields) == 5

cdef PyTypeObject *PATH = <PyTypeObject *>Path
cdef PyTypeObject *CHANGE = <PyTypeObject *>BestPathChanged
cdef object _keep = (Path, BestPathChanged)   # the two pointers above stay valid
cdef str ADDED = "added"
cdef str CHANGED = "changed"
cdef str WITHDRAWN = "withdrawn"


def announce(family, dict fam_in not None, dict loc not None, dict cands not None, source,
             routes, attrs, next_hop, list changes not None, add):
    """Add one ``Path(route, attrs, source, next_hop)`` per route of ``routes``,
    appending the ``BestPathChanged`` of each to ``changes``."""
    cdef Py_hash_t h
    cdef PyObject *p
    cdef object path, old, cur
    for r in routes:
        h = hash(r)
        path = new_path(PATH, r, attrs, source, next_hop)
        p = dict_get(fam_in, r, h)
        old = <object>p if p != NULL else None
        dict_set(fam_in, r, path, h)
        p = dict_get(loc, r, h)
        if p == NULL:
            dict_set(loc, r, path, h)
            changes.append(new_change(CHANGE, family, r, ADDED, None, path))
            continue
        cur = <object>p
        if cur.source is source and (len(cands) == 0 or dict_get(cands, r, h) == NULL):
            dict_set(loc, r, path, h)   # implicit withdraw of the source's previous (only) path
            changes.append(new_change(CHANGE, family, r, CHANGED, cur, path))
        else:
            add(family, loc, cands, r, path, old, changes)


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
            changes.append(new_change(CHANGE, family, r, WITHDRAWN, old, None))
