/*
 * python/core_convert.c — Python objects to key and value bytes, one at a time or many at once.
 *
 * Many pairs at once is what makes Python fast here: a NumPy array of keys or values is read in
 * place (one buffer request for the whole array), a list of bytes is walked in C, and a single
 * value is repeated for every key, so the cost per pair is a few C operations and the sink.
 */
#include <string.h>

#include "core.h"

void core_bytes_release(core_bytes *item) {
  if (item->has_view) {
    PyBuffer_Release(&item->view);
    item->has_view = 0;
  }
}

/* bytes, str (as UTF-8) or another object with a contiguous buffer. 1 if taken, 0 if `object` is
 * none of these, -1 on error. */
static int plain_bytes(PyObject *object, core_bytes *out) {
  out->has_view = 0;
  if (PyBytes_Check(object)) {
    out->data = PyBytes_AS_STRING(object);
    out->length = (size_t)PyBytes_GET_SIZE(object);
    return 1;
  }
  if (PyUnicode_Check(object)) {
    Py_ssize_t length;
    out->data = PyUnicode_AsUTF8AndSize(object, &length);
    if (out->data == NULL) return -1;
    out->length = (size_t)length;
    return 1;
  }
  if (PyObject_CheckBuffer(object)) {
    if (PyObject_GetBuffer(object, &out->view, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      PyErr_Format(PyExc_ValueError, "a %s used as bytes must be C-contiguous", Py_TYPE(object)->tp_name);
      return -1;
    }
    out->has_view = 1;
    out->data = out->view.buf;
    out->length = (size_t)out->view.len;
    return 1;
  }
  return 0;
}

/* An int in [0, 2**64), or -1 with ValueError set. */
static int unsigned_64(PyObject *object, const char *what, unsigned long long *value) {
  *value = PyLong_AsUnsignedLongLong(object);
  if (*value == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "an int %s must be in [0, 2**64), not %R", what, object);
    return -1;
  }
  return 0;
}

/* An 8-byte big-endian key from an int. */
static int integer_key(PyObject *object, core_bytes *out) {
  unsigned long long key;
  if (unsigned_64(object, "key", &key) != 0) return -1;
  for (int i = 0; i < 8; i++) out->scratch[i] = (unsigned char)(key >> (56 - 8 * i));
  out->data = (const char *)out->scratch;
  out->length = 8;
  out->has_view = 0;
  return 0;
}

int core_key_bytes(PyObject *object, core_bytes *out) {
  if (!PyLong_Check(object) && !PyBytes_Check(object) && PyIndex_Check(object)) {
    /* A NumPy integer scalar is an int key (big-endian), not its bytes in memory. */
    PyObject *integer = PyNumber_Index(object);
    if (integer != NULL) {
      int rc = integer_key(integer, out);
      Py_DECREF(integer);
      return rc;
    }
    PyErr_Clear(); /* an array: its bytes */
  }
  int taken = plain_bytes(object, out);
  if (taken != 0) return taken < 0 ? -1 : 0;
  if (PyLong_Check(object)) {
    unsigned long long key;
    if (unsigned_64(object, "key", &key) != 0) return -1;
    for (int i = 0; i < 8; i++) out->scratch[i] = (unsigned char)(key >> (56 - 8 * i));
    out->data = (const char *)out->scratch;
    out->length = 8;
    return 0;
  }
  PyErr_Format(PyExc_TypeError, "a key must be bytes, str or int, not %s", Py_TYPE(object)->tp_name);
  return -1;
}

int core_value_bytes(PyObject *object, core_bytes *out) {
  int taken = plain_bytes(object, out);
  if (taken != 0) return taken < 0 ? -1 : 0;
  if (PyLong_Check(object)) {
    unsigned long long value;
    if (unsigned_64(object, "value", &value) != 0) return -1;
    mpimr_put_u64(out->scratch, value);
  } else if (PyFloat_Check(object)) {
    mpimr_put_f64(out->scratch, PyFloat_AS_DOUBLE(object));
  } else {
    PyErr_Format(PyExc_TypeError, "a value must be bytes, str, int or float, not %s", Py_TYPE(object)->tp_name);
    return -1;
  }
  out->data = (const char *)out->scratch;
  out->length = 8;
  return 0;
}

/* How a column of many keys or values is laid out. */
typedef enum column_kind {
  COLUMN_REPEATED, /* one value for every key */
  COLUMN_ROWS,     /* an array: row i is `width` bytes at `base + i * width` */
  COLUMN_ITEMS     /* a sequence of objects, each converted */
} column_kind;

typedef struct column {
  column_kind kind;
  const char *base;
  size_t width;
  int strip_nuls;  /* NumPy 'S<n>' items: trailing NULs are padding */
  int swap_to_big; /* uint64 keys: stored little-endian, sent big-endian */
  Py_buffer view;
  int has_view;
  PyObject *sequence; /* COLUMN_ITEMS: a list or tuple (owned) */
  core_bytes repeated;
  Py_ssize_t count;
} column;

static void column_release(column *c) {
  if (c->has_view) PyBuffer_Release(&c->view);
  c->has_view = 0;
  Py_CLEAR(c->sequence);
  if (c->kind == COLUMN_REPEATED) core_bytes_release(&c->repeated);
}

/* The buffer's item format without its byte-order prefix, and whether it is big-endian. */
static const char *bare_format(const char *format, int *big_endian) {
  *big_endian = 0;
  if (format == NULL) return "B";
  if (*format == '>' || *format == '!') *big_endian = 1;
  if (*format == '<' || *format == '>' || *format == '!' || *format == '=' || *format == '@') format++;
  return format;
}

/* Reads an array (anything with a buffer of one or more dimensions) as rows. */
static int array_column(PyObject *object, const char *what, int is_key, column *c) {
  if (PyObject_GetBuffer(object, &c->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s: the array must be C-contiguous (numpy.ascontiguousarray)", what);
    return -1;
  }
  c->has_view = 1;
  c->kind = COLUMN_ROWS;
  if (c->view.ndim < 1) {
    PyErr_Format(PyExc_ValueError, "%s: a 0-dimensional array is not a column", what);
    return -1;
  }
  c->count = c->view.shape[0];
  c->base = c->view.buf;
  c->width = c->count > 0 ? (size_t)(c->view.len / c->count) : (size_t)c->view.itemsize;
  int big_endian;
  const char *format = bare_format(c->view.format, &big_endian);
  size_t format_length = strlen(format);
  c->strip_nuls = format_length > 0 && format[format_length - 1] == 's' && c->view.ndim == 1;
  int is_u64 = c->view.ndim == 1 && c->view.itemsize == 8 && (strcmp(format, "Q") == 0 || strcmp(format, "L") == 0);
  if (is_key && c->view.ndim == 1 && !is_u64 && !c->strip_nuls) {
    PyErr_Format(PyExc_ValueError,
                 "%s: a 1-D array of numbers as keys must be numpy.uint64 (format '%s' given); convert with "
                 ".astype(numpy.uint64), or pass raw bytes as a 2-D uint8 array",
                 what, c->view.format ? c->view.format : "B");
    return -1;
  }
  if (is_u64 && is_key) c->swap_to_big = !big_endian;
  if (!is_key && big_endian && c->view.itemsize > 1) {
    PyErr_Format(PyExc_ValueError, "%s: values must be little-endian (.astype('<%s'))", what, format);
    return -1;
  }
  return 0;
}

static int sequence_column(PyObject *object, const char *what, column *c) {
  c->kind = COLUMN_ITEMS;
  c->sequence = PySequence_Fast(object, what);
  if (c->sequence == NULL) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be an array or a sequence, not %s", what, Py_TYPE(object)->tp_name);
    return -1;
  }
  c->count = PySequence_Fast_GET_SIZE(c->sequence);
  return 0;
}

static int open_column(PyObject *object, int is_key, column *c) {
  memset(c, 0, sizeof *c);
  const char *what = is_key ? "keys" : "values";
  if (!is_key && (PyBytes_Check(object) || PyUnicode_Check(object) || PyLong_Check(object) ||
                  PyFloat_Check(object) || PyByteArray_Check(object))) {
    c->kind = COLUMN_REPEATED;
    return core_value_bytes(object, &c->repeated);
  }
  if (is_key && (PyBytes_Check(object) || PyUnicode_Check(object) || PyByteArray_Check(object))) {
    PyErr_Format(PyExc_TypeError, "keys must be an array or a sequence of keys, not one %s", Py_TYPE(object)->tp_name);
    return -1;
  }
  if (PyObject_CheckBuffer(object) && !PyMemoryView_Check(object)) {
    if (!is_key) {
      /* A NumPy scalar (a 0-dimensional buffer) is one value for every key. */
      Py_buffer probe;
      if (PyObject_GetBuffer(object, &probe, PyBUF_ND) == 0) {
        int scalar = probe.ndim == 0;
        PyBuffer_Release(&probe);
        if (scalar) {
          c->kind = COLUMN_REPEATED;
          return core_value_bytes(object, &c->repeated);
        }
      } else {
        PyErr_Clear();
      }
    }
    return array_column(object, what, is_key, c);
  }
  if (PyMemoryView_Check(object)) return array_column(object, what, is_key, c);
  return sequence_column(object, what, c);
}

/* Row i of a column as bytes (items are converted; the caller releases `item`). */
static int column_row(column *c, Py_ssize_t i, int is_key, core_bytes *item, unsigned char *swapped) {
  item->has_view = 0;
  switch (c->kind) {
  case COLUMN_REPEATED:
    item->data = c->repeated.data;
    item->length = c->repeated.length;
    return 0;
  case COLUMN_ROWS: {
    const char *row = c->base + (size_t)i * c->width;
    size_t length = c->width;
    if (c->swap_to_big) {
      for (int b = 0; b < 8; b++) swapped[b] = (unsigned char)row[7 - b];
      row = (const char *)swapped;
    } else if (c->strip_nuls) {
      while (length > 0 && row[length - 1] == '\0') length--;
    }
    item->data = row;
    item->length = length;
    return 0;
  }
  case COLUMN_ITEMS: {
    PyObject *object = PySequence_Fast_GET_ITEM(c->sequence, i);
    if (PyBytes_CheckExact(object)) { /* the common case, without a call */
      item->data = PyBytes_AS_STRING(object);
      item->length = (size_t)PyBytes_GET_SIZE(object);
      return 0;
    }
    return is_key ? core_key_bytes(object, item) : core_value_bytes(object, item);
  }
  }
  return 0;
}

int core_put_many(PyObject *keys, PyObject *values, core_pair_sink sink, void *target, int *status) {
  *status = MPIMR_OK;
  column key_column, value_column;
  if (open_column(keys, 1, &key_column) != 0) {
    column_release(&key_column);
    return -1;
  }
  if (open_column(values, 0, &value_column) != 0) {
    column_release(&key_column);
    column_release(&value_column);
    return -1;
  }
  int result = 0;
  if (value_column.kind != COLUMN_REPEATED && value_column.count != key_column.count) {
    PyErr_Format(PyExc_ValueError, "%zd keys but %zd values", key_column.count, value_column.count);
    result = -1;
  }
  for (Py_ssize_t i = 0; result == 0 && i < key_column.count; i++) {
    core_bytes key, value;
    unsigned char key_swapped[8], value_swapped[8];
    if (column_row(&key_column, i, 1, &key, key_swapped) != 0) {
      result = -1;
      break;
    }
    if (column_row(&value_column, i, 0, &value, value_swapped) != 0) {
      core_bytes_release(&key);
      result = -1;
      break;
    }
    int rc = sink(target, key.data, key.length, value.data, value.length);
    core_bytes_release(&key);
    core_bytes_release(&value);
    if (rc != MPIMR_OK) {
      *status = rc;
      break;
    }
  }
  column_release(&key_column);
  column_release(&value_column);
  return result;
}

int core_offsets_open(PyObject *object, const char *what, core_offsets *o) {
  if (PyObject_GetBuffer(object, &o->view, PyBUF_STRIDED_RO | PyBUF_FORMAT) != 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be a 1-D NumPy array of integers, not %s", what, Py_TYPE(object)->tp_name);
    return -1;
  }
  const char *format = o->view.format ? o->view.format : "B";
  if (*format == '<' || *format == '=' || *format == '@') format++;
  int known = format[0] != '\0' && format[1] == '\0' && strchr("bBhHiIlLqQnN", format[0]) != NULL;
  if (o->view.ndim != 1 || !known) {
    PyErr_Format(PyExc_TypeError, "%s must be a 1-D array of native integers (format '%s', %d dimensions given)",
                 what, o->view.format ? o->view.format : "B", o->view.ndim);
    PyBuffer_Release(&o->view);
    return -1;
  }
  o->kind = strchr("BHILQN", format[0]) != NULL ? 'u' : 's';
  return 0;
}

/* Offset i; -1 for a negative one (or an unsigned one past 2**63). */
static long long offset_at(const core_offsets *o, Py_ssize_t i) {
  const char *at = (const char *)o->view.buf + i * o->view.strides[0];
  /* memcpy: the array may be unaligned (numpy.frombuffer at an odd offset). */
  switch (o->view.itemsize) {
    case 1: {
      uint8_t v;
      memcpy(&v, at, 1);
      return o->kind == 'u' ? (long long)v : (long long)(int8_t)v;
    }
    case 2: {
      uint16_t v;
      memcpy(&v, at, 2);
      return o->kind == 'u' ? (long long)v : (long long)(int16_t)v;
    }
    case 4: {
      uint32_t v;
      memcpy(&v, at, 4);
      return o->kind == 'u' ? (long long)v : (long long)(int32_t)v;
    }
    default: {
      int64_t v;
      memcpy(&v, at, 8);
      return v < 0 ? -1 : v;
    }
  }
}

int core_put_slices(const char *data, size_t length, const core_offsets *starts, const core_offsets *stops,
                    PyObject *values, core_pair_sink sink, void *target, int *status) {
  *status = MPIMR_OK;
  Py_ssize_t count = starts->view.shape[0];
  if (stops->view.shape[0] != count) {
    PyErr_Format(PyExc_ValueError, "%zd starts but %zd stops", count, stops->view.shape[0]);
    return -1;
  }
  column value_column;
  if (open_column(values, 0, &value_column) != 0) {
    column_release(&value_column);
    return -1;
  }
  int result = 0;
  if (value_column.kind != COLUMN_REPEATED && value_column.count != count) {
    PyErr_Format(PyExc_ValueError, "%zd slices but %zd values", count, value_column.count);
    result = -1;
  }
  for (Py_ssize_t i = 0; result == 0 && i < count; i++) {
    long long start = offset_at(starts, i), stop = offset_at(stops, i);
    if (start < 0 || stop < start || (unsigned long long)stop > length) {
      PyErr_Format(PyExc_ValueError, "slice %zd is [%lld:%lld], outside the data's %zu bytes or reversed", i,
                   start, stop, length);
      result = -1;
      break;
    }
    core_bytes value;
    unsigned char value_swapped[8];
    if (column_row(&value_column, i, 0, &value, value_swapped) != 0) {
      result = -1;
      break;
    }
    int rc = sink(target, data + start, (size_t)(stop - start), value.data, value.length);
    core_bytes_release(&value);
    if (rc != MPIMR_OK) {
      *status = rc;
      break;
    }
  }
  column_release(&value_column);
  return result;
}

int core_emit_sink(void *target, const void *key, size_t key_len, const void *value, size_t value_len) {
  return mpimr_emit(target, key, key_len, value, value_len);
}
