/* Text helpers shared by Lotline's C modules (schemas/_wire_native.c, consumers/store/_rows_native.c).
 * Include after <Python.h>, <datetime.h> and <string.h>, with PyDateTime_IMPORT done in the module's init. */
#ifndef LOTLINE_NATIVE_TEXT_H
#define LOTLINE_NATIVE_TEXT_H

/* A growing output buffer: the first 2 KB on the stack (one event's row or body fits), then the heap.
 * buf_init before use, buf_free after; put and buf_reserve set MemoryError and return -1 when out of memory. */
typedef struct {
    char *d;
    Py_ssize_t n, cap;
    char local[2048];
} Buf;

static inline void buf_init(Buf *b) {
    b->d = b->local;
    b->n = 0;
    b->cap = (Py_ssize_t)sizeof b->local;
}

static inline void buf_free(Buf *b) {
    if (b->d != b->local) PyMem_Free(b->d);
}

static inline int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->n + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap;
    while (cap < b->n + extra) cap *= 2;
    char *d = b->d == b->local ? PyMem_Malloc((size_t)cap) : PyMem_Realloc(b->d, (size_t)cap);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->d == b->local) memcpy(d, b->local, (size_t)b->n);
    b->d = d;
    b->cap = cap;
    return 0;
}

static inline int put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->d + b->n, s, (size_t)n);
    b->n += n;
    return 0;
}

static const char HEX[] = "0123456789abcdef";

/* `value` as `width` decimal digits, zero-padded, at `o`; returns the end (snprintf costs ~4K instructions
 * for a timestamp). */
static inline char *digits(char *o, long value, int width) {
    for (int i = width - 1; i >= 0; i--, value /= 10) o[i] = (char)('0' + value % 10);
    return o + width;
}

/* "YYYY-MM-DDTHH:MM:SS" of a datetime at `o` (19 bytes); returns the end. */
static inline char *date_time_text(char *o, PyObject *t) {
    o = digits(o, PyDateTime_GET_YEAR(t), 4);
    *o++ = '-';
    o = digits(o, PyDateTime_GET_MONTH(t), 2);
    *o++ = '-';
    o = digits(o, PyDateTime_GET_DAY(t), 2);
    *o++ = 'T';
    o = digits(o, PyDateTime_DATE_GET_HOUR(t), 2);
    *o++ = ':';
    o = digits(o, PyDateTime_DATE_GET_MINUTE(t), 2);
    *o++ = ':';
    return digits(o, PyDateTime_DATE_GET_SECOND(t), 2);
}

/* Whether `t` is a datetime in the UTC singleton zone, the one the Avro decoder gives (others go to Python). */
static inline int is_utc_datetime(PyObject *t) {
    return t != NULL && PyDateTime_CheckExact(t) && PyDateTime_DATE_GET_TZINFO(t) == PyDateTime_TimeZone_UTC;
}

#endif
