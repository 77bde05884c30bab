/*
 * python/core.h — the parts of the Python extension `mpimr._core` that its files share: turning
 * Python objects into key and value bytes (one pair, or many from arrays and sequences), the
 * Emitter and Values objects handed to callbacks, and the Dataset object jobs read and fill.
 * The Python-facing API, its checks and its exceptions are in mpimr/__init__.py; this layer
 * trusts the types that file has checked and keeps every C object alive while C uses it.
 */
#ifndef MPIMR_PYTHON_CORE_H
#define MPIMR_PYTHON_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mpimr/mpimr.h"

/* Where converted pairs go: mpimr_emit() or mpimr_dataset_add(). Returns an mpimr status. */
typedef int (*core_pair_sink)(void *target, const void *key, size_t key_len, const void *value,
                              size_t value_len);

/* One key or value as bytes: a pointer into a Python object (held by `view` when it is a buffer)
 * or into `scratch` (numbers). */
typedef struct core_bytes {
  const char *data;
  size_t length;
  Py_buffer view;
  int has_view;
  unsigned char scratch[8];
} core_bytes;

/* Converts a key (bytes-like, str, int as 8 bytes big-endian) or a value (bytes-like, str, int as
 * 8 bytes little-endian, float as an IEEE double). 0, or -1 with TypeError/ValueError set. */
int core_key_bytes(PyObject *object, core_bytes *out);
int core_value_bytes(PyObject *object, core_bytes *out);
void core_bytes_release(core_bytes *item);

/* Sends `keys[i], values[i]` to `sink` for every i (the forms Emitter.many documents). Returns
 * 0, or -1 with a Python exception set; `*status` receives the sink's first failure (then the
 * pairs after it are not sent, and 0 is returned). */
int core_put_many(PyObject *keys, PyObject *values, core_pair_sink sink, void *target, int *status);

/* A 1-D array of integer offsets, read in place (any stride, any native integer type). */
typedef struct core_offsets {
  Py_buffer view;
  char kind; /* 's' signed, 'u' unsigned */
} core_offsets;

/* Opens `object` as offsets (0, or -1 with TypeError set); release with PyBuffer_Release(&o->view). */
int core_offsets_open(PyObject *object, const char *what, core_offsets *o);

/* Sends `data[starts[i]:stops[i]], values[i]` to `sink` for every i: keys are pointers into
 * `data`, not copies. Returns as core_put_many() does; an offset out of [0, length] or a start
 * after its stop is a ValueError. */
int core_put_slices(const char *data, size_t length, const core_offsets *starts, const core_offsets *stops,
                    PyObject *values, core_pair_sink sink, void *target, int *status);

/* mpimr_emit() as a sink. */
int core_emit_sink(void *target, const void *key, size_t key_len, const void *value, size_t value_len);

/* The job object as the callbacks see it (core_job.c). */
typedef struct core_job core_job;

/* The Emitter handed to map and reduce functions: valid while `out` is set. */
typedef struct {
  PyObject_HEAD
  mpimr_emitter *out;
  core_job *job;
} core_emitter_object;

/* The values of one key, handed to a reducer: valid while `values` is set. */
typedef struct {
  PyObject_HEAD
  mpimr_values *values;
} core_values_object;

/* A dataset, and the jobs that point to it: it is not freed while a job made with it exists
 * (`attached_jobs`), does not change while a started, unfinished job reads or fills it
 * (`running_jobs`), and is not read while such a job fills it (`filling_jobs`). */
typedef struct {
  PyObject_HEAD
  mpimr_dataset *dataset;
  int attached_jobs;
  int running_jobs;
  int filling_jobs;
} core_dataset_object;

/* A workspace; `open_jobs` counts the jobs made with it and not yet freed. */
typedef struct {
  PyObject_HEAD
  mpimr_workspace *workspace;
  int open_jobs;
} core_workspace_object;

extern PyTypeObject core_emitter_type;
extern PyTypeObject core_values_type;
extern PyTypeObject core_dataset_type;
extern PyTypeObject core_dataset_pairs_type;
extern PyTypeObject core_workspace_type;
extern PyTypeObject core_job_type;

/* Raised inside a callback when an emit failed because the job is stopping; the callback's
 * caller turns it back into the mpimr status. */
extern PyObject *core_stopped_error;

/* Readies the types core_job.c keeps to itself (0, or -1 with an exception set). */
int core_job_types_ready(void);

/* Called by an emitter when emitting failed with `status` (records it on the job). */
void core_job_note_emit_failure(core_job *job, int status);

/* The counter called `name` (a str) of the job whose map or reduce call was given `out`, from the
 * job's cache of handles by name, or found (and cached) the first time; NULL with ValueError (a bad
 * name), TypeError or MemoryError set. */
mpimr_counter *core_job_counter(core_job *job, mpimr_emitter *out, PyObject *name);

/* Whether MPI is still usable (initialised and not finalised): objects freed after
 * MPI_Finalize leak their communicators instead of freeing them. */
int core_mpi_usable(void);

#endif
