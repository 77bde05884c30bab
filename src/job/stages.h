/*
 * job/stages.h — what each stage of the job pipeline (one file of src/job each) offers the
 * others. The data flow reads top to bottom: config and failure are used everywhere; emit and
 * map feed the shuffle; receive and store take its rounds; collect and reduce write the part;
 * the store (job/store.h) holds
 * the pairs from emit to reduce; pipeline.c runs the stages as one future and api.c holds the public entry points. Every
 * function here takes the whole job (job_internal.h).
 */
#ifndef MPIMR_JOB_STAGES_H
#define MPIMR_JOB_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "job/job_internal.h"
#include "job/output.h"
#include "kv/merge.h"
#include "kv/sort.h"

/* ---- failure.c: failures and agreement --------------------------------------------------------- */

/* How much of a key error messages show. */
enum { JOB_KEY_SHOWN_BYTES = 48 };

void job_set_error(mpimr_job *job, const char *format, ...) __attribute__((format(printf, 2, 3)));
int job_check_signal(mpimr_job *job);
void job_note_remote_failure(mpimr_job *job);
int job_agree(mpimr_job *job, int status);
void job_show_key(const unsigned char *key, size_t key_len, char *text, size_t size);

/* ---- config.c: settings ------------------------------------------------------------------------ */

int job_config_validate(const mpimr_job_config *c, char *why, size_t why_size);
/**
 * Copies the caller's configuration into `adopted` as this library's struct:
 * `given->struct_size` bytes of it, the fields a program built against an
 * older mpimr does not know at their defaults. Returns 0 (and only defaults)
 * if the size is not one this library can take.
 */
int job_config_adopt(const mpimr_job_config *given, mpimr_job_config *adopted);
const char *job_spill_parent(const mpimr_job_config *c);
size_t job_spill_buffer_bytes(const mpimr_job *job);
void job_apply_budget(mpimr_job *job);

/* ---- emit.c: the map side's shared steps (each store's emit is in its file, job/store.h) ----- */

int job_emit_failed(mpimr_job *job, int status, const char *what);
void job_flush_when_map_side_full(mpimr_job *job);
size_t job_map_table_entries(const mpimr_job *job);
size_t job_table_start_entries(const mpimr_job *job);
int job_lay_out_round(mpimr_job *job, const size_t *dest_bytes, size_t total, send_set **set);
int job_drain_map_side(mpimr_job *job);

/* ---- map.c: the map future --------------------------------------------------------------------- */

void job_describe_map_position(const map_task *m, char *text, size_t size);
int job_map_record_slice(map_task *m, int *more);
int job_map_index_slice(map_task *m, int *more);
int job_map_pair_slice(map_task *m, int *more);
mpimr_poll_result job_map_poll(mpimr_future *self, mpimr_executor *ex);

/* ---- sample.c: the sample of a globally ordered job -------------------------------------------- */

/* The sample's own map task, the emitter its map function writes to (job_emit_to_sample), and the
 * sample that takes the pairs. */
typedef struct sample_task {
  map_task map;
  mpimr_emitter emitter;
  range_sample *sample;
} sample_task;

int job_emit_to_sample(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len);
int job_choose_splitters(mpimr_job *job);

/* ---- store.c, store_*.c: the stores (job/store.h); the shuffle's receive callback ------------- */

int job_receive(void *context, unsigned char *data, size_t length, size_t capacity, int source, int *kept);

/* ---- memory.c: memory, the budget's spill decisions, background writes ------------------------ */

size_t job_store_memory(const mpimr_job *job);
void job_note_peak(mpimr_job *job, size_t extra);
void job_note_memory(mpimr_job *job);
int job_spill_store(mpimr_job *job);
/** Compacts kept rounds (`kept_bytes` of them) into a sorted run in memory when that pays. */
int job_compact_store(mpimr_job *job, size_t kept_bytes);
int job_spill_if_needed(mpimr_job *job, size_t pairs, size_t incoming);

/* ---- collect.c: reducer output and part formats ------------------------------------------------ */

/* Where reducers' output pairs collect before they are written (in key order). When they pass
 * the output's share of the budget they are sorted and spilled as a run (job->output_spill). */
typedef struct output_collector {
  mpimr_job *job;
  unsigned char *data;
  size_t used;
  size_t capacity;
  size_t pairs;
  int sorted;
  size_t last_key_offset;
  size_t last_key_len;
} output_collector;

/* Scratch space for formatting values as text. */
typedef struct format_buffer {
  char *text;
  size_t size;
} format_buffer;

size_t job_output_share(const mpimr_job *job);
int job_sort_all(mpimr_job *job, sort_item *items, size_t count, sort_ties ties);
int job_index_output(mpimr_job *job, output_collector *out, sort_item **items);
/* MPIMR_OK, or the failure (set on the job) of a reduce output pair over MPIMR_MAX_PAIR_BYTES. */
int job_check_output_pair(mpimr_job *job, size_t key_len, size_t value_len);
int job_collect_output(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len);
int job_write_pair(mpimr_job *job, part_writer *w, const unsigned char *key, size_t key_len,
                   const unsigned char *value, size_t value_len, format_buffer *scratch);
int job_write_items(mpimr_job *job, part_writer *w, const sort_item *items, size_t count,
                    format_buffer *scratch);

/* ---- reduce.c: reduce and the part ------------------------------------------------------------- */

/* Reducer output written as it comes (reduce_in_order): the part writer and the last key written. */
typedef struct ordered_output {
  mpimr_job *job;
  part_writer *writer;
  format_buffer *scratch;
  unsigned char *last_key;
  size_t last_len;
  size_t last_capacity;
  int any;
} ordered_output;

int job_write_in_order(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len);
int job_reduce_and_write(mpimr_job *job, part_writer *w);

#endif
