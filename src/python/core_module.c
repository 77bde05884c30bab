/*
 * python/core_module.c — the extension module `mpimr._core`: its types, the Workspace object,
 * and the small functions the Python package uses (status names, reading a double).
 */
#include "core.h"

int core_mpi_usable(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

static int workspace_init(PyObject *object, PyObject *args, PyObject *kwargs) {
  core_workspace_object *self = (core_workspace_object *)object;
  if (!PyArg_ParseTuple(args, ":Workspace") || (kwargs != NULL && PyDict_Size(kwargs) > 0)) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Workspace() takes no arguments");
    return -1;
  }
  if (self->workspace == NULL && mpimr_workspace_create(&self->workspace) != MPIMR_OK) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static void free_workspace(core_workspace_object *self) {
  if (self->workspace != NULL && core_mpi_usable()) mpimr_workspace_free(self->workspace);
  self->workspace = NULL;
}

static PyObject *workspace_close(PyObject *object, PyObject *unused) {
  (void)unused;
  core_workspace_object *self = (core_workspace_object *)object;
  if (self->open_jobs > 0) {
    PyErr_SetString(PyExc_RuntimeError, "close the jobs made with this workspace first");
    return NULL;
  }
  free_workspace(self);
  Py_RETURN_NONE;
}

static PyObject *workspace_reuses(PyObject *object, PyObject *unused) {
  (void)unused;
  core_workspace_object *self = (core_workspace_object *)object;
  return PyLong_FromUnsignedLongLong(self->workspace ? mpimr_workspace_reuses(self->workspace) : 0);
}

static void workspace_dealloc(PyObject *object) {
  free_workspace((core_workspace_object *)object);
  Py_TYPE(object)->tp_free(object);
}

static PyMethodDef workspace_methods[] = {
    {"close", workspace_close, METH_NOARGS, "close()"},
    {"reuses", workspace_reuses, METH_NOARGS, "reuses() -> int"},
    {NULL, NULL, 0, NULL}};

PyTypeObject core_workspace_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr._core.Workspace",
    .tp_basicsize = sizeof(core_workspace_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What consecutive jobs share (the C side of mpimr.Workspace).",
    .tp_init = workspace_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = workspace_dealloc,
    .tp_methods = workspace_methods,
};

static PyObject *module_strerror(PyObject *module, PyObject *args) {
  (void)module;
  int status;
  if (!PyArg_ParseTuple(args, "i:strerror", &status)) return NULL;
  return PyUnicode_FromString(mpimr_strerror(status));
}

static PyObject *module_needs_abort(PyObject *module, PyObject *args) {
  (void)module;
  int status;
  if (!PyArg_ParseTuple(args, "i:needs_abort", &status)) return NULL;
  return PyBool_FromLong(mpimr_status_needs_abort(status));
}

static PyObject *module_f64(PyObject *module, PyObject *args) {
  (void)module;
  Py_buffer value;
  if (!PyArg_ParseTuple(args, "y*:f64", &value)) return NULL;
  PyObject *result = NULL;
  if (value.len != 8) PyErr_Format(PyExc_ValueError, "a double is 8 bytes, not %zd", value.len);
  else result = PyFloat_FromDouble(mpimr_get_f64(value.buf));
  PyBuffer_Release(&value);
  return result;
}

static PyMethodDef module_functions[] = {
    {"strerror", module_strerror, METH_VARARGS, "strerror(status) -> the status's description"},
    {"needs_abort", module_needs_abort, METH_VARARGS, "needs_abort(status) -> whether to call Abort"},
    {"f64", module_f64, METH_VARARGS, "f64(value) -> the double in 8 little-endian bytes"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, .m_name = "mpimr._core",
    .m_doc = "The C side of the mpimr package (use `import mpimr`).", .m_size = -1,
    .m_methods = module_functions,
};

static const struct {
  const char *name;
  int status;
} statuses[] = {
    {"OK", MPIMR_OK},
    {"ERR_NOMEM", MPIMR_ERR_NOMEM},
    {"ERR_INVAL", MPIMR_ERR_INVAL},
    {"ERR_IO", MPIMR_ERR_IO},
    {"ERR_MPI", MPIMR_ERR_MPI},
    {"ERR_EXISTS", MPIMR_ERR_EXISTS},
    {"ERR_USER", MPIMR_ERR_USER},
    {"ERR_REMOTE", MPIMR_ERR_REMOTE},
    {"ERR_TOO_LARGE", MPIMR_ERR_TOO_LARGE},
    {"ERR_CORRUPT", MPIMR_ERR_CORRUPT},
    {"ERR_TOPOLOGY", MPIMR_ERR_TOPOLOGY},
    {"ERR_STATE", MPIMR_ERR_STATE},
    {"ERR_INTERRUPTED", MPIMR_ERR_INTERRUPTED},
    {"ERR_STALLED", MPIMR_ERR_STALLED},
    {"ERR_BUSY", MPIMR_ERR_BUSY},
    {"ERR_NOT_FOUND", MPIMR_ERR_NOT_FOUND},
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void) {
  PyTypeObject *types[] = {&core_emitter_type,       &core_values_type,    &core_dataset_type,
                           &core_dataset_pairs_type, &core_workspace_type, &core_job_type};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (PyType_Ready(types[i]) != 0) return NULL;
  if (core_job_types_ready() != 0) return NULL;
  PyObject *module = PyModule_Create(&core_module);
  if (module == NULL) return NULL;
  core_stopped_error = PyErr_NewExceptionWithDoc(
      "mpimr._core.Stopped", "Raised by emit when the job is stopping; let it propagate.", NULL, NULL);
  if (core_stopped_error == NULL || PyModule_AddObjectRef(module, "Stopped", core_stopped_error) != 0) goto failed;
  const char *names[] = {"Emitter", "Values", "Dataset", "DatasetPairs", "Workspace", "Job"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) != 0) goto failed;
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    if (PyModule_AddIntConstant(module, statuses[i].name, statuses[i].status) != 0) goto failed;
  return module;
failed:
  Py_DECREF(module);
  return NULL;
}
