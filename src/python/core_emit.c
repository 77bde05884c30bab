/*
 * python/core_emit.c — the Emitter and Values objects that map and reduce functions are given.
 *
 * Each job keeps one of each and points it at the C emitter or value iterator of the call in
 * progress; after the call it points at nothing, so an object kept past its call raises instead
 * of reaching freed memory.
 */
#include "core.h"

static mpimr_emitter *live_emitter(core_emitter_object *self) {
  if (self->out == NULL)
    PyErr_SetString(PyExc_RuntimeError, "this emitter belongs to a map or reduce call that has returned");
  return self->out;
}

/* An emit that failed: the job is stopping (or the pair is too large), and the callback is told
 * by an exception its caller recognises. */
static PyObject *emit_failed(core_emitter_object *self, int status) {
  core_job_note_emit_failure(self->job, status);
  if (status == MPIMR_ERR_TOO_LARGE)
    PyErr_Format(PyExc_ValueError, "a pair over the %zu-byte limit of one pair", (size_t)MPIMR_MAX_PAIR_BYTES);
  else
    PyErr_Format(core_stopped_error, "the job is stopping (%s)", mpimr_strerror(status));
  return NULL;
}

static PyObject *emitter_call(PyObject *object, PyObject *args, PyObject *kwargs) {
  core_emitter_object *self = (core_emitter_object *)object;
  PyObject *key_object, *value_object;
  static char *names[] = {"key", "value", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:emit", names, &key_object, &value_object)) return NULL;
  mpimr_emitter *out = live_emitter(self);
  if (out == NULL) return NULL;
  core_bytes key, value;
  if (core_key_bytes(key_object, &key) != 0) return NULL;
  if (core_value_bytes(value_object, &value) != 0) {
    core_bytes_release(&key);
    return NULL;
  }
  int rc = mpimr_emit(out, key.data, key.length, value.data, value.length);
  core_bytes_release(&key);
  core_bytes_release(&value);
  if (rc != MPIMR_OK) return emit_failed(self, rc);
  Py_RETURN_NONE;
}

static PyObject *emitter_many(PyObject *object, PyObject *args) {
  core_emitter_object *self = (core_emitter_object *)object;
  PyObject *keys, *values;
  if (!PyArg_ParseTuple(args, "OO:many", &keys, &values)) return NULL;
  mpimr_emitter *out = live_emitter(self);
  if (out == NULL) return NULL;
  int status;
  if (core_put_many(keys, values, core_emit_sink, out, &status) != 0) return NULL;
  if (status != MPIMR_OK) return emit_failed(self, status);
  Py_RETURN_NONE;
}

static PyObject *emitter_slices(PyObject *object, PyObject *args) {
  core_emitter_object *self = (core_emitter_object *)object;
  PyObject *data_object, *starts_object, *stops_object, *values;
  if (!PyArg_ParseTuple(args, "OOOO:slices", &data_object, &starts_object, &stops_object, &values)) return NULL;
  mpimr_emitter *out = live_emitter(self);
  if (out == NULL) return NULL;
  Py_buffer data;
  if (PyObject_GetBuffer(data_object, &data, PyBUF_C_CONTIGUOUS) != 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "slices: data must be a contiguous bytes-like object, not %s",
                 Py_TYPE(data_object)->tp_name);
    return NULL;
  }
  core_offsets starts, stops;
  if (core_offsets_open(starts_object, "slices: starts", &starts) != 0) {
    PyBuffer_Release(&data);
    return NULL;
  }
  if (core_offsets_open(stops_object, "slices: stops", &stops) != 0) {
    PyBuffer_Release(&starts.view);
    PyBuffer_Release(&data);
    return NULL;
  }
  PyObject *result = NULL;
  int status = MPIMR_OK;
  if (core_put_slices(data.buf, (size_t)data.len, &starts, &stops, values, core_emit_sink, out, &status) != 0)
    goto done;
  if (status != MPIMR_OK) {
    emit_failed(self, status);
    goto done;
  }
  result = Py_NewRef(Py_None);
done:
  PyBuffer_Release(&stops.view);
  PyBuffer_Release(&starts.view);
  PyBuffer_Release(&data);
  return result;
}

static PyObject *emitter_origin(PyObject *object, PyObject *unused) {
  (void)unused;
  core_emitter_object *self = (core_emitter_object *)object;
  mpimr_emitter *out = live_emitter(self);
  if (out == NULL) return NULL;
  mpimr_record_origin origin;
  if (mpimr_map_origin(out, &origin) != MPIMR_OK) {
    PyErr_SetString(PyExc_RuntimeError, "origin() is for map and map_block functions reading files");
    return NULL;
  }
  PyObject *path = PyUnicode_DecodeFSDefault(origin.path); /* as os.fsdecode() would */
  return path ? Py_BuildValue("(NK)", path, (unsigned long long)origin.offset) : NULL;
}

/* count()'s n: a non-negative int below 2**64 (bool refused, as the package's counts refuse it). */
static int count_amount(PyObject *object, uint64_t *n) {
  if (PyBool_Check(object) || !PyIndex_Check(object)) {
    PyErr_Format(PyExc_TypeError, "count: n must be an int, not %s", Py_TYPE(object)->tp_name);
    return -1;
  }
  PyObject *number = PyNumber_Index(object);
  if (number == NULL) return -1;
  unsigned long long value = PyLong_AsUnsignedLongLong(number);
  int failed = value == (unsigned long long)-1 && PyErr_Occurred();
  if (failed) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "count: n must be in [0, 2**64), not %R", number);
  }
  Py_DECREF(number);
  *n = value;
  return failed ? -1 : 0;
}

/* count(name, n=1). Its arguments are parsed by hand (METH_FASTCALL): it may be called once per
 * record, and then costs a dict lookup of the name and an addition. */
static PyObject *emitter_count(PyObject *object, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  core_emitter_object *self = (core_emitter_object *)object;
  if (nargs > 2) {
    PyErr_Format(PyExc_TypeError, "count() takes at most 2 arguments (%zd given)", nargs);
    return NULL;
  }
  PyObject *name = nargs > 0 ? args[0] : NULL, *amount = nargs > 1 ? args[1] : NULL;
  Py_ssize_t keywords = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; i++) {
    PyObject *keyword = PyTuple_GET_ITEM(kwnames, i);
    PyObject **slot = PyUnicode_CompareWithASCIIString(keyword, "name") == 0 ? &name
                      : PyUnicode_CompareWithASCIIString(keyword, "n") == 0  ? &amount
                                                                             : NULL;
    if (slot == NULL || *slot != NULL) {
      PyErr_Format(PyExc_TypeError,
                   slot == NULL ? "count() got an unexpected keyword argument %R"
                                : "count() got multiple values for argument %R",
                   keyword);
      return NULL;
    }
    *slot = args[nargs + i];
  }
  if (name == NULL) {
    PyErr_SetString(PyExc_TypeError, "count() missing its argument 'name'");
    return NULL;
  }
  mpimr_emitter *out = live_emitter(self);
  if (out == NULL) return NULL;
  uint64_t n = 1;
  if (amount != NULL && count_amount(amount, &n) != 0) return NULL;
  mpimr_counter *counter = core_job_counter(self->job, out, name);
  if (counter == NULL) return NULL;
  mpimr_counter_increment(counter, n);
  Py_RETURN_NONE;
}

static PyMethodDef emitter_methods[] = {
    {"many", emitter_many, METH_VARARGS,
     "many(keys, values): emits keys[i], values[i] for every i.\n\n"
     "keys: a sequence of keys (bytes, str, int), a numpy.uint64 array (each 8 bytes big-endian),\n"
     "an 'S<n>' array (trailing NULs dropped) or a 2-D uint8 array (each row a key).\n"
     "values: one value for every key (bytes, str, int, float, a NumPy scalar), a sequence of\n"
     "values, or an array whose rows are the values (uint64, float64: 8 bytes little-endian;\n"
     "2-D: each row's bytes; 'S<n>': trailing NULs dropped)."},
    {"slices", emitter_slices, METH_VARARGS,
     "slices(data, starts, stops, values): emits data[starts[i]:stops[i]] with values[i] for every\n"
     "i, without a copy: data is bytes-like (the block a map_block function was given, say), starts\n"
     "and stops 1-D NumPy integer arrays (any stride: b[0::2] and b[1::2] of one array of\n"
     "boundaries will do), values as for many(). Tokenise a block with NumPy and emit every word\n"
     "in one call."},
    {"count", (PyCFunction)(void (*)(void))emitter_count, METH_FASTCALL | METH_KEYWORDS,
     "count(name, n=1): adds n (an int in [0, 2**64)) to the job's counter `name`.\n\n"
     "Counters are this rank's until the job succeeds, then summed over ranks: read them with\n"
     "Job.counters() or Job.counter(name). A name is a str of 1-64 printable ASCII characters\n"
     "other than '\"' and '\\', not starting with 'mpimr.' (the framework's own): anything else\n"
     "raises ValueError; a name or n of the wrong type raises TypeError. The name is resolved\n"
     "once per job and kept, so calling count() per record costs a dict lookup and an addition.\n"
     "Sums wrap around modulo 2**64, as in C."},
    {"origin", emitter_origin, METH_NOARGS,
     "origin() -> (path, offset): the file and byte offset of the record being mapped (for a\n"
     "block, its first record)."},
    {NULL, NULL, 0, NULL}};

PyTypeObject core_emitter_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr.Emitter",
    .tp_basicsize = sizeof(core_emitter_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Where a map or reduce function sends pairs: emit(key, value), emit.many(keys, values);\n"
        "emit.count(name, n) adds to a counter of the job.\n"
        "Valid only during the call it was given to.",
    .tp_call = emitter_call,
    .tp_methods = emitter_methods,
};

static mpimr_values *live_values(core_values_object *self) {
  if (self->values == NULL)
    PyErr_SetString(PyExc_RuntimeError, "these values belong to a reduce call that has returned");
  return self->values;
}

static PyObject *values_next(PyObject *object) {
  mpimr_values *values = live_values((core_values_object *)object);
  if (values == NULL) return NULL;
  const void *value;
  size_t length;
  int more = mpimr_values_next(values, &value, &length);
  if (more != 1) return NULL; /* StopIteration */
  return PyBytes_FromStringAndSize(value, (Py_ssize_t)length);
}

static Py_ssize_t values_length(PyObject *object) {
  mpimr_values *values = live_values((core_values_object *)object);
  return values == NULL ? -1 : (Py_ssize_t)mpimr_values_count(values);
}

static PySequenceMethods values_sequence = {.sq_length = values_length};

PyTypeObject core_values_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr.Values",
    .tp_basicsize = sizeof(core_values_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The values of one key, as bytes, for a reducer: iterate once; len() counts them all.\n"
              "Valid only during the reduce call.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = values_next,
    .tp_as_sequence = &values_sequence,
};
