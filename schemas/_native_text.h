/* Text helpers shared by Lotline's C modules (schemas/formats/_wire_native.c, store/_rows_native.c).
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

/* A JSON string of the UTF-8 text `u` as orjson writes it: ", \ and control characters escaped (\b \t \n \f \r,
 * else \u00xx), everything else as is. -1 (MemoryError set) when out of memory. */
static inline int put_json_utf8(Buf *b, const char *u, Py_ssize_t n) {
    if (buf_reserve(b, n * 6 + 2) < 0) return -1;
    char *o = b->d + b->n;
    *o++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\t': *o++ = 't'; break;
            case '\n': *o++ = 'n'; break;
            case '\f': *o++ = 'f'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
        }
    }
    *o++ = '"';
    b->n = o - b->d;
    return 0;
}

/* -- identifiers.quick_parse ------------------------------------------------------------------------------ */

static inline int all_digits(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return n > 0;
}

/* `data` (n ASCII digits) and its GS1 mod-10 check digit at `out`. */
static inline void with_check(char *out, const char *data, Py_ssize_t n) {
    int total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = data[i];
        total += (data[i] - '0') * (((n - 1 - i) % 2) ? 1 : 3);
    }
    out[n] = (char)('0' + (10 - total % 10) % 10);
}

/* A GS1 key from an EPC URN's fields at `key`: the first digit of `ref` (indicator or extension digit), the
 * company prefix, the rest of `ref`, then the check digit (cp_n + ref_n + 1 digits, at most 18). */
static inline void gs1_key(char *key, const char *cp, Py_ssize_t cp_n, const char *ref, Py_ssize_t ref_n) {
    char data[17];
    data[0] = ref[0];
    memcpy(data + 1, cp, (size_t)cp_n);
    memcpy(data + 1 + cp_n, ref + 1, (size_t)(ref_n - 1));
    with_check(key, data, cp_n + ref_n);
}

#define LGTIN_URN "urn:epc:class:lgtin:"
#define SSCC_URN "urn:epc:id:sscc:"
enum { QUICK_NONE, QUICK_LGTIN, QUICK_SSCC };

/* identifiers.quick_parse on the UTF-8 text `s`: QUICK_LGTIN with the GTIN-14 in key[0..14) and the lot at
 * *lot (*lot_n bytes) for a plain LGTIN URN, QUICK_SSCC with the SSCC-18 in key[0..18) for a plain SSCC URN,
 * QUICK_NONE for anything else (left to the Python parser). Same cases as the Python function: lower-case
 * prefix, digit fields of the right lengths, a non-empty lot without '%' or newline whose last character is
 * printable ASCII. */
static inline int quick_id(const char *s, Py_ssize_t n, char key[18], const char **lot, Py_ssize_t *lot_n) {
    const Py_ssize_t lp = (Py_ssize_t)strlen(LGTIN_URN), sp = (Py_ssize_t)strlen(SSCC_URN);
    const char *end = s + n;
    if (n > lp && memcmp(s, LGTIN_URN, (size_t)lp) == 0) {
        const char *cp = s + lp;
        const char *d1 = memchr(cp, '.', (size_t)(end - cp));
        const char *d2 = d1 == NULL ? NULL : memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
        if (d2 == NULL || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL) return QUICK_NONE;
        Py_ssize_t cp_n = d1 - cp, ref_n = d2 - d1 - 1, l_n = end - d2 - 1;
        const char *ref = d1 + 1, *l = d2 + 1;
        if (cp_n < 6 || cp_n > 12 || cp_n + ref_n != 13 || ref_n < 1 || !all_digits(cp, cp_n) ||
            !all_digits(ref, ref_n) || l_n < 1 || memchr(l, '%', (size_t)l_n) != NULL ||
            memchr(l, '\n', (size_t)l_n) != NULL || l[l_n - 1] < '!' || l[l_n - 1] > '~')
            return QUICK_NONE;
        gs1_key(key, cp, cp_n, ref, ref_n);
        *lot = l;
        *lot_n = l_n;
        return QUICK_LGTIN;
    }
    if (n > sp && memcmp(s, SSCC_URN, (size_t)sp) == 0) {
        const char *cp = s + sp;
        const char *d1 = memchr(cp, '.', (size_t)(end - cp));
        if (d1 == NULL || memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) != NULL) return QUICK_NONE;
        Py_ssize_t cp_n = d1 - cp, ser_n = end - d1 - 1;
        const char *ser = d1 + 1;
        if (cp_n < 1 || ser_n < 1 || cp_n + ser_n != 17 || !all_digits(cp, cp_n) || !all_digits(ser, ser_n))
            return QUICK_NONE;
        gs1_key(key, cp, cp_n, ser, ser_n);
        return QUICK_SSCC;
    }
    return QUICK_NONE;
}

#endif
