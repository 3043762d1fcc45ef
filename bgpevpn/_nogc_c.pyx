# cython: language_level=3
"""Route classes whose instances carry no garbage-collector header.

CPython gives every class made by a ``class`` statement the GC flag, so
each instance of a ``bytes`` subclass is allocated with a 16-octet GC
header (and, made from Python, tracked): 84 octets for a 35-octet EVPN
route instead of 68, one pymalloc size class more (96 instead of 80).
A packed route (``__slots__ = ()``, no ``__dict__``, no weak references)
holds no reference but to its class, so it can never be part of a
reference cycle the collector would have to break: ``plain_instances``
clears the flag of such a class, before any instance exists, which is
why routes.py calls it as each class is made.
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


def plain_instances(cls):
    """Instances of ``cls`` (a ``bytes`` subclass with ``__slots__ = ()``,
    none made yet) without the GC header; True when done, False when this
    interpreter or class layout is not one where it is known to be safe.
    Usable as a class decorator through routes.py's ``_plain``."""
    return bool(_plain_instances(cls))
