/*
 * job/map.c — the map future: one slice of input (records of files, indices, a dataset's pairs)
 * per poll, sealing a round whenever the send sets fill; failures name the input and position.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "job/budget.h"
#include "job/output.h"
#include "job/stages.h"
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

/* Indices an integer-range or local input maps per slice. */
enum { INDICES_PER_SLICE = 4096 };

static size_t max_record_bytes(const mpimr_job *job) { return job->memory_budget / 4; }

static int input_failed(mpimr_job *job, const record_reader *reader, int status) {
  char cause[256];
  record_reader_describe_error(reader, status, cause, sizeof cause);
  job_set_error(job, "input '%s': %s", reader->path, cause);
  return status;
}

/* Where map is: " (input 'PATH' at byte N)" or " (index N)" for the messages of map failures. */
void job_describe_map_position(const map_task *m, char *text, size_t size) {
  const mpimr_job *job = m->job;
  text[0] = '\0';
  if (job->config.map_index != NULL)
    snprintf(text, size, " (index %" PRIu64 ")", m->next_index);
  else if (job->config.map_local != NULL)
    snprintf(text, size, " (local record %" PRIu64 ")", m->next_index);
  else if (job->config.map_pair != NULL)
    snprintf(text, size, " (pair %" PRIu64 " of the input dataset)", m->next_pair);
  else if (m->reader_open)
    snprintf(text, size, " (input '%s' at byte %" PRIu64 ")", m->reader.path, m->reader.record_offset);
}

/* Where the record being mapped is, as _bad_records lists it: the input's path (or "index", "local",
 * "pair") and its byte offset (or number). */
static const char *bad_record_place(const map_task *m, uint64_t *position) {
  const mpimr_job *job = m->job;
  if (job->config.map_index != NULL || job->config.map_local != NULL) {
    *position = m->next_index;
    return job->config.map_index != NULL ? "index" : "local";
  }
  if (job->config.map_pair != NULL) {
    *position = m->next_pair;
    return "pair";
  }
  *position = m->reader_open ? m->reader.record_offset : 0;
  return m->reader_open ? m->reader.path : "input";
}

/*
 * A map call returned non-zero. One that failed because emit failed passes that status on. One that
 * failed through mpimr_fail() with max_bad_records set (its message is waiting in job->bad) has its
 * record skipped (MPIMR_OK: map goes on) until this rank alone has skipped more than the limit; the
 * sample's map (sample.c) skips without counting, since the job's map meets the same record again.
 * Any other is a user error.
 */
static int map_call_failed(map_task *m, int returned) {
  mpimr_job *job = m->job;
  if (job->emit_status != MPIMR_OK) return job->emit_status;
  char position[320];
  job_describe_map_position(m, position, sizeof position);
  bad_record_log *bad = &job->bad;
  if (bad->limit > 0 && bad->message[0] != '\0') {
    if (m != &job->map) {
      bad->message[0] = '\0';
      return MPIMR_OK;
    }
    uint64_t offset;
    const char *where = bad_record_place(m, &offset);
    if (bad_record_log_add(bad, where, offset, returned, position) != 0) {
      job_set_error(job, "map: out of memory listing a skipped record%s", position);
      return MPIMR_ERR_NOMEM;
    }
    if (!bad_record_log_over(bad)) return MPIMR_OK;
    job_set_error(job, "map: %s; %" PRIu64 " bad records on this rank, more than max_bad_records (%" PRIu64 ")",
                  bad->last, bad->count, bad->limit);
    return MPIMR_ERR_USER;
  }
  job_set_error(job, "map: the map function returned %d%s", returned, position);
  return MPIMR_ERR_USER;
}

/* Maps records until a slice's worth of input is read, a round is due, or the input ends. */
int job_map_record_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  uint64_t consumed = 0;
  *more = 1;
  while (consumed < m->read_bytes && !m->needs_flush) {
    if (!m->reader_open) {
      uint64_t chunk;
      while (m->next_piece == m->piece_count && m == &job->map && job->dynamic &&
             work_share_take(&job->share, &chunk)) {
        /* Dynamic map: the next chunk of this rank's range (its own, or one given by another rank);
         * a chunk in which no record starts (a small input, cut finer than its records) is passed. */
        m->piece_count = input_split(&job->inputs, (int)chunk, job->nranks * CHUNKS_PER_RANK, m->pieces);
        m->next_piece = 0;
      }
      if (m->next_piece == m->piece_count) {
        *more = 0;
        break;
      }
      const input_piece *piece = &m->pieces[m->next_piece];
      const char *path = job->inputs.files[piece->file].path;
      int rc = record_reader_open(&m->reader, path, piece->start, piece->end, m->read_bytes);
      if (rc != MPIMR_OK) {
        input_failed(job, &m->reader, rc);
        record_reader_close(&m->reader);
        return rc;
      }
      record_reader_limit(&m->reader, job->inputs.files[piece->file].size, max_record_bytes(job));
      record_reader_expect(&m->reader, &job->inputs.files[piece->file].identity);
      m->reader_open = 1;
    }
    const unsigned char *record;
    size_t length;
    int rc = job->config.map_block ? record_reader_next_block(&m->reader, &record, &length, &consumed)
                                   : record_reader_next(&m->reader, &record, &length, &consumed);
    if (rc == 0) {
      record_reader_close(&m->reader);
      m->reader_open = 0;
      m->next_piece++;
      continue;
    }
    if (rc < 0) return input_failed(job, &m->reader, rc);
    m->figures->input_records++;
    m->padded_begin = (uintptr_t)record;
    m->padded_span = length + RECORD_READER_PADDING - 7;
    int returned = job->config.map_block
                       ? job->config.map_block(job->config.user, record, length, m->emitter)
                       : job->config.map_record(job->config.user, record, length, m->emitter);
    m->padded_begin = 0;
    m->padded_span = 0;
    if (returned != 0) {
      if ((rc = map_call_failed(m, returned)) != MPIMR_OK) return rc;
    } else if (job->bad.message[0] != '\0') {
      job->bad.message[0] = '\0'; /* mpimr_fail() called, yet 0 returned: nothing to skip */
    }
  }
  m->figures->input_bytes += consumed;
  return job->store->flush_staged(job);
}

/* Dynamic map of map_index: once this rank's range is done, the next chunk it holds (its own or one
 * given by another rank), chunk c being [n c / C, n (c + 1) / C) of C = nranks * CHUNKS_PER_RANK (a
 * rank's own 16 cover the range a static split gives it). Chunks may be empty when n < C. */
static void take_index_chunk(map_task *m) {
  mpimr_job *job = m->job;
  uint64_t chunk, n = job->config.index_count, chunks = (uint64_t)job->nranks * CHUNKS_PER_RANK;
  while (m->next_index == m->end_index && m == &job->map && job->dynamic && job->config.map_index &&
         work_share_take(&job->share, &chunk)) {
    m->next_index = (uint64_t)(((__uint128_t)n * chunk) / chunks);
    m->end_index = (uint64_t)(((__uint128_t)n * (chunk + 1)) / chunks);
  }
}

int job_map_index_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  take_index_chunk(m);
  uint64_t stop = m->next_index + INDICES_PER_SLICE;
  if (stop > m->end_index) stop = m->end_index;
  mpimr_map_index_fn map = job->config.map_index ? job->config.map_index : job->config.map_local;
  while (m->next_index < stop && !m->needs_flush) {
    int returned = map(job->config.user, m->next_index, m->emitter);
    int rc = returned != 0 ? map_call_failed(m, returned) : MPIMR_OK; /* naming the index that failed */
    if (rc != MPIMR_OK) return rc;
    job->bad.message[0] = '\0'; /* a message mpimr_fail() left although 0 was returned */
    m->next_index++;
    m->figures->input_records++;
  }
  take_index_chunk(m);
  *more = m->next_index < m->end_index;
  return job->store->flush_staged(job);
}

/* Maps the input dataset's pairs until a slice's worth of bytes, a round is due, or the end. */
int job_map_pair_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  size_t start = m->pair_cursor.offset;
  const void *key, *value;
  size_t key_len, value_len;
  while (m->next_pair < m->end_pair && !m->needs_flush &&
         m->pair_cursor.offset - start < m->read_bytes &&
         mpimr_dataset_next(job->config.input_dataset, &m->pair_cursor, &key, &key_len, &value, &value_len)) {
    int returned = job->config.map_pair(job->config.user, key, key_len, value, value_len, m->emitter);
    int rc = returned != 0 ? map_call_failed(m, returned) : MPIMR_OK; /* naming the pair that failed */
    if (rc != MPIMR_OK) return rc;
    job->bad.message[0] = '\0'; /* a message mpimr_fail() left although 0 was returned */
    m->next_pair++;
    m->figures->input_records++;
  }
  m->figures->input_bytes += m->pair_cursor.offset - start;
  *more = m->next_pair < m->end_pair;
  return job->store->flush_staged(job);
}

/* One slice of whichever input the job has. */
static int map_slice(map_task *m, int *more) {
  if (m->job->indexed_input) return job_map_index_slice(m, more);
  if (m->job->config.map_pair) return job_map_pair_slice(m, more);
  return job_map_record_slice(m, more);
}

static mpimr_poll_result map_finish(map_task *m, mpimr_executor *ex, int status) {
  if (m->reader_open) {
    record_reader_close(&m->reader);
    m->reader_open = 0;
  }
  /* Dynamic map: this rank asks no more, and joins the barrier that ends the servers (on every path:
   * the other ranks wait for it). A barrier it could not join would leave the servers waiting: the
   * job then ends out of step, whatever had failed before. */
  if (m->job->dynamic && work_share_finish(&m->job->share, ex) != MPIMR_OK) {
    if (status == MPIMR_OK) job_set_error(m->job, "map: MPI_Ibarrier of the dynamic map failed");
    status = MPIMR_ERR_MPI;
  }
  m->job->stats.chunks_taken = m->job->share.chunks_taken;
  m->job->stats.chunks_given = m->job->share.chunks_given;
  m->base.result = status;
  shuffle_finish_map(m->job->shuffle, ex, status);
  return MPIMR_READY;
}

mpimr_poll_result job_map_poll(mpimr_future *self, mpimr_executor *ex) {
  map_task *m = (map_task *)self;
  mpimr_job *job = m->job;
  if (m->stealing) { /* dynamic map: another rank's answer */
    if (work_share_asking(&job->share)) return MPIMR_PENDING;
    m->stealing = 0;
    if (work_share_answered(&job->share) < 0) {
      job_set_error(job, "map: asking rank %d for input failed", job->share.victim);
      return map_finish(m, ex, MPIMR_ERR_MPI);
    }
  }
  if (job->dynamic && job->share.failed) { /* out of step: no answer or barrier can be relied on */
    job_set_error(job, "map: dynamic map's messages failed");
    return map_finish(m, ex, MPIMR_ERR_MPI);
  }
  int status = shuffle_status(job->shuffle);
  if (status == MPIMR_OK) status = job_check_signal(job);
  if (status != MPIMR_OK) return map_finish(m, ex, status);
  if (m->needs_flush) {
    if (!shuffle_can_seal(job->shuffle)) {
      if (m->wait_started == 0) m->wait_started = clock_now();
      shuffle_wake_on_progress(job->shuffle, self);
      return MPIMR_PENDING;
    }
    if (m->wait_started != 0) {
      double now = clock_now();
      job->stats.time_send_wait += now - m->wait_started;
      trace_span(&job->trace, TRACE_SEND_WAIT, m->wait_started, now, 0);
      m->wait_started = 0;
    }
    int rc = job_drain_map_side(job);
    if (rc == MPIMR_OK) rc = shuffle_seal(job->shuffle, ex);
    if (rc != MPIMR_OK) return map_finish(m, ex, rc);
    m->needs_flush = 0;
  }
  int more = 1;
  double slice_started = job->trace.enabled ? clock_now() : 0;
  int rc = map_slice(m, &more);
  if (job->trace.enabled) trace_span(&job->trace, TRACE_MAP_SLICE, slice_started, clock_now(), 0);
  if (rc != MPIMR_OK) return map_finish(m, ex, rc);
  if (job->map_delay_us) usleep(job->map_delay_us); /* the test knob: a slow rank */
  if (!more && !m->needs_flush && job->dynamic && !job->share.done) {
    /* This rank's chunks are done: ask another rank for some of its own. */
    if (work_share_ask(&job->share, ex, self) != MPIMR_OK) {
      job_set_error(job, "map: asking rank %d for input failed", job->share.victim);
      return map_finish(m, ex, MPIMR_ERR_MPI);
    }
    m->stealing = !job->share.done;
    return MPIMR_PENDING;
  }
  if (!more && !m->needs_flush) {
    /* The fill set is empty when combining (drains are sent at once), so the last table fits in it. */
    rc = job_drain_map_side(job);
    job->stats.time_map = clock_now() - job->started_at;
    return map_finish(m, ex, rc);
  }
  mpimr_future_wake(ex, self);
  return MPIMR_PENDING;
}
