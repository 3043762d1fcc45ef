/* The route objects' own allocator (bgpevpn/_routemem_c.pyx).
 *
 * Why: decoding a million routes makes a million 56-96 octet objects.  In
 * pymalloc they land in 1 MiB arenas that CPython maps anew whenever the
 * previous ones were given back, so a decode of a table pays ~19,000
 * first-touch faults of 4 KiB pages (on the benchmark machine: 24 ms of
 * the C twin's 46 ms a call).  Here the objects come from 2 MiB chunks
 * that the kernel may back with one transparent huge page each
 * (MADV_HUGEPAGE): one fault per 2 MiB (80 MB: 27 ms -> 3.6 ms there).
 *
 * Layout: one address range reserved once (PROT_NONE, no memory), made
 * readable and writable chunk by chunk; a chunk is 128 pages of 16 KiB,
 * the first holding the descriptors of the other 127; a page holds blocks
 * of one size (multiples of 8 octets, up to SLAB_MAX).  Freed blocks go to
 * their page's free list; an empty page goes back to its chunk; an empty
 * chunk is given back to the kernel (MADV_DONTNEED), except one kept for
 * the next allocations (as pymalloc keeps one empty arena), and reused
 * before the range grows.  Whether a
 * pointer is ours is one range check, so objects the slab could not serve
 * (too large, range exhausted, mmap refused) come from PyObject_Malloc and
 * are freed there.
 *
 * Only on 64-bit Linux builds with the GIL (every call runs under it), and
 * not under AddressSanitizer (which must see each object as its own
 * block): elsewhere bgpevpn_slab_alloc always answers NULL.
 */
#ifndef BGPEVPN_SLAB_H
#define BGPEVPN_SLAB_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define BGPEVPN_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BGPEVPN_SLAB_ASAN 1
#endif
#endif

#if defined(__linux__) && SIZEOF_VOID_P == 8 && !defined(Py_GIL_DISABLED) \
        && !defined(BGPEVPN_SLAB_ASAN) && !defined(BGPEVPN_NO_SLAB)
#define BGPEVPN_SLAB 1
#include <sys/mman.h>
#include <sys/resource.h>
#endif

#define SLAB_CHUNK_SHIFT 21                     /* 2 MiB: one huge page */
#define SLAB_CHUNK ((size_t)1 << SLAB_CHUNK_SHIFT)
#define SLAB_PAGE_SHIFT 14                      /* 16 KiB */
#define SLAB_PAGE ((size_t)1 << SLAB_PAGE_SHIFT)
#define SLAB_PAGES (SLAB_CHUNK / SLAB_PAGE)     /* page 0: the chunk's header */
#define SLAB_GRAIN 8
#define SLAB_MAX 512
#define SLAB_CLASSES (SLAB_MAX / SLAB_GRAIN + 1)
#define SLAB_RESERVE ((size_t)16 << 30)        /* ~220 million type-2 routes */
#define SLAB_MAX_CHUNKS (SLAB_RESERVE / SLAB_CHUNK)

typedef struct bgpevpn_slab_page {
    struct bgpevpn_slab_page *next, *prev;  /* its class's pages with room; the
                                              chunk's unused pages (next only) */
    char *free;                             /* blocks given back */
    uint32_t bump;                          /* first block never handed out */
    uint32_t used;                          /* blocks handed out and not freed */
    uint16_t size;                          /* block size; 0: page unused */
    uint8_t clean;                          /* zeros from bump on */
} bgpevpn_slab_page;

typedef struct bgpevpn_slab_chunk {
    struct bgpevpn_slab_chunk *next, *prev; /* chunks with unused pages */
    bgpevpn_slab_page *unused;
    uint32_t nunused;                       /* > 0: in the chunks list */
    bgpevpn_slab_page pages[SLAB_PAGES];    /* pages[0] is this header */
} bgpevpn_slab_chunk;

typedef struct {
    char *base, *top, *end;         /* reserved [base, end); chunks made usable below top */
    int state;                      /* 0 not reserved yet, 1 reserved, -1 refused */
    bgpevpn_slab_page *classes[SLAB_CLASSES];
    bgpevpn_slab_chunk *chunks;     /* chunks with unused pages */
    uint16_t released[SLAB_MAX_CHUNKS]; /* indexes of chunks given back, ready for
                                           reuse (kept outside them: a write into
                                           one would fault its memory back in) */
    bgpevpn_slab_chunk *kept;       /* the one empty chunk not given back */
    Py_ssize_t nchunks, nreleased, npages, nblocks, nbytes;
} bgpevpn_slab_state;

static bgpevpn_slab_state bgpevpn_slab;

typedef char bgpevpn_slab_header_fits[sizeof(bgpevpn_slab_chunk) <= SLAB_PAGE ? 1 : -1];

#ifdef BGPEVPN_SLAB

/* SLAB_RESERVE of address space, or a quarter of RLIMIT_AS when that is
   set (the reservation counts against it though it holds no memory; the
   rest of the process keeps three quarters); half as much while mmap
   refuses, down to 64 MiB.  Beyond it objects come from pymalloc. */
static int bgpevpn_slab_reserve(void) {
    size_t size = SLAB_RESERVE;
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
            && lim.rlim_cur / 4 < size)
        size = (size_t)(lim.rlim_cur / 4) & ~(SLAB_CHUNK - 1);
    for (; size >= ((size_t)64 << 20); size = (size / 2) & ~(SLAB_CHUNK - 1)) {
        void *p = mmap(NULL, size + SLAB_CHUNK, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            uintptr_t a = ((uintptr_t)p + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1);
            bgpevpn_slab.base = bgpevpn_slab.top = (char *)a;
            bgpevpn_slab.end = (char *)a + size;
            return 1;
        }
    }
    return -1;
}

static void bgpevpn_slab_link_chunk(bgpevpn_slab_chunk *c) {
    c->prev = NULL;
    c->next = bgpevpn_slab.chunks;
    if (c->next) c->next->prev = c;
    bgpevpn_slab.chunks = c;
}

static void bgpevpn_slab_unlink_chunk(bgpevpn_slab_chunk *c) {
    if (c->prev) c->prev->next = c->next; else bgpevpn_slab.chunks = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* A chunk's header over zeroed memory (fresh or given back): every page
   unused and clean. */
static void bgpevpn_slab_init_chunk(bgpevpn_slab_chunk *c) {
    size_t i;
    c->unused = NULL;
    for (i = SLAB_PAGES - 1; i >= 1; i--) {
        c->pages[i].next = c->unused;
        c->pages[i].clean = 1;
        c->unused = &c->pages[i];
    }
    c->nunused = SLAB_PAGES - 1;
    bgpevpn_slab_link_chunk(c);
}

static bgpevpn_slab_chunk *bgpevpn_slab_new_chunk(void) {
    bgpevpn_slab_chunk *c;
    if (bgpevpn_slab.state == 0) bgpevpn_slab.state = bgpevpn_slab_reserve();
    if (bgpevpn_slab.state < 0) return NULL;
    if (bgpevpn_slab.nreleased > 0) {
        size_t i = bgpevpn_slab.released[--bgpevpn_slab.nreleased];
        c = (bgpevpn_slab_chunk *)(bgpevpn_slab.base + (i << SLAB_CHUNK_SHIFT));
    } else {
        if (bgpevpn_slab.end - bgpevpn_slab.top < (ptrdiff_t)SLAB_CHUNK) return NULL;
        c = (bgpevpn_slab_chunk *)bgpevpn_slab.top;
        if (mprotect(c, SLAB_CHUNK, PROT_READ | PROT_WRITE) != 0) {
            bgpevpn_slab.end = bgpevpn_slab.top;    /* (RLIMIT_DATA): grow no further */
            return NULL;
        }
#ifdef MADV_HUGEPAGE
        (void)madvise(c, SLAB_CHUNK, MADV_HUGEPAGE);   /* a hint: 4 KiB pages otherwise */
#endif
        bgpevpn_slab.top += SLAB_CHUNK;
    }
    bgpevpn_slab.nchunks++;
    bgpevpn_slab_init_chunk(c);
    return c;
}

/* The last page of c went unused: keep c for the next allocations if no
   other empty chunk is kept, else give its memory back. */
static void bgpevpn_slab_chunk_empty(bgpevpn_slab_chunk *c) {
    if (bgpevpn_slab.kept == NULL) {
        bgpevpn_slab.kept = c;
        return;
    }
    /* unlinked first: no write may touch c once its memory is given back */
    bgpevpn_slab_unlink_chunk(c);
    if (madvise(c, SLAB_CHUNK, MADV_DONTNEED) != 0) {
        /* refused (locked memory, mlockall): c stays an empty chunk, whose
           pages were all marked dirty as they went unused */
        bgpevpn_slab_link_chunk(c);
        return;
    }
    /* reads as zeros from now on */
    bgpevpn_slab.released[bgpevpn_slab.nreleased++] =
        (uint16_t)(((char *)c - bgpevpn_slab.base) >> SLAB_CHUNK_SHIFT);
    bgpevpn_slab.nchunks--;
}

static inline char *bgpevpn_slab_page_start(bgpevpn_slab_page *p) {
    bgpevpn_slab_chunk *c = (bgpevpn_slab_chunk *)((uintptr_t)p & ~(uintptr_t)(SLAB_CHUNK - 1));
    return (char *)c + ((size_t)(p - c->pages) << SLAB_PAGE_SHIFT);
}

/* A page is in its class's list exactly while it has room: a freed block
   or space past bump. */
static inline int bgpevpn_slab_page_full(const bgpevpn_slab_page *p) {
    return p->free == NULL && p->bump + p->size > SLAB_PAGE;
}

static void bgpevpn_slab_link_page(bgpevpn_slab_page *p) {
    bgpevpn_slab_page **head = &bgpevpn_slab.classes[p->size / SLAB_GRAIN];
    p->prev = NULL;
    p->next = *head;
    if (p->next) p->next->prev = p;
    *head = p;
}

static void bgpevpn_slab_unlink_page(bgpevpn_slab_page *p) {
    if (p->prev) p->prev->next = p->next;
    else bgpevpn_slab.classes[p->size / SLAB_GRAIN] = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

static bgpevpn_slab_page *bgpevpn_slab_new_page(size_t size) {
    bgpevpn_slab_chunk *c = bgpevpn_slab.chunks;
    bgpevpn_slab_page *p;
    if (c == NULL && (c = bgpevpn_slab_new_chunk()) == NULL) return NULL;
    p = c->unused;
    c->unused = p->next;
    if (--c->nunused == 0) bgpevpn_slab_unlink_chunk(c);
    if (bgpevpn_slab.kept == c) bgpevpn_slab.kept = NULL;
    p->free = NULL;
    p->bump = 0;
    p->used = 0;
    p->size = (uint16_t)size;
    bgpevpn_slab_link_page(p);
    bgpevpn_slab.npages++;
    return p;
}

/* A block of at least n octets, or NULL when the slab cannot serve it
   (the caller then uses PyObject_Malloc).  *zeroed tells whether the
   block already reads as zeros. */
static void *bgpevpn_slab_alloc(size_t n, int *zeroed) {
    size_t size = (n + SLAB_GRAIN - 1) & ~(size_t)(SLAB_GRAIN - 1);
    bgpevpn_slab_page *p;
    char *b;
    if (size == 0 || size > SLAB_MAX) return NULL;
    p = bgpevpn_slab.classes[size / SLAB_GRAIN];
    if (p == NULL && (p = bgpevpn_slab_new_page(size)) == NULL) return NULL;
    if (p->free != NULL) {
        b = p->free;
        p->free = *(char **)b;
        *zeroed = 0;
    } else {
        b = bgpevpn_slab_page_start(p) + p->bump;
        p->bump += (uint32_t)size;
        *zeroed = p->clean;
    }
    p->used++;
    if (bgpevpn_slab_page_full(p)) bgpevpn_slab_unlink_page(p);
    bgpevpn_slab.nblocks++;
    bgpevpn_slab.nbytes += (Py_ssize_t)size;
    return b;
}

/* Gives b back and answers 1 if the slab made it, else answers 0. */
static int bgpevpn_slab_free(void *b) {
    char *q = (char *)b;
    bgpevpn_slab_chunk *c;
    bgpevpn_slab_page *p;
    if (q < bgpevpn_slab.base || q >= bgpevpn_slab.top) return 0;
    c = (bgpevpn_slab_chunk *)((uintptr_t)q & ~(uintptr_t)(SLAB_CHUNK - 1));
    p = &c->pages[(size_t)(q - (char *)c) >> SLAB_PAGE_SHIFT];
    bgpevpn_slab.nblocks--;
    bgpevpn_slab.nbytes -= p->size;
    if (--p->used != 0) {
        if (bgpevpn_slab_page_full(p)) bgpevpn_slab_link_page(p);
        *(char **)q = p->free;
        p->free = q;
        return 1;
    }
    /* the page's last block: the page goes back to its chunk, dirty */
    if (!bgpevpn_slab_page_full(p)) bgpevpn_slab_unlink_page(p);
    p->size = 0;
    p->free = NULL;
    p->clean = 0;
    p->next = c->unused;
    c->unused = p;
    bgpevpn_slab.npages--;
    if (c->nunused++ == 0) bgpevpn_slab_link_chunk(c);
    if (c->nunused == SLAB_PAGES - 1) bgpevpn_slab_chunk_empty(c);
    return 1;
}

static int bgpevpn_slab_zero(const char *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

/* Checks every chunk in use against the counters and lists (not the
   released ones: reading them would fault their memory back in) and that
   memory marked clean reads as zeros.  0 when all holds, else -1 with the
   first inconsistency described in msg. */
static int bgpevpn_slab_check(char *msg, size_t len) {
    static uint8_t released[SLAB_MAX_CHUNKS];
    Py_ssize_t chunks = 0, pages = 0, blocks = 0, octets = 0, i, k;
    Py_ssize_t with_room = 0, roomy_chunks = 0, listed;
    bgpevpn_slab_chunk *lc;
    bgpevpn_slab_page *lp;
    char *q;
    msg[0] = 0;
    if (bgpevpn_slab.state != 1) return 0;
    memset(released, 0, sizeof released);
    for (i = 0; i < bgpevpn_slab.nreleased; i++) released[bgpevpn_slab.released[i]] = 1;
    for (q = bgpevpn_slab.base; q < bgpevpn_slab.top; q += SLAB_CHUNK) {
        bgpevpn_slab_chunk *c = (bgpevpn_slab_chunk *)q;
        bgpevpn_slab_page *u;
        Py_ssize_t unused = 0, onlist = 0;
        if (released[(q - bgpevpn_slab.base) >> SLAB_CHUNK_SHIFT]) continue;
        chunks++;
        for (u = c->unused; u != NULL && onlist <= (Py_ssize_t)SLAB_PAGES; u = u->next) onlist++;
        for (k = 1; k < (Py_ssize_t)SLAB_PAGES; k++) {
            bgpevpn_slab_page *p = &c->pages[k];
            char *start = q + ((size_t)k << SLAB_PAGE_SHIFT), *f;
            Py_ssize_t nfree = 0;
            if (p->size == 0) {
                unused++;
                if (p->clean && !bgpevpn_slab_zero(start, SLAB_PAGE)) {
                    PyOS_snprintf(msg, len, "unused clean page %p is not zero", start);
                    return -1;
                }
                continue;
            }
            pages++;
            if (p->size % SLAB_GRAIN || p->size > SLAB_MAX || p->bump % p->size
                    || p->bump > SLAB_PAGE) {
                PyOS_snprintf(msg, len, "page %p: size %u bump %u", start,
                              (unsigned)p->size, (unsigned)p->bump);
                return -1;
            }
            for (f = p->free; f != NULL; f = *(char **)f) {
                if (f < start || f >= start + p->bump || (f - start) % p->size
                        || ++nfree > (Py_ssize_t)(p->bump / p->size)) {
                    PyOS_snprintf(msg, len, "page %p: bad free list", start);
                    return -1;
                }
            }
            if (nfree + (Py_ssize_t)p->used != (Py_ssize_t)(p->bump / p->size) || p->used == 0) {
                PyOS_snprintf(msg, len, "page %p: %u used, %zd free, %u bumped", start,
                              (unsigned)p->used, nfree, (unsigned)(p->bump / p->size));
                return -1;
            }
            with_room += !bgpevpn_slab_page_full(p);
            if (p->clean && !bgpevpn_slab_zero(start + p->bump, SLAB_PAGE - p->bump)) {
                PyOS_snprintf(msg, len, "clean page %p is not zero past its blocks", start);
                return -1;
            }
            blocks += p->used;
            octets += (Py_ssize_t)p->used * p->size;
        }
        if (unused != (Py_ssize_t)c->nunused || onlist != unused) {
            PyOS_snprintf(msg, len, "chunk %p: %zd unused pages, %u counted, %zd on its list",
                          q, unused, (unsigned)c->nunused, onlist);
            return -1;
        }
        roomy_chunks += unused > 0;
    }
    /* the lists hold exactly the pages with room and the chunks with unused pages */
    for (listed = 0, i = 0; i < SLAB_CLASSES; i++) {
        for (lp = bgpevpn_slab.classes[i]; lp != NULL && listed <= pages; lp = lp->next) {
            listed++;
            if (lp->size != i * SLAB_GRAIN || bgpevpn_slab_page_full(lp)) {
                PyOS_snprintf(msg, len, "page of %u octets, full %d, on the list of %zd",
                              (unsigned)lp->size, bgpevpn_slab_page_full(lp), i * SLAB_GRAIN);
                return -1;
            }
        }
    }
    if (listed != with_room) {
        PyOS_snprintf(msg, len, "%zd pages with room, %zd on the class lists", with_room, listed);
        return -1;
    }
    for (listed = 0, lc = bgpevpn_slab.chunks; lc != NULL && listed <= chunks; lc = lc->next) {
        listed++;
        if (lc->nunused == 0) {
            PyOS_snprintf(msg, len, "chunk %p without unused pages on the chunk list", lc);
            return -1;
        }
    }
    if (listed != roomy_chunks) {
        PyOS_snprintf(msg, len, "%zd chunks with unused pages, %zd on the chunk list",
                      roomy_chunks, listed);
        return -1;
    }
    if (chunks != bgpevpn_slab.nchunks || pages != bgpevpn_slab.npages
            || blocks != bgpevpn_slab.nblocks || octets != bgpevpn_slab.nbytes) {
        PyOS_snprintf(msg, len, "counted %zd chunks %zd pages %zd blocks %zd octets, recorded "
                      "%zd %zd %zd %zd", chunks, pages, blocks, octets, bgpevpn_slab.nchunks,
                      bgpevpn_slab.npages, bgpevpn_slab.nblocks, bgpevpn_slab.nbytes);
        return -1;
    }
    return 0;
}

#else  /* no slab on this build: everything from pymalloc */

static int bgpevpn_slab_check(char *msg, size_t len) {
    (void)len;
    msg[0] = 0;
    return 0;
}

static void *bgpevpn_slab_alloc(size_t n, int *zeroed) {
    (void)n; (void)zeroed;
    return NULL;
}

static int bgpevpn_slab_free(void *b) {
    (void)b;
    return 0;
}

#endif

/* tp_alloc of a route class: what PyType_GenericAlloc gives (zeroed
   memory, the type referenced, size set), for a bytes subclass whose
   basic size already holds the terminating NUL (no extra sentinel item). */
static PyObject *bgpevpn_slab_tp_alloc(PyTypeObject *t, Py_ssize_t nitems) {
    size_t n;
    int zeroed = 0;
    void *m;
    if (nitems < 0 || nitems > PY_SSIZE_T_MAX - t->tp_basicsize - SLAB_GRAIN)
        return PyErr_NoMemory();
    n = (size_t)t->tp_basicsize + (size_t)nitems;
    m = bgpevpn_slab_alloc(n, &zeroed);
    if (m == NULL && (m = PyObject_Malloc(n)) == NULL) return PyErr_NoMemory();
    if (!zeroed) memset(m, 0, n);
    return (PyObject *)PyObject_InitVar((PyVarObject *)m, t, nitems);
}

static void bgpevpn_slab_tp_free(void *o) {
    if (!bgpevpn_slab_free(o)) PyObject_Free(o);
}

#endif
