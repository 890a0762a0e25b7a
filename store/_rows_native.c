/* Event-store rows in C: the COPY text and hash-chain links of the PostgreSQL adapter (postgres.py).
 *
 * Why: with decoding and the JSON-LD body in C, encoding each row for COPY and hashing it were the largest
 * Python work left per ingested event (~6 us on the consuming thread, and the chain ~6 us on the writer thread
 * while it holds the append lock). These functions write exactly what the Python ones in postgres.py and
 * port.py write (tests/test_rows_native.py compares them on generated rows; `lotline store verify` recomputes
 * every hash in Python):
 *
 *   stage(event) -> (hash_tail, copy_middle)   port.hash_tail and postgres.copy_middle of a NewEvent, both
 *                                              as UTF-8 bytes (the event time as port.utc_text writes it)
 *   chain(prev, position, recorded, staged)    the COPY data of the staged rows placed after `position`
 *     -> (data, last_hash)                     (position + 1, ...) at record time `recorded`, and the hash
 *                                              of the last, each row's hash as port.chain_link computes it
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init and friends: the one-call-per-row API, still in OpenSSL 3 */
#include <openssl/sha.h>
#include <string.h>

#include "_native_text.h"

static int putc1(Buf *b, char c) { return put(b, &c, 1); }

/* The UTF-8 of a str, or NULL with TypeError naming the field. */
static const char *utf8(PyObject *s, Py_ssize_t *n, const char *what) {
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.80s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(s, n);
}

/* One character as COPY's text format needs it (pgcopy.copy_text: backslash, tab, newline, return). */
static int put_copy_char(Buf *b, char c) {
    switch (c) {
        case '\\': return put(b, "\\\\", 2);
        case '\t': return put(b, "\\t", 2);
        case '\n': return put(b, "\\n", 2);
        case '\r': return put(b, "\\r", 2);
        default: return putc1(b, c);
    }
}

static int put_copy(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            if (put(b, s + start, i - start) < 0 || put_copy_char(b, c) < 0) return -1;
            start = i + 1;
        }
    }
    return put(b, s + start, n - start);
}

static int put_copy_str(Buf *b, PyObject *s, const char *what) {
    Py_ssize_t n;
    const char *u = utf8(s, &n, what);
    return u == NULL ? -1 : put_copy(b, u, n);
}

static int put_str(Buf *b, PyObject *s, const char *what) {
    Py_ssize_t n;
    const char *u = utf8(s, &n, what);
    return u == NULL ? -1 : put(b, u, n);
}

static PyObject *utc_text_fn;

/* port.utc_text of a datetime: ISO 8601 in UTC, microseconds only when set; Python's for other zones. */
static int put_utc(Buf *b, PyObject *t) {
    if (is_utc_datetime(t)) {
        char s[40], *o = date_time_text(s, t);
        int us = PyDateTime_DATE_GET_MICROSECOND(t);
        if (us) {
            *o++ = '.';
            o = digits(o, us, 6);
        }
        memcpy(o, "+00:00", 6);
        return put(b, s, o + 6 - s);
    }
    PyObject *text = PyObject_CallOneArg(utc_text_fn, t);
    if (text == NULL) return -1;
    int rc = put_str(b, text, "utc_text()");
    Py_DECREF(text);
    return rc;
}

enum { E_KEY, E_DECL, E_ID, E_TYPE, E_TIME, E_TZ, E_STEP, E_LOTS, E_BODY, E_SOURCE, E_FIELDS };

static const char UNIT = '\x1f';

static PyObject *stage(PyObject *self, PyObject *e) {
    (void)self;
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != E_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "stage() takes a NewEvent");
        return NULL;
    }
    PyObject *f[E_FIELDS];
    for (int i = 0; i < E_FIELDS; i++) f[i] = PyTuple_GET_ITEM(e, i);
    int decl = PyObject_IsTrue(f[E_DECL]);
    if (decl < 0) return NULL;
    Py_ssize_t body_n;
    const char *body = utf8(f[E_BODY], &body_n, "body");
    if (body == NULL) return NULL;
    PyObject *lots = f[E_LOTS], *src = f[E_SOURCE];
    if (!PyTuple_Check(lots)) {
        PyErr_SetString(PyExc_TypeError, "lot_keys must be a tuple");
        return NULL;
    }
    if (src != Py_None && (!PyTuple_Check(src) || PyTuple_GET_SIZE(src) != 3)) {
        PyErr_SetString(PyExc_TypeError, "source must be a SourceRef or None");
        return NULL;
    }
    Buf t, m, when;
    buf_init(&t);
    buf_init(&m);
    buf_init(&when);
    PyObject *out = NULL, *part = NULL, *offset = NULL;
    if (put_utc(&when, f[E_TIME]) < 0) goto done;
    if (src != Py_None) {
        if ((part = PyObject_Str(PyTuple_GET_ITEM(src, 1))) == NULL) goto done;
        if ((offset = PyObject_Str(PyTuple_GET_ITEM(src, 2))) == NULL) goto done;
    }

    /* port.hash_tail */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, (size_t)body_n, digest);
    if (putc1(&t, UNIT) < 0 || put_str(&t, f[E_KEY], "event_key") < 0 || putc1(&t, UNIT) < 0 ||
        putc1(&t, decl ? '1' : '0') < 0 || putc1(&t, UNIT) < 0 ||
        (f[E_ID] != Py_None && put_str(&t, f[E_ID], "event_id") < 0) || putc1(&t, UNIT) < 0 ||
        put_str(&t, f[E_TYPE], "event_type") < 0 || putc1(&t, UNIT) < 0 || put(&t, when.d, when.n) < 0 ||
        putc1(&t, UNIT) < 0 || put_str(&t, f[E_TZ], "event_tz_offset") < 0 || putc1(&t, UNIT) < 0 ||
        (f[E_STEP] != Py_None && put_str(&t, f[E_STEP], "biz_step") < 0) || putc1(&t, UNIT) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lots); i++)
        if ((i && putc1(&t, ',') < 0) || put_str(&t, PyTuple_GET_ITEM(lots, i), "lot key") < 0) goto done;
    if (putc1(&t, UNIT) < 0) goto done;
    if (src != Py_None && (put_str(&t, PyTuple_GET_ITEM(src, 0), "source topic") < 0 || putc1(&t, '|') < 0 ||
                           put_str(&t, part, "partition") < 0 || putc1(&t, '|') < 0 ||
                           put_str(&t, offset, "offset") < 0))
        goto done;
    if (putc1(&t, UNIT) < 0 || buf_reserve(&t, 2 * SHA256_DIGEST_LENGTH) < 0) goto done;
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        t.d[t.n++] = HEX[digest[i] >> 4];
        t.d[t.n++] = HEX[digest[i] & 15];
    }

    /* postgres.copy_middle */
    if (put_copy_str(&m, f[E_KEY], "event_key") < 0 || putc1(&m, '\t') < 0 || putc1(&m, decl ? 't' : 'f') < 0 ||
        putc1(&m, '\t') < 0 ||
        (f[E_ID] == Py_None ? put(&m, "\\N", 2) : put_copy_str(&m, f[E_ID], "event_id")) < 0 ||
        putc1(&m, '\t') < 0 || put_str(&m, f[E_TYPE], "event_type") < 0 || putc1(&m, '\t') < 0 ||
        put(&m, when.d, when.n) < 0 || putc1(&m, '\t') < 0 || put_str(&m, f[E_TZ], "event_tz_offset") < 0 ||
        putc1(&m, '\t') < 0 ||
        (f[E_STEP] == Py_None ? put(&m, "\\N", 2) : put_copy_str(&m, f[E_STEP], "biz_step")) < 0 ||
        putc1(&m, '\t') < 0)
        goto done;
    /* pgcopy.text_array, then copy_text: every element quoted, \ and " escaped inside it */
    if (PyTuple_GET_SIZE(lots) == 0) {
        if (put(&m, "{}", 2) < 0) goto done;
    } else {
        if (putc1(&m, '{') < 0) goto done;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lots); i++) {
            Py_ssize_t n;
            const char *s = utf8(PyTuple_GET_ITEM(lots, i), &n, "lot key");
            if (s == NULL || (i && putc1(&m, ',') < 0) || putc1(&m, '"') < 0) goto done;
            for (Py_ssize_t j = 0; j < n; j++) {
                if ((s[j] == '\\' || s[j] == '"') && put_copy_char(&m, '\\') < 0) goto done;
                if (put_copy_char(&m, s[j]) < 0) goto done;
            }
            if (putc1(&m, '"') < 0) goto done;
        }
        if (putc1(&m, '}') < 0) goto done;
    }
    if (putc1(&m, '\t') < 0) goto done;
    if (src == Py_None) {
        if (put(&m, "\\N\t\\N\t\\N\t", 9) < 0) goto done;
    } else if (put_copy_str(&m, PyTuple_GET_ITEM(src, 0), "source topic") < 0 || putc1(&m, '\t') < 0 ||
               put_str(&m, part, "partition") < 0 || putc1(&m, '\t') < 0 || put_str(&m, offset, "offset") < 0 ||
               putc1(&m, '\t') < 0) {
        goto done;
    }
    if (put_copy(&m, body, body_n) < 0) goto done;

    PyObject *tail = PyBytes_FromStringAndSize(t.d, t.n);
    PyObject *middle = tail == NULL ? NULL : PyBytes_FromStringAndSize(m.d, m.n);
    if (middle != NULL) out = PyTuple_Pack(2, tail, middle);
    Py_XDECREF(tail);
    Py_XDECREF(middle);
done:
    Py_XDECREF(part);
    Py_XDECREF(offset);
    buf_free(&t);
    buf_free(&m);
    buf_free(&when);
    return out;
}

static PyObject *chain(PyObject *self, PyObject *args) {
    (void)self;
    const char *prev_in, *recorded;
    Py_ssize_t prev_n, recorded_n;
    long long position;
    PyObject *staged;
    if (!PyArg_ParseTuple(args, "y#Ls#O!:chain", &prev_in, &prev_n, &position, &recorded, &recorded_n,
                          &PyList_Type, &staged))
        return NULL;
    if (prev_n != SHA256_DIGEST_LENGTH) {
        PyErr_SetString(PyExc_ValueError, "prev must be a 32-byte hash");
        return NULL;
    }
    unsigned char prev[SHA256_DIGEST_LENGTH];
    memcpy(prev, prev_in, sizeof prev);
    Buf b;
    buf_init(&b);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(staged); i++) {
        PyObject *row = PyList_GET_ITEM(staged, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(row, 0)) ||
            !PyBytes_Check(PyTuple_GET_ITEM(row, 1))) {
            buf_free(&b);
            PyErr_SetString(PyExc_TypeError, "chain() takes rows as stage() returns them");
            return NULL;
        }
        PyObject *tail = PyTuple_GET_ITEM(row, 0), *middle = PyTuple_GET_ITEM(row, 1);
        char place[32];
        int place_n = snprintf(place, sizeof place, "%lld", ++position);
        SHA256_CTX ctx;  /* port.chain_link: previous hash, "position\x1frecorded", tail */
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, prev, sizeof prev);
        SHA256_Update(&ctx, place, (size_t)place_n);
        SHA256_Update(&ctx, &UNIT, 1);
        SHA256_Update(&ctx, recorded, (size_t)recorded_n);
        SHA256_Update(&ctx, PyBytes_AS_STRING(tail), (size_t)PyBytes_GET_SIZE(tail));
        SHA256_Final(prev, &ctx);
        /* "{pos}\t{recorded}\t{middle}\t\\x{hash}\n" */
        Py_ssize_t need = place_n + recorded_n + PyBytes_GET_SIZE(middle) + 2 * SHA256_DIGEST_LENGTH + 8;
        if (buf_reserve(&b, need) < 0) {
            buf_free(&b);
            return NULL;
        }
        char *o = b.d + b.n;
        memcpy(o, place, (size_t)place_n), o += place_n;
        *o++ = '\t';
        memcpy(o, recorded, (size_t)recorded_n), o += recorded_n;
        *o++ = '\t';
        memcpy(o, PyBytes_AS_STRING(middle), (size_t)PyBytes_GET_SIZE(middle)), o += PyBytes_GET_SIZE(middle);
        memcpy(o, "\t\\\\x", 4), o += 4;
        for (int j = 0; j < SHA256_DIGEST_LENGTH; j++) {
            *o++ = HEX[prev[j] >> 4];
            *o++ = HEX[prev[j] & 15];
        }
        *o++ = '\n';
        b.n = o - b.d;
    }
    PyObject *data = PyBytes_FromStringAndSize(b.d, b.n);
    buf_free(&b);
    if (data == NULL) return NULL;
    return Py_BuildValue("(Ny#)", data, (const char *)prev, (Py_ssize_t)sizeof prev);
}

static PyObject *configure(PyObject *self, PyObject *fn) {
    (void)self;
    Py_INCREF(fn);
    Py_XSETREF(utc_text_fn, fn);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"stage", stage, METH_O, "stage(event) -> (hash_tail, copy_middle) of a NewEvent, as UTF-8 bytes."},
    {"chain", chain, METH_VARARGS,
     "chain(prev, position, recorded, staged) -> (COPY data, last hash) of staged rows placed after position."},
    {"configure", configure, METH_O, "configure(utc_text): the Python function for times not in UTC."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rows_native", "Event-store COPY rows and hash-chain links, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rows_native(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    return PyModule_Create(&module);
}
