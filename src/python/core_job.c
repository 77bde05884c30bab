/*
 * python/core_job.c — the Job object: a mpimr_job whose callbacks call Python.
 *
 * The GIL is released while the job runs in C (create, start, the ticks of test and wait), and
 * each callback takes it back for its call, so other Python threads run meanwhile. wait() runs
 * the job in stretches of 50 ms and checks Python's signals between them: a KeyboardInterrupt
 * then interrupts the job on this rank (mpimr_job_interrupt), every rank stops as after SIGINT,
 * and the exception is raised again once the job has ended. An exception raised by a callback is
 * kept (the first one) and fails the job with its type and message, as mpimr_fail() does.
 *
 * With max_bad_records, a map function that raises mpimr.BadRecord has its record skipped through
 * mpimr_fail() (the library counts and lists it); any other exception fails the job through
 * mpimr_fail_job(), which never skips, as without the setting.
 *
 * Counters: emit.count() keeps each name's mpimr_counter handle in a dict on the job, so a name is
 * hashed in C once per job, not once per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct core_job {
  PyObject_HEAD
  mpimr_job *job;
  mpimr_job_config config;
  MPI_Comm comm; /* the caller's (the job has its duplicate) */
  int rank;
  /* The Python side. */
  PyObject *map_function;  /* map, map_block, the batch function of map_index/map_local, or map_pair */
  PyObject *reduce_function;
  PyObject *combine_function;
  core_dataset_object *input_dataset;
  core_dataset_object *output_dataset;
  core_workspace_object *workspace;
  int datasets_attached; /* input_dataset's and output_dataset's attached_jobs include this job */
  uint64_t batch_start, batch_stop, index_batch; /* map_index/map_local: this rank's range */
  /* C copies of the strings the configuration points to. */
  char **inputs;
  int input_count;
  char *output_dir, *spill_dir, *trace_path, *bad_records_path;
  PyObject *bad_record_type; /* mpimr.BadRecord: with max_bad_records, skips its map record */
  PyObject *counter_handles; /* {name: the mpimr_counter's address}, or NULL before the first count() */
  /* Running. */
  PyThreadState *released; /* the GIL is released (by this job's run) when set */
  PyObject *exception;     /* the first exception a callback raised, or a KeyboardInterrupt */
  int emit_status;         /* the first failed emit a callback saw */
  int made, started, finished;
  int counted_running;     /* the datasets' running_jobs include this job */
  int busy;                /* a call of this job's runs (in C, or a callback of it): no other may */
};

PyObject *core_stopped_error;

void core_job_note_emit_failure(core_job *job, int status) {
  if (job->emit_status == MPIMR_OK) job->emit_status = status;
}

/* Takes the GIL back inside a callback; returns what to give leave_python(). */
static PyThreadState *enter_python(core_job *job) {
  PyThreadState *state = job->released;
  if (state != NULL) {
    job->released = NULL;
    PyEval_RestoreThread(state);
  }
  return state;
}

static void leave_python(core_job *job, PyThreadState *state) {
  if (state != NULL) job->released = PyEval_SaveThread();
}

/* The exception being raised, normalised and with its traceback, taken from the error indicator
 * (PyErr_GetRaisedException() of Python 3.12, which Debian 12's 3.11 lacks). */
static PyObject *take_raised_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
  return PyErr_GetRaisedException();
#else
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback != NULL && value != NULL) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  return value;
#endif
}

/* Drops the local variables of an exception's traceback frames (traceback.clear_frames()). */
static void clear_traceback_frames(PyObject *exception) {
  PyObject *traceback = PyException_GetTraceback(exception);
  PyObject *module = traceback ? PyImport_ImportModule("traceback") : NULL;
  PyObject *result = module ? PyObject_CallMethod(module, "clear_frames", "O", traceback) : NULL;
  if (result == NULL) PyErr_Clear();
  Py_XDECREF(result);
  Py_XDECREF(module);
  Py_XDECREF(traceback);
}

/* Turns the exception a callback raised into the job's failure, or with max_bad_records a map
 * function's mpimr.BadRecord into a skipped record; returns the status the callback returns to C.
 * `out` is the callback's emitter (NULL for a combiner); `mapping`: the callback is the map function. */
static int callback_failed(core_job *job, mpimr_emitter *out, int mapping) {
  PyObject *exception = take_raised_exception();
  if (PyErr_GivenExceptionMatches(exception, core_stopped_error)) {
    /* An emit failed because the job is stopping: pass its status on. */
    Py_DECREF(exception);
    return job->emit_status != MPIMR_OK ? job->emit_status : MPIMR_ERR_REMOTE;
  }
  int interrupt = !PyErr_GivenExceptionMatches(exception, PyExc_Exception);
  PyObject *text = PyObject_Str(exception);
  const char *message = text ? PyUnicode_AsUTF8(text) : NULL;
  if (message == NULL) {
    PyErr_Clear();
    message = "";
  }
  const char *type = Py_TYPE(exception)->tp_name;
  int skipping = mapping && out != NULL && job->config.max_bad_records > 0;
  int status = MPIMR_ERR_USER;
  if (interrupt) { /* KeyboardInterrupt, SystemExit: stop every rank, as a signal does */
    mpimr_job_interrupt(job->job, type);
    status = MPIMR_ERR_INTERRUPTED;
  } else if (skipping && job->bad_record_type != NULL &&
             PyErr_GivenExceptionMatches(exception, job->bad_record_type)) {
    /* The record is skipped (the library counts and lists it): the exception is not the job's. */
    mpimr_fail(out, "%s", message[0] ? message : type);
    clear_traceback_frames(exception); /* a map_block function's locals may hold views of its block */
    Py_XDECREF(text);
    Py_DECREF(exception);
    return MPIMR_ERR_USER;
  } else if (out != NULL) {
    /* A bug is not a bad record: the job fails even where records are skipped. */
    mpimr_fail_job(out, "%s%s%s", type, message[0] ? ": " : "", message);
  }
  Py_XDECREF(text);
  if (job->exception == NULL)
    job->exception = exception;
  else
    Py_DECREF(exception);
  return status;
}

mpimr_counter *core_job_counter(core_job *job, mpimr_emitter *out, PyObject *name) {
  int cached = PyUnicode_CheckExact(name); /* a str subclass might compare equal to another name */
  if (cached && job->counter_handles != NULL) {
    PyObject *handle = PyDict_GetItemWithError(job->counter_handles, name);
    if (handle != NULL) return PyLong_AsVoidPtr(handle);
    if (PyErr_Occurred()) return NULL;
  }
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "count: a counter's name must be a str, not %s", Py_TYPE(name)->tp_name);
    return NULL;
  }
  Py_ssize_t length;
  const char *text = PyUnicode_AsUTF8AndSize(name, &length);
  if (text == NULL) { /* lone surrogates: not ASCII either */
    PyErr_Clear();
    text = "\x7f";
    length = 1;
  }
  const char *problem = NULL;
  if (length == 0)
    problem = "is empty";
  else if (length > 64)
    problem = "is longer than 64 characters";
  else if (strncmp(text, "mpimr.", 6) == 0)
    problem = "starts with 'mpimr.', as the framework's own counters do";
  for (Py_ssize_t i = 0; problem == NULL && i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < 0x20 || c >= 0x7f)
      problem = "holds a character that is not printable ASCII";
    else if (c == '"' || c == '\\')
      problem = "holds a '\"' or a '\\'";
  }
  if (problem != NULL) {
    PyErr_Format(PyExc_ValueError,
                 "count: the counter name %R %s (a name is 1-64 printable ASCII characters other than '\"' "
                 "and '\\', not starting with 'mpimr.')",
                 name, problem);
    return NULL;
  }
  mpimr_counter *counter = mpimr_counter_find(out, text);
  if (counter == NULL) {
    PyErr_NoMemory();
    return NULL;
  }
  if (cached) {
    if (job->counter_handles == NULL && (job->counter_handles = PyDict_New()) == NULL) return NULL;
    PyObject *handle = PyLong_FromVoidPtr(counter);
    int failed = handle == NULL || PyDict_SetItem(job->counter_handles, name, handle) != 0;
    Py_XDECREF(handle);
    if (failed) return NULL;
  }
  return counter;
}

/* Calls `function(arguments..., emitter)` with the GIL; returns the callback's status. Each call
 * gets an emitter of its own, which points at nothing once the call returns. */
static int call_with_emitter(core_job *job, PyObject *function, PyObject **arguments, size_t count,
                             mpimr_emitter *out) {
  core_emitter_object *emitter = PyObject_New(core_emitter_object, &core_emitter_type);
  if (emitter == NULL) return callback_failed(job, out, function == job->map_function);
  emitter->out = out;
  emitter->job = job;
  arguments[count] = (PyObject *)emitter;
  int status = MPIMR_OK;
  PyObject *result = PyObject_Vectorcall(function, arguments, count + 1, NULL);
  if (result == NULL) {
    status = callback_failed(job, out, function == job->map_function);
  } else {
    Py_DECREF(result);
  }
  if (status == MPIMR_OK && job->emit_status != MPIMR_OK) status = job->emit_status; /* swallowed */
  emitter->out = NULL;
  emitter->job = NULL;
  Py_DECREF(emitter);
  return status;
}

/* call_with_emitter() with `count` arguments just made (NULL where making one failed), which it
 * releases; the caller holds the GIL. */
static int call_taking(core_job *job, PyObject *function, PyObject **arguments, size_t count, mpimr_emitter *out) {
  int made = 1;
  for (size_t i = 0; i < count; i++) made = made && arguments[i] != NULL;
  int status = made ? call_with_emitter(job, function, arguments, count, out)
                    : callback_failed(job, out, function == job->map_function);
  for (size_t i = 0; i < count; i++) Py_XDECREF(arguments[i]);
  return status;
}

static int map_record(void *user, const void *record, size_t record_len, mpimr_emitter *out) {
  core_job *job = user;
  PyThreadState *state = enter_python(job);
  PyObject *arguments[2] = {PyBytes_FromStringAndSize(record, (Py_ssize_t)record_len), NULL};
  int status = call_taking(job, job->map_function, arguments, 1, out);
  leave_python(job, state);
  return status;
}

/* The exporter of a block's bytes: every memoryview of the block, and every NumPy array or slice
 * made from one, holds one of its exports until it is freed, so after the call a count above zero
 * means the function kept a view of memory that the next block reuses. */
typedef struct {
  PyObject_HEAD
  const char *data;
  Py_ssize_t length;
  Py_ssize_t exports;
} block_exporter;

static int block_get_buffer(PyObject *object, Py_buffer *view, int flags) {
  block_exporter *self = (block_exporter *)object;
  if (PyBuffer_FillInfo(view, object, (void *)self->data, self->length, 1, flags) != 0) return -1;
  self->exports++;
  return 0;
}

static void block_release_buffer(PyObject *object, Py_buffer *view) {
  (void)view;
  ((block_exporter *)object)->exports--;
}

static PyBufferProcs block_buffer = {.bf_getbuffer = block_get_buffer, .bf_releasebuffer = block_release_buffer};

static PyTypeObject block_exporter_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr._core.Block",
    .tp_basicsize = sizeof(block_exporter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The bytes of a block being mapped (read through a memoryview).",
    .tp_as_buffer = &block_buffer,
};

int core_job_types_ready(void) { return PyType_Ready(&block_exporter_type); }

static int map_block(void *user, const void *block, size_t length, mpimr_emitter *out) {
  core_job *job = user;
  PyThreadState *state = enter_python(job);
  int status;
  block_exporter *exporter = PyObject_New(block_exporter, &block_exporter_type);
  PyObject *arguments[2] = {NULL, NULL};
  if (exporter != NULL) {
    exporter->data = block;
    exporter->length = (Py_ssize_t)length;
    exporter->exports = 0;
    arguments[0] = PyMemoryView_FromObject((PyObject *)exporter);
  }
  if (arguments[0] == NULL) {
    status = callback_failed(job, out, 1);
  } else {
    status = call_with_emitter(job, job->map_function, arguments, 1, out);
    Py_DECREF(arguments[0]);
    /* The block's memory is reused after the call: a view kept past it would read other data. */
    if (exporter->exports != 0 && status == MPIMR_OK) {
      mpimr_fail_job(out, "the map_block function kept a view of its block (a memoryview, a slice of it or a NumPy "
                      "array over it) past the call; copy what it keeps (bytes(block))");
      status = MPIMR_ERR_USER;
    } else if (exporter->exports != 0 && job->exception != NULL) {
      clear_traceback_frames(job->exception); /* its frames' locals hold views of the block */
    }
  }
  Py_XDECREF(exporter);
  leave_python(job, state);
  return status;
}

/* map_index and map_local: local record `batch` is indices [start, stop) of this rank's range. */
static int map_batch(void *user, uint64_t batch, mpimr_emitter *out) {
  core_job *job = user;
  uint64_t start = job->batch_start + batch * job->index_batch;
  uint64_t stop = job->batch_stop - start < job->index_batch ? job->batch_stop : start + job->index_batch;
  PyThreadState *state = enter_python(job);
  PyObject *arguments[3] = {PyLong_FromUnsignedLongLong(start), PyLong_FromUnsignedLongLong(stop), NULL};
  int status = call_taking(job, job->map_function, arguments, 2, out);
  leave_python(job, state);
  return status;
}

static int map_pair(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                    mpimr_emitter *out) {
  core_job *job = user;
  PyThreadState *state = enter_python(job);
  PyObject *arguments[3] = {PyBytes_FromStringAndSize(key, (Py_ssize_t)key_len),
                            PyBytes_FromStringAndSize(value, (Py_ssize_t)value_len), NULL};
  int status = call_taking(job, job->map_function, arguments, 2, out);
  leave_python(job, state);
  return status;
}

static int reduce_python(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  core_job *job = user;
  PyThreadState *state = enter_python(job);
  core_values_object *iterator = PyObject_New(core_values_object, &core_values_type);
  if (iterator != NULL) iterator->values = values;
  Py_XINCREF(iterator); /* held past the call, to cut it off from the values */
  PyObject *arguments[3] = {PyBytes_FromStringAndSize(key, (Py_ssize_t)key_len), (PyObject *)iterator, NULL};
  int status = call_taking(job, job->reduce_function, arguments, 2, out);
  if (iterator != NULL) {
    iterator->values = NULL; /* a reducer that kept it gets an error, not freed values */
    Py_DECREF(iterator);
  }
  leave_python(job, state);
  return status;
}

/* reduce="count": the number of values, as a u64, without Python. */
static int reduce_count(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  unsigned char count[8];
  mpimr_put_u64(count, (uint64_t)mpimr_values_count(values));
  return mpimr_emit(out, key, key_len, count, 8);
}

static long long combine_python(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  core_job *job = user;
  PyThreadState *state = enter_python(job);
  long long length = -1;
  PyObject *arguments[3] = {PyBytes_FromStringAndSize(key, (Py_ssize_t)key_len),
                            PyBytes_FromStringAndSize(acc, (Py_ssize_t)acc_len),
                            PyBytes_FromStringAndSize(in, (Py_ssize_t)in_len)};
  PyObject *result = NULL;
  if (arguments[0] && arguments[1] && arguments[2])
    result = PyObject_Vectorcall(job->combine_function, arguments, 3, NULL);
  core_bytes merged;
  if (result != NULL && core_value_bytes(result, &merged) == 0) {
    length = (long long)merged.length;
    if (merged.length <= acc_cap) memcpy(acc, merged.data, merged.length);
    core_bytes_release(&merged);
  }
  if (length < 0) callback_failed(job, NULL, 0); /* the job fails with MPIMR_ERR_USER */
  Py_XDECREF(result);
  for (int i = 0; i < 3; i++) Py_XDECREF(arguments[i]);
  leave_python(job, state);
  return length;
}

/* Settings from the dict mpimr/__init__.py built (its types checked there). */
static PyObject *setting(PyObject *settings, const char *name) { return PyDict_GetItemString(settings, name); }

static int setting_size(PyObject *settings, const char *name, size_t *out) {
  PyObject *value = setting(settings, name);
  if (value == NULL) return 0;
  unsigned long long n = PyLong_AsUnsignedLongLong(value);
  if (PyErr_Occurred()) return -1;
  *out = (size_t)n;
  return 0;
}

static int setting_int(PyObject *settings, const char *name, int *out) {
  PyObject *value = setting(settings, name);
  if (value == NULL) return 0;
  long n = PyLong_AsLong(value);
  if (PyErr_Occurred()) return -1;
  *out = (int)n;
  return 0;
}

static int setting_u64(PyObject *settings, const char *name, uint64_t *out) {
  PyObject *value = setting(settings, name);
  if (value == NULL) return 0;
  *out = PyLong_AsUnsignedLongLong(value);
  return PyErr_Occurred() ? -1 : 0;
}

static int setting_seconds(PyObject *settings, const char *name, double *out) {
  PyObject *value = setting(settings, name);
  if (value == NULL) return 0;
  *out = PyFloat_AsDouble(value);
  return PyErr_Occurred() ? -1 : 0;
}

/* A path setting, in the file system's encoding (as open() would encode it). */
static int setting_path(PyObject *settings, const char *name, char **out) {
  PyObject *value = setting(settings, name);
  if (value == NULL) return 0;
  PyObject *encoded = PyUnicode_EncodeFSDefault(value);
  if (encoded == NULL) return -1;
  *out = strdup(PyBytes_AS_STRING(encoded));
  Py_DECREF(encoded);
  if (*out == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static int setting_flag(PyObject *settings, const char *name) {
  PyObject *value = setting(settings, name);
  return value != NULL && PyObject_IsTrue(value) == 1;
}

static PyObject *new_reference(PyObject *object) {
  Py_XINCREF(object);
  return object;
}

static const struct {
  const char *name;
  mpimr_combine_fn combine;
} builtin_combiners[] = {{"sum_u64", mpimr_combine_sum_u64}, {"min_u64", mpimr_combine_min_u64},
                         {"max_u64", mpimr_combine_max_u64}, {"sum_f64", mpimr_combine_sum_f64},
                         {"min_f64", mpimr_combine_min_f64}, {"max_f64", mpimr_combine_max_f64}};

/* A dataset setting, open, as a new reference; NULL with an exception set otherwise. */
static core_dataset_object *dataset_setting(PyObject *settings, const char *name) {
  PyObject *value = setting(settings, name);
  if (value == NULL || !PyObject_TypeCheck(value, &core_dataset_type)) {
    PyErr_Format(PyExc_TypeError, "%s must be a mpimr.Dataset", name);
    return NULL;
  }
  core_dataset_object *dataset = (core_dataset_object *)value;
  if (dataset->dataset == NULL) {
    PyErr_Format(PyExc_ValueError, "%s is closed", name);
    return NULL;
  }
  Py_INCREF(value);
  return dataset;
}

static int configure_inputs(core_job *self, PyObject *settings) {
  PyObject *inputs = setting(settings, "inputs");
  if (inputs == NULL) return 0;
  Py_ssize_t count = PyList_Size(inputs);
  if (count < 0) return -1;
  self->inputs = calloc((size_t)count + 1, sizeof *self->inputs);
  if (self->inputs == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *path = PyUnicode_EncodeFSDefault(PyList_GET_ITEM(inputs, i)); /* as open() would */
    if (path == NULL) return -1;
    self->inputs[i] = strdup(PyBytes_AS_STRING(path));
    Py_DECREF(path);
    if (self->inputs[i] == NULL) {
      PyErr_NoMemory();
      return -1;
    }
    self->input_count = (int)i + 1;
  }
  self->config.inputs = (const char *const *)self->inputs;
  self->config.input_count = self->input_count;
  return 0;
}

static int configure_map(core_job *self, PyObject *settings) {
  mpimr_job_config *c = &self->config;
  PyObject *f;
  if ((f = setting(settings, "map")) != NULL) {
    c->map_record = map_record;
  } else if ((f = setting(settings, "map_block")) != NULL) {
    c->map_block = map_block;
  } else if ((f = setting(settings, "map_batches")) != NULL) {
    if (setting_u64(settings, "batch_start", &self->batch_start) != 0 ||
        setting_u64(settings, "batch_stop", &self->batch_stop) != 0 ||
        setting_u64(settings, "index_batch", &self->index_batch) != 0)
      return -1;
    uint64_t indices = self->batch_stop - self->batch_start;
    c->map_local = map_batch;
    c->local_count = indices / self->index_batch + (indices % self->index_batch != 0);
  } else if ((f = setting(settings, "map_pair")) != NULL) {
    c->map_pair = map_pair;
    if ((self->input_dataset = dataset_setting(settings, "input_dataset")) == NULL) return -1;
    c->input_dataset = self->input_dataset->dataset;
  } else {
    PyErr_SetString(PyExc_ValueError, "no map function");
    return -1;
  }
  self->map_function = new_reference(f);
  return 0;
}

static int configure_grouping(core_job *self, PyObject *settings) {
  mpimr_job_config *c = &self->config;
  PyObject *name = setting(settings, "combine_builtin");
  if (name != NULL) {
    const char *text = PyUnicode_AsUTF8(name);
    if (text == NULL) return -1;
    for (size_t i = 0; i < sizeof builtin_combiners / sizeof builtin_combiners[0]; i++)
      if (strcmp(text, builtin_combiners[i].name) == 0) c->combine = builtin_combiners[i].combine;
    if (c->combine == NULL) {
      PyErr_Format(PyExc_ValueError, "unknown combiner %R", name);
      return -1;
    }
  }
  if ((self->combine_function = new_reference(setting(settings, "combine"))) != NULL) c->combine = combine_python;
  if ((self->reduce_function = new_reference(setting(settings, "reduce"))) != NULL) c->reduce = reduce_python;
  if (setting_flag(settings, "reduce_count")) c->reduce = reduce_count;
  c->reduce_in_order = setting_flag(settings, "reduce_in_order");
  int key_order = 0;
  if (setting_int(settings, "key_order", &key_order) != 0) return -1;
  c->key_order = (mpimr_key_order)key_order;
  return 0;
}

static int configure_output(core_job *self, PyObject *settings) {
  mpimr_job_config *c = &self->config;
  int format = 0;
  if (setting_int(settings, "output_format", &format) != 0) return -1;
  c->output_format = (mpimr_output_format)format;
  if (setting_path(settings, "output_dir", &self->output_dir) != 0) return -1;
  c->output_dir = self->output_dir;
  c->overwrite = setting_flag(settings, "overwrite");
  PyObject *formatter = setting(settings, "format_value");
  if (formatter != NULL) {
    const char *text = PyUnicode_AsUTF8(formatter);
    if (text == NULL) return -1;
    c->format_value = strcmp(text, "f64") == 0 ? mpimr_format_f64 : mpimr_format_u64;
  }
  if (setting(settings, "output_dataset") != NULL) {
    if ((self->output_dataset = dataset_setting(settings, "output_dataset")) == NULL) return -1;
    c->output_dataset = self->output_dataset->dataset;
  }
  return 0;
}

static int configure_tuning(core_job *self, PyObject *settings) {
  mpimr_job_config *c = &self->config;
  int transport = 0, pin = 0;
  if (setting_size(settings, "memory_bytes", &c->memory_bytes) != 0 ||
      setting_size(settings, "round_bytes", &c->round_bytes) != 0 ||
      setting_size(settings, "combine_bytes", &c->combine_bytes) != 0 ||
      setting_size(settings, "read_bytes", &c->read_bytes) != 0 ||
      setting_int(settings, "rounds_in_flight", &c->rounds_in_flight) != 0 ||
      setting_int(settings, "peer_window", &c->peer_window) != 0 ||
      setting_int(settings, "ranks_per_node", &c->ranks_per_node) != 0 ||
      setting_int(settings, "transport", &transport) != 0 || setting_int(settings, "pin", &pin) != 0 ||
      setting_seconds(settings, "stall_warning_seconds", &c->stall_warning_seconds) != 0 ||
      setting_seconds(settings, "stall_timeout_seconds", &c->stall_timeout_seconds) != 0 ||
      setting_path(settings, "spill_dir", &self->spill_dir) != 0 ||
      setting_path(settings, "trace_path", &self->trace_path) != 0)
    return -1;
  c->transport = (mpimr_transport)transport;
  c->pin = (mpimr_pin_mode)pin;
  c->spill_dir = self->spill_dir;
  c->trace_path = self->trace_path;
  c->verbose = setting_flag(settings, "verbose");
  c->dynamic_map = setting_flag(settings, "dynamic_map"); /* the Python layer always says */
  PyObject *workspace = setting(settings, "workspace");
  if (workspace != NULL) {
    if (!PyObject_TypeCheck(workspace, &core_workspace_type)) {
      PyErr_SetString(PyExc_TypeError, "workspace must be a mpimr.Workspace");
      return -1;
    }
    if (((core_workspace_object *)workspace)->workspace == NULL) {
      PyErr_SetString(PyExc_ValueError, "the workspace is closed");
      return -1;
    }
    self->workspace = (core_workspace_object *)new_reference(workspace);
    self->workspace->open_jobs++;
    c->workspace = self->workspace->workspace;
  }
  return 0;
}

/* Skipping bad records and the progress display. */
static int configure_watch(core_job *self, PyObject *settings) {
  mpimr_job_config *c = &self->config;
  int progress = 0;
  if (setting_u64(settings, "max_bad_records", &c->max_bad_records) != 0 ||
      setting_path(settings, "bad_records_path", &self->bad_records_path) != 0 ||
      setting_int(settings, "progress", &progress) != 0 ||
      setting_seconds(settings, "progress_interval_seconds", &c->progress_interval_seconds) != 0)
    return -1;
  c->bad_records_path = self->bad_records_path;
  c->progress = (mpimr_progress)progress;
  self->bad_record_type = new_reference(setting(settings, "bad_record"));
  return 0;
}

/* Job(comm_handle, settings): reads the settings; create() then makes the C job (collective). */
static int job_init(PyObject *object, PyObject *args, PyObject *kwargs) {
  core_job *self = (core_job *)object;
  long long handle;
  PyObject *settings;
  if (kwargs != NULL && PyDict_Size(kwargs) > 0) {
    PyErr_SetString(PyExc_TypeError, "Job(comm_handle, settings) takes no keywords");
    return -1;
  }
  if (!PyArg_ParseTuple(args, "LO!:Job", &handle, &PyDict_Type, &settings)) return -1;
  if (self->made) {
    PyErr_SetString(PyExc_RuntimeError, "a job is made once");
    return -1;
  }
  self->made = 1;
  self->comm = MPI_Comm_f2c((MPI_Fint)handle);
  if (MPI_Comm_rank(self->comm, &self->rank) != MPI_SUCCESS) {
    PyErr_SetString(PyExc_ValueError, "not a valid communicator");
    return -1;
  }
  mpimr_job_config_init(&self->config);
  self->config.user = self;
  if (configure_inputs(self, settings) != 0 || configure_map(self, settings) != 0 ||
      configure_grouping(self, settings) != 0 || configure_output(self, settings) != 0 ||
      configure_tuning(self, settings) != 0 || configure_watch(self, settings) != 0)
    return -1;
  /* The C job will point to the datasets: they must not be freed before it is. */
  if (self->input_dataset) self->input_dataset->attached_jobs++;
  if (self->output_dataset) self->output_dataset->attached_jobs++;
  self->datasets_attached = 1;
  return 0;
}

/* Releases the GIL for a call into the library that may call back. */
#define RUN_IN_C(self, statement)                                                                             \
  do {                                                                                                        \
    (self)->released = PyEval_SaveThread();                                                                   \
    statement;                                                                                                \
    PyEval_RestoreThread((self)->released);                                                                   \
    (self)->released = NULL;                                                                                  \
  } while (0)

static mpimr_job *live_job(core_job *self) {
  if (self->busy) {
    PyErr_SetString(PyExc_RuntimeError, "the job is running in another call (one of its own callbacks, a signal "
                                        "handler or another thread): a job is used by one call at a time");
    return NULL;
  }
  if (self->job == NULL) PyErr_SetString(PyExc_ValueError, "the job is closed or was never made");
  return self->job;
}

static void count_running(core_job *self, int delta) {
  if (self->input_dataset) self->input_dataset->running_jobs += delta;
  if (self->output_dataset) {
    self->output_dataset->running_jobs += delta;
    self->output_dataset->filling_jobs += delta;
  }
  self->counted_running = delta > 0;
}

static void note_finished(core_job *self) {
  self->finished = 1;
  if (self->counted_running) count_running(self, -1);
}

static PyObject *job_create(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  if (!self->made || self->job != NULL || self->finished || self->busy) {
    PyErr_SetString(PyExc_RuntimeError, "create() is called once, after Job()");
    return NULL;
  }
  int rc;
  self->busy = 1;
  RUN_IN_C(self, rc = mpimr_job_create(&self->job, self->comm, &self->config));
  self->busy = 0;
  if (rc != MPIMR_OK && self->job == NULL) {
    /* Nothing to explain the failure with: keep a job-less error. */
    self->finished = 1;
  }
  return PyLong_FromLong(rc);
}

static PyObject *job_start(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  mpimr_job *job = live_job(self);
  if (job == NULL) return NULL;
  if (self->started) {
    PyErr_SetString(PyExc_RuntimeError, "a job runs once");
    return NULL;
  }
  self->started = 1;
  count_running(self, +1);
  int rc;
  self->busy = 1;
  RUN_IN_C(self, rc = mpimr_job_start(job));
  self->busy = 0;
  if (rc != MPIMR_OK) note_finished(self);
  return PyLong_FromLong(rc);
}

/* Checks Python's signals between stretches of the job: a KeyboardInterrupt (or another
 * exception a signal handler raised) interrupts the job on this rank. */
static void check_signals(core_job *self) {
  if (PyErr_CheckSignals() == 0) return;
  PyObject *exception = take_raised_exception();
  mpimr_job_interrupt(self->job, Py_TYPE(exception)->tp_name);
  if (self->exception == NULL) self->exception = exception;
  else Py_DECREF(exception);
}

static int require_started(core_job *self) {
  if (live_job(self) == NULL) return -1;
  if (!self->started) {
    PyErr_SetString(PyExc_RuntimeError, "the job was not started (call start() first)");
    return -1;
  }
  return 0;
}

static PyObject *job_test(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  if (require_started(self) != 0) return NULL;
  int rc, done = 0;
  self->busy = 1;
  RUN_IN_C(self, rc = mpimr_job_test(self->job, &done));
  if (done) note_finished(self);
  else check_signals(self);
  self->busy = 0;
  return Py_BuildValue("(iO)", rc, done ? Py_True : Py_False);
}

static PyObject *job_wait(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  if (require_started(self) != 0) return NULL;
  int rc, done = 0;
  self->busy = 1; /* a signal handler run by check_signals() cannot close the job either */
  for (;;) {
    RUN_IN_C(self, rc = mpimr_job_wait_for(self->job, 0.05, &done));
    if (done) break;
    check_signals(self);
  }
  self->busy = 0;
  note_finished(self);
  return PyLong_FromLong(rc);
}

static PyObject *job_take_exception(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  PyObject *exception = self->exception;
  self->exception = NULL;
  if (exception == NULL) Py_RETURN_NONE;
  return exception;
}

static PyObject *job_error_message(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  return PyUnicode_DecodeUTF8(mpimr_job_error_message(self->job), (Py_ssize_t)strlen(mpimr_job_error_message(self->job)),
                              "backslashreplace");
}

#define STAT_FIELD(name, kind) {#name, offsetof(mpimr_job_stats, name), kind}
static const struct {
  const char *name;
  size_t offset;
  char kind; /* 'd' double, 'u' uint64_t */
} stat_fields[] = {
    STAT_FIELD(time_total, 'd'),         STAT_FIELD(time_map, 'd'),           STAT_FIELD(time_shuffle, 'd'),
    STAT_FIELD(time_reduce, 'd'),        STAT_FIELD(time_output, 'd'),        STAT_FIELD(time_send_wait, 'd'),
    STAT_FIELD(input_bytes, 'u'),        STAT_FIELD(input_records, 'u'),      STAT_FIELD(pairs_emitted, 'u'),
    STAT_FIELD(bytes_emitted, 'u'),      STAT_FIELD(pairs_sent, 'u'),         STAT_FIELD(bytes_sent, 'u'),
    STAT_FIELD(pairs_received, 'u'),     STAT_FIELD(bytes_received, 'u'),     STAT_FIELD(rounds, 'u'),
    STAT_FIELD(keys_reduced, 'u'),       STAT_FIELD(pairs_output, 'u'),       STAT_FIELD(bytes_output, 'u'),
    STAT_FIELD(map_table_bytes, 'u'),    STAT_FIELD(reduce_table_bytes, 'u'), STAT_FIELD(buffer_bytes, 'u'),
    STAT_FIELD(peak_rss_bytes, 'u'),     STAT_FIELD(memory_budget_bytes, 'u'), STAT_FIELD(peak_memory_bytes, 'u'),
    STAT_FIELD(spill_bytes, 'u'),        STAT_FIELD(spill_runs, 'u'),         STAT_FIELD(merge_passes, 'u'),
    STAT_FIELD(time_sample, 'd'),        STAT_FIELD(sample_pairs, 'u'),       STAT_FIELD(bad_records, 'u'),
    STAT_FIELD(heaviest_key_pairs, 'u'),  STAT_FIELD(chunks_taken, 'u'),      STAT_FIELD(chunks_given, 'u'),
};

static PyObject *job_stats(PyObject *object, PyObject *unused) {
  (void)unused;
  mpimr_job *job = live_job((core_job *)object);
  if (job == NULL) return NULL;
  const char *stats = (const char *)mpimr_job_get_stats(job);
  PyObject *dict = PyDict_New();
  for (size_t i = 0; dict != NULL && i < sizeof stat_fields / sizeof stat_fields[0]; i++) {
    PyObject *value;
    if (stat_fields[i].kind == 'd') {
      double d;
      memcpy(&d, stats + stat_fields[i].offset, sizeof d);
      value = PyFloat_FromDouble(d);
    } else {
      uint64_t u;
      memcpy(&u, stats + stat_fields[i].offset, sizeof u);
      value = PyLong_FromUnsignedLongLong(u);
    }
    if (value == NULL || PyDict_SetItemString(dict, stat_fields[i].name, value) != 0) Py_CLEAR(dict);
    Py_XDECREF(value);
  }
  return dict;
}

/* Raises for a failed mpimr_job_counter() or mpimr_job_each_counter(). */
static void *counters_failed(int status) {
  if (status == MPIMR_ERR_STATE)
    PyErr_SetString(PyExc_RuntimeError,
                    "a job's counters are read once it has succeeded (they are summed over "
                    "the ranks at its end)");
  else if (status == MPIMR_ERR_NOMEM)
    PyErr_NoMemory();
  else
    PyErr_Format(PyExc_RuntimeError, "the job's counters could not be read: %s", mpimr_strerror(status));
  return NULL;
}

typedef struct counter_visit {
  PyObject *counters; /* the dict being filled */
  int failed;
} counter_visit;

static void visit_counter(void *context, const char *name, uint64_t value) {
  counter_visit *visit = context;
  if (visit->failed) return;
  PyObject *number = PyLong_FromUnsignedLongLong(value);
  visit->failed = number == NULL || PyDict_SetItemString(visit->counters, name, number) != 0;
  Py_XDECREF(number);
}

/* counters() -> {name: total over ranks} of a job that succeeded (local). */
static PyObject *job_counters(PyObject *object, PyObject *unused) {
  (void)unused;
  mpimr_job *job = live_job((core_job *)object);
  if (job == NULL) return NULL;
  counter_visit visit = {PyDict_New(), 0};
  if (visit.counters == NULL) return NULL;
  int rc = mpimr_job_each_counter(job, visit_counter, &visit);
  if (rc < 0 || visit.failed) {
    Py_DECREF(visit.counters);
    return rc < 0 ? counters_failed(rc) : NULL;
  }
  return visit.counters;
}

/* counter(name) -> the total over ranks of one counter of a job that succeeded (local). */
static PyObject *job_counter(PyObject *object, PyObject *name) {
  mpimr_job *job = live_job((core_job *)object);
  if (job == NULL) return NULL;
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "counter: a counter's name must be a str, not %s", Py_TYPE(name)->tp_name);
    return NULL;
  }
  Py_ssize_t length;
  const char *text = PyUnicode_AsUTF8AndSize(name, &length);
  if (text == NULL) PyErr_Clear();
  if (text == NULL || strlen(text) != (size_t)length) text = ""; /* no counter has such a name, or none */
  uint64_t value;
  int rc = mpimr_job_counter(job, text, &value);
  if (rc == MPIMR_ERR_NOT_FOUND) {
    PyErr_SetObject(PyExc_KeyError, name);
    return NULL;
  }
  return rc == MPIMR_OK ? PyLong_FromUnsignedLongLong(value) : counters_failed(rc);
}

/* report(json_path): the summary line as text on rank 0 (None elsewhere); collective. */
static PyObject *job_report(PyObject *object, PyObject *args) {
  core_job *self = (core_job *)object;
  const char *json_path = NULL;
  if (!PyArg_ParseTuple(args, "z:report", &json_path)) return NULL;
  if (live_job(self) == NULL) return NULL;
  char *text = NULL;
  size_t length = 0;
  FILE *stream = open_memstream(&text, &length);
  if (stream == NULL) return PyErr_NoMemory();
  int rc;
  self->busy = 1;
  RUN_IN_C(self, rc = mpimr_job_report(self->job, stream, json_path));
  self->busy = 0;
  fclose(stream);
  PyObject *result;
  if (rc != MPIMR_OK) {
    PyErr_Format(PyExc_OSError, "the job's report could not be written: %s (%s)", mpimr_strerror(rc),
                 json_path ? json_path : "no JSON file");
    result = NULL;
  } else if (self->rank == 0) {
    result = PyUnicode_DecodeUTF8(text, (Py_ssize_t)length, "backslashreplace");
  } else {
    result = Py_NewRef(Py_None);
  }
  free(text);
  return result;
}

static void free_job(core_job *self) {
  if (self->datasets_attached) {
    if (self->input_dataset) self->input_dataset->attached_jobs--;
    if (self->output_dataset) self->output_dataset->attached_jobs--;
    self->datasets_attached = 0;
  }
  Py_CLEAR(self->counter_handles); /* they point into the job */
  if (self->job != NULL) {
    if (core_mpi_usable()) mpimr_job_free(self->job); /* after MPI_Finalize its communicator leaks */
    self->job = NULL;
  }
  if (self->counted_running) count_running(self, -1);
  if (self->workspace != NULL) {
    self->workspace->open_jobs--;
    Py_CLEAR(self->workspace);
  }
}

static PyObject *job_close(PyObject *object, PyObject *unused) {
  (void)unused;
  core_job *self = (core_job *)object;
  if (self->busy) return (PyObject *)live_job(self); /* NULL, with the error that says why */
  free_job(self);
  Py_RETURN_NONE;
}

static void job_dealloc(PyObject *object) {
  core_job *self = (core_job *)object;
  free_job(self);
  Py_XDECREF(self->map_function);
  Py_XDECREF(self->reduce_function);
  Py_XDECREF(self->combine_function);
  Py_XDECREF(self->input_dataset);
  Py_XDECREF(self->output_dataset);
  Py_XDECREF(self->exception);
  Py_XDECREF(self->bad_record_type);
  for (int i = 0; i < self->input_count; i++) free(self->inputs[i]);
  free(self->inputs);
  free(self->output_dir);
  free(self->spill_dir);
  free(self->trace_path);
  free(self->bad_records_path);
  Py_TYPE(object)->tp_free(object);
}

static PyMethodDef job_methods[] = {
    {"create", job_create, METH_NOARGS, "create() -> status (collective)"},
    {"start", job_start, METH_NOARGS, "start() -> status (collective)"},
    {"test", job_test, METH_NOARGS, "test() -> (status, done)"},
    {"wait", job_wait, METH_NOARGS, "wait() -> status"},
    {"take_exception", job_take_exception, METH_NOARGS, "the first exception a callback raised, or None"},
    {"error_message", job_error_message, METH_NOARGS, "this rank's error message"},
    {"stats", job_stats, METH_NOARGS, "this rank's figures as a dict"},
    {"counters", job_counters, METH_NOARGS, "counters() -> {name: total over ranks} (after success)"},
    {"counter", job_counter, METH_O, "counter(name) -> total over ranks (KeyError if none)"},
    {"report", job_report, METH_VARARGS, "report(json_path) -> summary text on rank 0, else None"},
    {"close", job_close, METH_NOARGS, "frees the C job"},
    {NULL, NULL, 0, NULL}};

PyTypeObject core_job_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpimr._core.Job",
    .tp_basicsize = sizeof(core_job),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A mpimr_job whose callbacks call Python (the C side of mpimr.Job).",
    .tp_init = job_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = job_dealloc,
    .tp_methods = job_methods,
};
