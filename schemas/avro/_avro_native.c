/* A schema-driven Avro binary decoder in C: the native counterpart of schemas/avro/reader.py.
 *
 * Why: ingest decodes every message, and on a slow core even the generated Python decoder costs ~35 us for
 * an EPCIS event, half of ingest's Python time per event. This module walks a *program* that
 * schemas/avro/native.py builds once per schema -- nested tuples, one per schema node -- and returns
 * exactly what fastavro.schemaless_reader returns (tests compare the three decoders on every type, on
 * generated events, and on broken bytes).
 *
 * A node is a tuple (kind, min_width, a, b):
 *   kind       one of the K_* codes below;
 *   min_width  the fewest bytes one value of the node takes (bounds array and map counts);
 *   a, b       per kind: ENUM a = symbols; ARRAY and MAP a = item node, b = the fewest bytes one item of a
 *              block takes; UNION a = branch nodes; RECORD a = field names, b = field nodes.
 *
 * Bad input raises ValueError (or UnicodeDecodeError, OverflowError) and never reads past the buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>

enum {
    K_NULL = 0, K_BOOLEAN = 1, K_LONG = 2, K_FLOAT = 3, K_DOUBLE = 4, K_STRING = 5, K_BYTES = 6,
    K_ENUM = 7, K_ARRAY = 8, K_MAP = 9, K_UNION = 10, K_RECORD = 11, K_TS_MICROS = 12, K_TS_MILLIS = 13,
};

/* A block of zero-width items (nulls) may not claim more items than this. */
#define MAX_ZERO_WIDTH_ITEMS (1 << 24)

typedef struct {
    const unsigned char *d;
    Py_ssize_t n;
    Py_ssize_t p;
} Reader;

static PyObject *epoch;  /* 1970-01-01T00:00:00+00:00 */

static int truncated(void) {
    PyErr_SetString(PyExc_ValueError, "record is truncated");
    return -1;
}

static int read_long(Reader *r, int64_t *out) {
    uint64_t n = 0;
    int shift = 0;
    for (;;) {
        if (r->p >= r->n) return truncated();
        unsigned char b = r->d[r->p++];
        n |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) break;
        shift += 7;
        if (shift > 63) {
            PyErr_SetString(PyExc_ValueError, "varint longer than 10 bytes");
            return -1;
        }
    }
    *out = (int64_t)((n >> 1) ^ (0 - (n & 1)));
    return 0;
}

/* The index a one-byte zig-zag varint encodes (unions, enums), or -1 after setting the error. */
static Py_ssize_t read_index(Reader *r, Py_ssize_t size, const char *what) {
    if (r->p >= r->n) return truncated();
    unsigned char b = r->d[r->p++];
    Py_ssize_t index = b >> 1;
    if ((b & 0x81) || index >= size) {
        if (b & 0x80)
            PyErr_Format(PyExc_ValueError, "%s index beyond 63 out of range", what);
        else
            PyErr_Format(PyExc_ValueError, "%s index %zd out of range", what, (b & 1) ? -index - 1 : index);
        return -1;
    }
    return index;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static PyObject *timestamp(int64_t count, int64_t per_second) {
    int64_t per_day = per_second * 86400;
    int64_t days = floor_div(count, per_day);
    int64_t rem = count - days * per_day;
    int64_t seconds = rem / per_second;
    int64_t micros = (rem % per_second) * (1000000 / per_second);
    if (days > 999999999 || days < -999999999) {
        PyErr_SetString(PyExc_OverflowError, "timestamp out of range");
        return NULL;
    }
    PyObject *delta = PyDelta_FromDSU((int)days, (int)seconds, (int)micros);
    if (delta == NULL) return NULL;
    PyObject *when = PyNumber_Add(epoch, delta);
    Py_DECREF(delta);
    return when;
}

static PyObject *decode_node(Reader *r, PyObject *node);

/* Arrays and maps: blocks of `count` items (a negative count is followed by the block's byte size), ending
 * with a zero count. */
static int read_count(Reader *r, PyObject *node, int64_t *count) {
    if (read_long(r, count) < 0) return -1;
    if (*count < 0) {
        int64_t size;
        if (*count == INT64_MIN) return truncated();
        *count = -*count;
        if (read_long(r, &size) < 0) return -1;
    }
    Py_ssize_t width = PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 3));
    if (width > 0) {
        if (*count > (r->n - r->p) / width) return truncated();
    } else if (*count > MAX_ZERO_WIDTH_ITEMS) {
        PyErr_SetString(PyExc_ValueError, "block claims too many items");
        return -1;
    }
    return 0;
}

static PyObject *decode_string(Reader *r);

/* An array (a list) or a map (a dict keyed by strings), block by block. */
static PyObject *decode_block(Reader *r, PyObject *node, int is_map) {
    PyObject *item = PyTuple_GET_ITEM(node, 2);
    PyObject *out = is_map ? PyDict_New() : PyList_New(0);
    if (out == NULL) return NULL;
    for (;;) {
        int64_t count;
        if (read_count(r, node, &count) < 0) goto fail;
        if (count == 0) break;
        for (int64_t i = 0; i < count; i++) {
            PyObject *key = NULL;
            if (is_map && (key = decode_string(r)) == NULL) goto fail;
            PyObject *value = decode_node(r, item);
            int rc = value == NULL ? -1 : is_map ? PyDict_SetItem(out, key, value) : PyList_Append(out, value);
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (rc < 0) goto fail;
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static int read_length(Reader *r, int64_t *length) {
    if (read_long(r, length) < 0) return -1;
    if (*length < 0) {
        PyErr_SetString(PyExc_ValueError, "negative length");
        return -1;
    }
    if (*length > r->n - r->p) return truncated();
    return 0;
}

static PyObject *decode_string(Reader *r) {
    int64_t length;
    if (read_length(r, &length) < 0) return NULL;
    PyObject *s = PyUnicode_DecodeUTF8((const char *)r->d + r->p, (Py_ssize_t)length, NULL);
    r->p += (Py_ssize_t)length;
    return s;
}

static PyObject *decode_record(Reader *r, PyObject *node) {
    PyObject *names = PyTuple_GET_ITEM(node, 2);
    PyObject *fields = PyTuple_GET_ITEM(node, 3);
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    PyObject *dict = PyDict_New();
    if (dict == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = decode_node(r, PyTuple_GET_ITEM(fields, i));
        if (value == NULL) {
            Py_DECREF(dict);
            return NULL;
        }
        int rc = PyDict_SetItem(dict, PyTuple_GET_ITEM(names, i), value);
        Py_DECREF(value);
        if (rc < 0) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    return dict;
}

/* A little-endian IEEE 754 float (size 4) or double (size 8). */
static PyObject *decode_float(Reader *r, Py_ssize_t size) {
    if (r->n - r->p < size) return (void)truncated(), NULL;
    const char *at = (const char *)r->d + r->p;
    double x = size == 4 ? PyFloat_Unpack4(at, 1) : PyFloat_Unpack8(at, 1);
    if (x == -1.0 && PyErr_Occurred()) return NULL;
    r->p += size;
    return PyFloat_FromDouble(x);
}

static PyObject *decode_node(Reader *r, PyObject *node) {
    int64_t v;
    switch (PyLong_AsLong(PyTuple_GET_ITEM(node, 0))) {
    case K_NULL:
        Py_RETURN_NONE;
    case K_BOOLEAN:
        if (r->p >= r->n) return (void)truncated(), NULL;
        return PyBool_FromLong(r->d[r->p++] != 0);  /* any non-zero byte, as fastavro reads it */
    case K_LONG:
        if (read_long(r, &v) < 0) return NULL;
        return PyLong_FromLongLong(v);
    case K_FLOAT:
        return decode_float(r, 4);
    case K_DOUBLE:
        return decode_float(r, 8);
    case K_STRING:
        return decode_string(r);
    case K_BYTES: {
        int64_t length;
        if (read_length(r, &length) < 0) return NULL;
        PyObject *b = PyBytes_FromStringAndSize((const char *)r->d + r->p, (Py_ssize_t)length);
        r->p += (Py_ssize_t)length;
        return b;
    }
    case K_ENUM: {
        PyObject *symbols = PyTuple_GET_ITEM(node, 2);
        Py_ssize_t index = read_index(r, PyTuple_GET_SIZE(symbols), "enum");
        if (index < 0) return NULL;
        return Py_NewRef(PyTuple_GET_ITEM(symbols, index));
    }
    case K_ARRAY:
        return decode_block(r, node, 0);
    case K_MAP:
        return decode_block(r, node, 1);
    case K_UNION: {
        PyObject *branches = PyTuple_GET_ITEM(node, 2);
        Py_ssize_t index = read_index(r, PyTuple_GET_SIZE(branches), "union");
        if (index < 0) return NULL;
        return decode_node(r, PyTuple_GET_ITEM(branches, index));
    }
    case K_RECORD:
        return decode_record(r, node);
    case K_TS_MICROS:
        if (read_long(r, &v) < 0) return NULL;
        return timestamp(v, 1000000);
    case K_TS_MILLIS:
        if (read_long(r, &v) < 0) return NULL;
        return timestamp(v, 1000);
    default:
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad decoder program");
        return NULL;
    }
}

static PyObject *decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "decode(program: tuple, data: bytes)");
        return NULL;
    }
    Reader r = {(const unsigned char *)PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1]), 0};
    PyObject *out = decode_node(&r, args[0]);
    if (out != NULL && r.p != r.n) {
        Py_DECREF(out);
        PyErr_Format(PyExc_ValueError, "%zd bytes after the record", r.n - r.p);
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(program, data) -> the record that the Avro binary body `data` holds."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_avro_native", "Schema-driven Avro binary decoding in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__avro_native(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    epoch = PyDateTimeAPI->DateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0, PyDateTime_TimeZone_UTC,
                                                    PyDateTimeAPI->DateTimeType);
    if (epoch == NULL) return NULL;
    return PyModule_Create(&module);
}
