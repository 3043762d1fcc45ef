# cython: language_level=3
"""The memory of route objects: no garbage-collector header, their own allocator.

No GC header.  CPython gives every class made by a ``class`` statement the
GC flag, so each instance of a ``bytes`` subclass is allocated with a
16-octet GC header (and, made from Python, tracked): 84 octets for a
35-octet EVPN route instead of 68, one pymalloc size class more (96
instead of 80).  A packed route (``__slots__ = ()``, no ``__dict__``, no
weak references) holds no reference but to its class, so it can never be
part of a reference cycle the collector would have to break:
``plain_instances`` clears the flag of such a class, before any instance
exists, which is why routes.py calls it as each class is made.

Own allocator.  ``slab_instances`` then makes the class allocate its
instances from ``_slab.h``: blocks in 8-octet steps (a 39-octet type-2
route takes 72 octets, not pymalloc's 80) in 2 MiB chunks the kernel may
back with transparent huge pages, so a million new routes cost ~40
page faults instead of ~19,000.  Both twins' routes come from it (the
Python twin makes them with ``bytes.__new__``, which calls the class's
``tp_alloc``).  ``slab_stats`` tells what it holds.
"""

cdef extern from *:
    """
    /* Clear Py_TPFLAGS_HAVE_GC of the heap type t, whose instances then are
       allocated and freed without the GC header.  Only for the layout
       checked here: a class made by a class statement, deriving from a
       base without GC, adding no __dict__, no __weakref__ and no slot, and
       freed by the generic functions (subtype_dealloc then takes its
       non-GC path).  1 done, 0 left as it is (another layout or build). */
    static int bgpevpn_plain_instances(PyObject *o) {
    #if defined(Py_GIL_DISABLED) || PY_VERSION_HEX >= 0x030E0000
        (void)o;
        return 0;
    #else
        PyTypeObject *t = (PyTypeObject *)o;
        PyTypeObject *b = t->tp_base;
        if (!PyType_Check(o) || !(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || b == NULL
                || !(t->tp_flags & Py_TPFLAGS_HAVE_GC) || (b->tp_flags & Py_TPFLAGS_HAVE_GC)
                || t->tp_dictoffset != 0 || t->tp_weaklistoffset != 0
                || t->tp_basicsize != b->tp_basicsize || t->tp_itemsize != b->tp_itemsize
                || t->tp_free != PyObject_GC_Del)
            return 0;
    #ifdef Py_TPFLAGS_MANAGED_DICT
        if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) return 0;
    #endif
    #ifdef Py_TPFLAGS_MANAGED_WEAKREF
        if (t->tp_flags & Py_TPFLAGS_MANAGED_WEAKREF) return 0;
    #endif
        t->tp_flags &= ~Py_TPFLAGS_HAVE_GC;
        t->tp_free = PyObject_Free;
        t->tp_traverse = NULL;
        t->tp_clear = NULL;
        PyType_Modified(t);
        return 1;
    #endif
    }
    """
    int _plain_instances "bgpevpn_plain_instances"(object cls)


cdef extern from "_slab.h":
    """
    /* Route class t (made plain above: no GC, freed by PyObject_Free, a
       bytes subclass adding nothing) allocates from the slab.  1 done, 0
       left as it is. */
    static int bgpevpn_slab_instances(PyObject *o) {
        PyTypeObject *t = (PyTypeObject *)o;
        if (!PyType_Check(o) || !(t->tp_flags & Py_TPFLAGS_HEAPTYPE)
                || (t->tp_flags & Py_TPFLAGS_HAVE_GC)
                || !PyType_IsSubtype(t, &PyBytes_Type)
                || t->tp_basicsize != PyBytes_Type.tp_basicsize || t->tp_itemsize != 1
                || t->tp_alloc != PyType_GenericAlloc || t->tp_free != PyObject_Free)
            return 0;
        t->tp_alloc = bgpevpn_slab_tp_alloc;
        t->tp_free = bgpevpn_slab_tp_free;
        PyType_Modified(t);
        return 1;
    }
    #ifdef BGPEVPN_SLAB
    #define BGPEVPN_SLAB_BUILT 1
    #else
    #define BGPEVPN_SLAB_BUILT 0
    #endif
    """
    int _slab_instances "bgpevpn_slab_instances"(object cls)
    int SLAB_BUILT "BGPEVPN_SLAB_BUILT"
    ctypedef struct slab_state "bgpevpn_slab_state":
        char *base
        char *top
        char *end
        int state
        Py_ssize_t nchunks, nreleased, npages, nblocks, nbytes
    slab_state slab "bgpevpn_slab"
    size_t SLAB_CHUNK, SLAB_PAGE, SLAB_MAX
    int _slab_check "bgpevpn_slab_check"(char *msg, size_t n)


def plain_instances(cls):
    """Instances of ``cls`` (a ``bytes`` subclass with ``__slots__ = ()``,
    none made yet) without the GC header; True when done, False when this
    interpreter or class layout is not one where it is known to be safe.
    Usable as a class decorator through routes.py's ``_plain``."""
    return bool(_plain_instances(cls))


def slab_instances(cls):
    """Instances of ``cls`` (made plain by ``plain_instances``, none made
    yet) from the route slab; True when done, False for another layout.
    On builds without the slab (not 64-bit Linux, AddressSanitizer) the
    class still takes the slab's functions, which then use pymalloc."""
    return bool(_slab_instances(cls))


def slab_stats():
    """What the route slab holds now: ``built`` (whether this build has it),
    ``reserved`` (octets of address space, 0 until the first route),
    ``chunks`` (2 MiB chunks in use or kept), ``released_chunks`` (given
    back to the kernel, ready for reuse), ``pages`` (16 KiB pages in use),
    ``blocks`` and ``block_bytes`` (objects alive and their octets)."""
    return {"built": bool(SLAB_BUILT),
            "reserved": <Py_ssize_t>(slab.end - slab.base) if slab.state == 1 else 0,
            "chunk_size": SLAB_CHUNK, "page_size": SLAB_PAGE, "max_block": SLAB_MAX,
            "chunks": slab.nchunks, "released_chunks": slab.nreleased,
            "pages": slab.npages, "blocks": slab.nblocks, "block_bytes": slab.nbytes}


def slab_check():
    """Walk the route slab and check its lists and counters against each
    other, and that memory it will hand out as zeroed reads as zeros;
    raises RuntimeError naming the first inconsistency.  For tests and
    debugging: it reads every page in use."""
    cdef char msg[256]
    if _slab_check(msg, sizeof(msg)) != 0:
        raise RuntimeError("route slab: " + msg.decode("ascii", "replace"))
