/*
 * python/core_dataset.c — the Dataset object: one rank's pairs in memory (mpimr_dataset), filled
 * from Python or by a job, read back as pairs or as columns that NumPy wraps without a copy.
 */
#include <string.h>

#include "core.h"

/* The dataset, or NULL with an exception set when it is closed, when a running job fills it (it
 * changes meanwhile), or when `changing` and a running job uses it at all. */
static mpimr_dataset *usable(core_dataset_object *self, int changing) {
  if (self->dataset == NULL) {
    PyErr_SetString(PyExc_ValueError, "the dataset is closed");
    return NULL;
  }
  if (self->filling_jobs > 0) {
    PyErr_SetString(PyExc_RuntimeError, "the dataset is the output of a running job: read it when the job ends");
    return NULL;
  }
  if (changing && self->running_jobs > 0) {
    PyErr_SetString(PyExc_RuntimeError, "the dataset is in use by a running job and cannot change");
    return NULL;
  }
  return self->dataset;
}

static int dataset_init(PyObject *object, PyObject *args, PyObject *kwargs) {
  core_dataset_object *self = (core_dataset_object *)object;
  if (!PyArg_ParseTuple(args, ":Dataset") || (kwargs != NULL && PyDict_Size(kwargs) > 0)) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Dataset() takes no arguments");
    return -1;
  }
  if (self->dataset != NULL) return 0;
  if (mpimr_dataset_create(&self->dataset) != MPIMR_OK) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static void dataset_dealloc(PyObject *object) {
  core_dataset_object *self = (core_dataset_object *)object;
  mpimr_dataset_free(self->dataset);
  Py_TYPE(object)->tp_free(object);
}

static int dataset_sink(void *target, const void *key, size_t key_len, const void *value, size_t value_len) {
  return mpimr_dataset_add(target, key, key_len, value, value_len);
}

static PyObject *add_failed(int status) {
  if (status == MPIMR_ERR_NOMEM) return PyErr_NoMemory();
  PyErr_Format(PyExc_ValueError, "cannot add the pair: %s", mpimr_strerror(status));
  return NULL;
}

static PyObject *dataset_add(PyObject *object, PyObject *args) {
  PyObject *key_object, *value_object;
  if (!PyArg_ParseTuple(args, "OO:add", &key_object, &value_object)) return NULL;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 1);
  if (dataset == NULL) return NULL;
  core_bytes key, value;
  if (core_key_bytes(key_object, &key) != 0) return NULL;
  if (core_value_bytes(value_object, &value) != 0) {
    core_bytes_release(&key);
    return NULL;
  }
  int rc = mpimr_dataset_add(dataset, key.data, key.length, value.data, value.length);
  core_bytes_release(&key);
  core_bytes_release(&value);
  if (rc != MPIMR_OK) return add_failed(rc);
  Py_RETURN_NONE;
}

static PyObject *dataset_add_many(PyObject *object, PyObject *args) {
  PyObject *keys, *values;
  if (!PyArg_ParseTuple(args, "OO:add_many", &keys, &values)) return NULL;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 1);
  if (dataset == NULL) return NULL;
  int status;
  if (core_put_many(keys, values, dataset_sink, dataset, &status) != 0) return NULL;
  if (status != MPIMR_OK) return add_failed(status);
  Py_RETURN_NONE;
}

static PyObject *dataset_clear(PyObject *object, PyObject *unused) {
  (void)unused;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 1);
  if (dataset == NULL) return NULL;
  mpimr_dataset_clear(dataset);
  Py_RETURN_NONE;
}

static PyObject *dataset_close(PyObject *object, PyObject *unused) {
  (void)unused;
  core_dataset_object *self = (core_dataset_object *)object;
  if (self->dataset == NULL) Py_RETURN_NONE;
  if (usable(self, 1) == NULL) return NULL;
  if (self->attached_jobs > 0) {
    PyErr_SetString(PyExc_RuntimeError, "a job made with this dataset still exists: close the job first");
    return NULL;
  }
  mpimr_dataset_free(self->dataset);
  self->dataset = NULL;
  Py_RETURN_NONE;
}

static PyObject *dataset_local_count(PyObject *object, PyObject *unused) {
  (void)unused;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 0);
  return dataset ? PyLong_FromUnsignedLongLong(mpimr_dataset_local_count(dataset)) : NULL;
}

static PyObject *dataset_local_bytes(PyObject *object, PyObject *unused) {
  (void)unused;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 0);
  return dataset ? PyLong_FromSize_t(mpimr_dataset_local_bytes(dataset)) : NULL;
}

/* Column layouts for columns(): as mpimr/__init__.py's _column_layout says. */
enum { WIDTH_EXACT = 0, WIDTH_AT_MOST = 1, WIDTH_ANY = 2 };

typedef struct column_out {
  int mode;
  size_t width;
  PyObject *result; /* bytearray, or list for WIDTH_ANY */
  char *next;
} column_out;

static int column_begin(column_out *c, uint64_t count) {
  if (c->mode == WIDTH_ANY) {
    c->result = PyList_New((Py_ssize_t)count);
    return c->result ? 0 : -1;
  }
  if (c->width != 0 && count > (uint64_t)PY_SSIZE_T_MAX / c->width) {
    PyErr_NoMemory();
    return -1;
  }
  c->result = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(count * c->width));
  if (c->result == NULL) return -1;
  c->next = PyByteArray_AS_STRING(c->result);
  return 0;
}

static int column_put(column_out *c, uint64_t index, const char *what, const void *data, size_t length) {
  if (c->mode == WIDTH_ANY) {
    PyObject *item = PyBytes_FromStringAndSize(data, (Py_ssize_t)length);
    if (item == NULL) return -1;
    PyList_SET_ITEM(c->result, (Py_ssize_t)index, item);
    return 0;
  }
  if (length != c->width && !(c->mode == WIDTH_AT_MOST && length < c->width)) {
    PyErr_Format(PyExc_ValueError, "pair %llu of this rank's dataset has a %s of %zu bytes, not %s%zu",
                 (unsigned long long)index, what, length, c->mode == WIDTH_AT_MOST ? "at most " : "", c->width);
    return -1;
  }
  memcpy(c->next, data, length);
  memset(c->next + length, 0, c->width - length);
  c->next += c->width;
  return 0;
}

static PyObject *dataset_columns(PyObject *object, PyObject *args) {
  column_out keys = {0}, values = {0};
  Py_ssize_t key_width, value_width;
  if (!PyArg_ParseTuple(args, "nini:columns", &key_width, &keys.mode, &value_width, &values.mode)) return NULL;
  if (key_width < 0 || value_width < 0) {
    PyErr_SetString(PyExc_ValueError, "a negative width");
    return NULL;
  }
  keys.width = (size_t)key_width;
  values.width = (size_t)value_width;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, 0);
  if (dataset == NULL) return NULL;
  uint64_t count = mpimr_dataset_local_count(dataset);
  if (column_begin(&keys, count) != 0 || column_begin(&values, count) != 0) goto failed;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  for (uint64_t i = 0; i < count && mpimr_dataset_next(dataset, &at, &key, &key_len, &value, &value_len); i++) {
    if (column_put(&keys, i, "key", key, key_len) != 0 || column_put(&values, i, "value", value, value_len) != 0)
      goto failed;
  }
  return Py_BuildValue("(NN)", keys.result, values.result);
failed:
  Py_XDECREF(keys.result);
  Py_XDECREF(values.result);
  return NULL;
}

/* The collective calls on a dataset. */
typedef enum dataset_collective { GLOBAL_COUNT, GATHER, BROADCAST } dataset_collective;

/* A collective call on a communicator handle, with the GIL released while it waits. */
static PyObject *collective(PyObject *object, PyObject *args, const char *format, dataset_collective which) {
  long long handle;
  int root = 0;
  if (!PyArg_ParseTuple(args, format, &handle, &root)) return NULL;
  mpimr_dataset *dataset = usable((core_dataset_object *)object, which != GLOBAL_COUNT);
  if (dataset == NULL) return NULL;
  MPI_Comm comm = MPI_Comm_f2c((MPI_Fint)handle);
  uint64_t count = 0;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  if (which == GLOBAL_COUNT) rc = mpimr_dataset_global_count(dataset, comm, &count);
  else if (which == GATHER) rc = mpimr_dataset_gather(dataset, comm, root);
  else rc = mpimr_dataset_broadcast(dataset, comm, root);
  Py_END_ALLOW_THREADS
  return which == GLOBAL_COUNT ? Py_BuildValue("(iK)", rc, (unsigned long long)count) : PyLong_FromLong(rc);
}

static PyObject *dataset_global_count(PyObject *object, PyObject *args) {
  return collective(object, args, "L|i:global_count", GLOBAL_COUNT);
}
static PyObject *dataset_gather(PyObject *object, PyObject *args) {
  return collective(object, args, "Li:gather", GATHER);
}
static PyObject *dataset_broadcast(PyObject *object, PyObject *args) {
  return collective(object, args, "Li:broadcast", BROADCAST);
}

/* Iterating a dataset's pairs: the iterator holds the dataset and a cursor. */
typedef struct {
  PyObject_HEAD
  core_dataset_object *owner;
  mpimr_dataset_cursor at;
  size_t bytes_when_made; /* a dataset changed under the iterator is noticed */
} dataset_pairs_object;

static PyObject *dataset_pairs(PyObject *object, PyObject *unused) {
  (void)unused;
  core_dataset_object *self = (core_dataset_object *)object;
  mpimr_dataset *dataset = usable(self, 0);
  if (dataset == NULL) return NULL;
  dataset_pairs_object *pairs = PyObject_New(dataset_pairs_object, &core_dataset_pairs_type);
  if (pairs == NULL) return NULL;
  Py_INCREF(object);
  pairs->owner = self;
  pairs->at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  pairs->bytes_when_made = mpimr_dataset_local_bytes(dataset);
  return (PyObject *)pairs;
}

static PyObject *pairs_next(PyObject *object) {
  dataset_pairs_object *self = (dataset_pairs_object *)object;
  mpimr_dataset *dataset = usable(self->owner, 0);
  if (dataset == NULL) return NULL;
  if (mpimr_dataset_local_bytes(dataset) != self->bytes_when_made) {
    PyErr_SetString(PyExc_RuntimeError, "the dataset changed while it was iterated");
    return NULL;
  }
  const void *key, *value;
  size_t key_len, value_len;
  if (!mpimr_dataset_next(dataset, &self->at, &key, &key_len, &value, &value_len)) return NULL;
  return Py_BuildValue("(y#y#)", (const char *)key, (Py_ssize_t)key_len, (const char *)value, (Py_ssize_t)value_len);
}

static void pairs_dealloc(PyObject *object) {
  Py_XDECREF(((dataset_pairs_object *)object)->owner);
  PyObject_Free(object);
}

PyTypeObject core_dataset_pairs_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr._core.DatasetPairs",
    .tp_basicsize = sizeof(dataset_pairs_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator over a dataset's (key, value) pairs.",
    .tp_dealloc = pairs_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = pairs_next,
};

static PyMethodDef dataset_methods[] = {
    {"add", dataset_add, METH_VARARGS, "add(key, value)"},
    {"add_many", dataset_add_many, METH_VARARGS, "add_many(keys, values)"},
    {"clear", dataset_clear, METH_NOARGS, "clear()"},
    {"close", dataset_close, METH_NOARGS, "close()"},
    {"local_count", dataset_local_count, METH_NOARGS, "local_count() -> int"},
    {"local_bytes", dataset_local_bytes, METH_NOARGS, "local_bytes() -> int"},
    {"columns", dataset_columns, METH_VARARGS, "columns(key_width, key_mode, value_width, value_mode)"},
    {"pairs", dataset_pairs, METH_NOARGS, "pairs() -> iterator of (key, value)"},
    {"global_count", dataset_global_count, METH_VARARGS, "global_count(comm_handle) -> (status, count)"},
    {"gather", dataset_gather, METH_VARARGS, "gather(comm_handle, root) -> status"},
    {"broadcast", dataset_broadcast, METH_VARARGS, "broadcast(comm_handle, root) -> status"},
    {NULL, NULL, 0, NULL}};

PyTypeObject core_dataset_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr._core.Dataset",
    .tp_basicsize = sizeof(core_dataset_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One rank's pairs in memory (the C side of mpimr.Dataset).",
    .tp_init = dataset_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = dataset_dealloc,
    .tp_methods = dataset_methods,
};
