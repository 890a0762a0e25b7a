/* Text helpers shared by Lotline's C modules (schemas/_wire_native.c, consumers/store/_rows_native.c).
 * Include after <Python.h> and <datetime.h>, with PyDateTime_IMPORT done in the module's init. */
#ifndef LOTLINE_NATIVE_TEXT_H
#define LOTLINE_NATIVE_TEXT_H

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
