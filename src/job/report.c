/*
 * job/report.c — the job's figures across ranks: a one-line summary from
 * rank 0 and, on request, every rank's figures as JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job_internal.h"
#include "mpimr/error.h"

enum { TIME_FIELDS = 7, COUNT_FIELDS = 26 };

static const char *const time_names[TIME_FIELDS] = {"time_total",  "time_map",    "time_shuffle",
                                                    "time_reduce", "time_output", "time_send_wait",
                                                    "time_sample"};
static const char *const count_names[COUNT_FIELDS] = {
    "input_bytes",     "input_records",      "pairs_emitted", "bytes_emitted", "pairs_sent",   "bytes_sent",
    "pairs_received",  "bytes_received",     "rounds",        "keys_reduced",  "pairs_output", "bytes_output",
    "map_table_bytes", "reduce_table_bytes", "buffer_bytes",  "peak_rss_bytes", "memory_budget_bytes",
    "peak_memory_bytes", "spill_bytes",       "spill_runs",    "merge_passes", "sample_pairs",
    "bad_records",     "heaviest_key_pairs", "chunks_taken", "chunks_given"};

static void pack_stats(const mpimr_job_stats *s, double *times, uint64_t *counts) {
  const double t[TIME_FIELDS] = {s->time_total,  s->time_map,    s->time_shuffle,
                                 s->time_reduce, s->time_output, s->time_send_wait, s->time_sample};
  const uint64_t c[COUNT_FIELDS] = {
      s->input_bytes,     s->input_records,      s->pairs_emitted,  s->bytes_emitted,
      s->pairs_sent,      s->bytes_sent,         s->pairs_received, s->bytes_received,
      s->rounds,          s->keys_reduced,       s->pairs_output,   s->bytes_output,
      s->map_table_bytes, s->reduce_table_bytes, s->buffer_bytes,   s->peak_rss_bytes,
      s->memory_budget_bytes, s->peak_memory_bytes, s->spill_bytes, s->spill_runs,
      s->merge_passes,    s->sample_pairs,       s->bad_records,    s->heaviest_key_pairs,
      s->chunks_taken,    s->chunks_given};
  memcpy(times, t, sizeof t);
  memcpy(counts, c, sizeof c);
}

static void time_range(const double *times, int nranks, int field, double *min, double *max) {
  *min = *max = times[field];
  for (int r = 1; r < nranks; r++) {
    double v = times[r * TIME_FIELDS + field];
    if (v < *min) *min = v;
    if (v > *max) *max = v;
  }
}

static uint64_t count_sum(const uint64_t *counts, int nranks, int field, uint64_t *min, uint64_t *max) {
  uint64_t sum = 0;
  *min = *max = counts[field];
  for (int r = 0; r < nranks; r++) {
    uint64_t v = counts[r * COUNT_FIELDS + field];
    sum += v;
    if (v < *min) *min = v;
    if (v > *max) *max = v;
  }
  return sum;
}

/* A rank's heaviest key as gathered to rank 0: its full length and first bytes. */
typedef struct heaviest_key {
  uint32_t len;
  unsigned char bytes[sizeof(((mpimr_job_stats *)0)->heaviest_key)];
} heaviest_key;

/* How uneven the reduce side was: the busiest rank's pairs and bytes received over the mean. */
typedef struct reduce_load {
  double pairs_ratio;
  double bytes_ratio;
  int busiest_rank;
  int skewed;         /**< The busiest rank received more than twice the mean of pairs. */
  int heaviest_rank;  /**< The rank whose key had the most values (-1: none known). */
  uint64_t all_pairs; /**< Pairs received over all ranks. */
} reduce_load;

enum { FIELD_PAIRS_RECEIVED = 6, FIELD_BYTES_RECEIVED = 7, FIELD_HEAVIEST_PAIRS = 23 };

static reduce_load measure_load(int nranks, const uint64_t *counts) {
  reduce_load load = {1.0, 1.0, 0, 0, -1, 0};
  uint64_t bytes = 0, max_pairs = 0, max_bytes = 0, heaviest = 0;
  for (int r = 0; r < nranks; r++) {
    const uint64_t *c = &counts[r * COUNT_FIELDS];
    load.all_pairs += c[FIELD_PAIRS_RECEIVED];
    bytes += c[FIELD_BYTES_RECEIVED];
    if (c[FIELD_PAIRS_RECEIVED] > max_pairs) {
      max_pairs = c[FIELD_PAIRS_RECEIVED];
      load.busiest_rank = r;
    }
    if (c[FIELD_BYTES_RECEIVED] > max_bytes) max_bytes = c[FIELD_BYTES_RECEIVED];
    if (c[FIELD_HEAVIEST_PAIRS] > heaviest) {
      heaviest = c[FIELD_HEAVIEST_PAIRS];
      load.heaviest_rank = r;
    }
  }
  if (load.all_pairs > 0) load.pairs_ratio = (double)max_pairs * nranks / (double)load.all_pairs;
  if (bytes > 0) load.bytes_ratio = (double)max_bytes * nranks / (double)bytes;
  load.skewed = nranks > 1 && load.pairs_ratio > 2.0;
  return load;
}

/* A key as text for the summary: printable ASCII as it is, other bytes as \xNN, cut with "...". */
static void show_key(const heaviest_key *key, char *text, size_t size) {
  size_t n = 0, shown = key->len < sizeof key->bytes ? key->len : sizeof key->bytes;
  for (size_t i = 0; i < shown && n + 8 < size; i++) {
    unsigned char c = key->bytes[i];
    n += (size_t)snprintf(text + n, size - n, c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' ? "%c" : "\\x%02x", c);
  }
  if (shown < key->len && n + 4 < size) n += (size_t)snprintf(text + n, size - n, "...");
  text[n] = '\0';
}

/* The warning line when the busiest reducer had more than twice the mean, naming a dominant key. */
static void print_skew_warning(FILE *stream, int nranks, const uint64_t *counts, const heaviest_key *keys,
                               const reduce_load *load) {
  if (!load->skewed) return;
  double mean = (double)load->all_pairs / nranks;
  fprintf(stream, "mpimr: warning: reduce skew: rank %d received %llu pairs, %.1fx the mean of %.0f",
          load->busiest_rank, (unsigned long long)counts[load->busiest_rank * COUNT_FIELDS + FIELD_PAIRS_RECEIVED],
          load->pairs_ratio, mean);
  if (load->heaviest_rank >= 0) {
    uint64_t pairs = counts[load->heaviest_rank * COUNT_FIELDS + FIELD_HEAVIEST_PAIRS];
    /* One key dominates when it alone holds more than a rank's fair share. */
    if ((double)pairs > mean) {
      char shown[sizeof keys->bytes * 4 + 8];
      show_key(&keys[load->heaviest_rank], shown, sizeof shown);
      fprintf(stream, "; the key '%s' alone has %llu pairs (%.1f%% of all): a combiner, or a key split in parts, "
                      "would spread it",
              shown, (unsigned long long)pairs, 100.0 * (double)pairs / (double)load->all_pairs);
    }
  }
  fputc('\n', stream);
}

static void print_summary(FILE *stream, int nranks, const double *times, const uint64_t *counts) {
  double tmin[TIME_FIELDS], tmax[TIME_FIELDS];
  for (int f = 0; f < TIME_FIELDS; f++) time_range(times, nranks, f, &tmin[f], &tmax[f]);
  uint64_t cmin[COUNT_FIELDS], cmax[COUNT_FIELDS], sum[COUNT_FIELDS];
  for (int f = 0; f < COUNT_FIELDS; f++) sum[f] = count_sum(counts, nranks, f, &cmin[f], &cmax[f]);
  double mb = 1e6;
  fprintf(
      stream,
      "mpimr: %d ranks, %.3f s (map %.3f-%.3f, shuffle tail %.3f-%.3f, reduce %.3f-%.3f, output %.3f-%.3f, "
      "send wait %.3f-%.3f s min-max over ranks); input %.1f MB (%.1f MB/s); pairs emitted %llu, "
      "sent %llu (%.1f MB, %llu-%llu rounds), received %llu-%llu a rank; keys %llu (%llu-%llu a rank); "
      "output %.1f MB; peak RSS %.1f-%.1f MB a rank (tables: map side up to %.1f MB, reduce side up to "
      "%.1f MB; round buffers up to %.1f MB); memory accounted up to %.1f MB of %.1f MB a rank; "
      "spilled %.1f MB in %llu runs, %llu merge passes",
      nranks, tmax[0], tmin[1], tmax[1], tmin[2], tmax[2], tmin[3], tmax[3], tmin[4], tmax[4], tmin[5],
      tmax[5], (double)sum[0] / mb, tmax[0] > 0 ? (double)sum[0] / mb / tmax[0] : 0.0,
      (unsigned long long)sum[2], (unsigned long long)sum[4], (double)sum[5] / mb,
      (unsigned long long)cmin[8], (unsigned long long)cmax[8], (unsigned long long)cmin[6],
      (unsigned long long)cmax[6], (unsigned long long)sum[9], (unsigned long long)cmin[9],
      (unsigned long long)cmax[9], (double)sum[11] / mb, (double)cmin[15] / mb, (double)cmax[15] / mb,
      (double)cmax[12] / mb, (double)cmax[13] / mb, (double)cmax[14] / mb, (double)cmax[17] / mb,
      (double)cmin[16] / mb, (double)sum[18] / mb, (unsigned long long)sum[19], (unsigned long long)sum[20]);
  /* Jobs in global key order (the only ones that sample) say what choosing splitters took. */
  if (tmax[6] > 0)
    fprintf(stream, "; global order: sampled %llu pairs, %.3f-%.3f s before map", (unsigned long long)sum[21],
            tmin[6], tmax[6]);
  if (nranks > 1) {
    reduce_load load = measure_load(nranks, counts);
    fprintf(stream, "; reduce load max/mean: pairs %.2f, bytes %.2f", load.pairs_ratio, load.bytes_ratio);
  }
  if (sum[22] > 0) fprintf(stream, "; bad records skipped %llu", (unsigned long long)sum[22]);
  if (sum[24] > 0) { /* dynamic map moved input between ranks: bytes of files, or map_index's indices */
    if (sum[0] > 0)
      fprintf(stream, "; dynamic map: input %.1f-%.1f MB a rank", (double)cmin[0] / mb, (double)cmax[0] / mb);
    else
      fprintf(stream, "; dynamic map: %llu-%llu indices a rank", (unsigned long long)cmin[1],
              (unsigned long long)cmax[1]);
    fprintf(stream, ", %llu chunks taken from other ranks (%llu-%llu a rank)", (unsigned long long)sum[24],
            (unsigned long long)cmin[24], (unsigned long long)cmax[24]);
  }
  fputc('\n', stream);
}

/* The program's own counters (not the framework's "mpimr." ones) on one line, if it has any. */
typedef struct counter_line {
  FILE *stream;
  int shown;
} counter_line;

static void print_counter(void *context, const char *name, uint64_t value) {
  counter_line *line = context;
  if (strncmp(name, "mpimr.", 6) == 0) return;
  fprintf(line->stream, "%s%s %llu", line->shown++ ? ", " : "mpimr: counters: ", name, (unsigned long long)value);
}

typedef struct counter_json {
  FILE *file;
  int written;
} counter_json;

static void write_counter(void *context, const char *name, uint64_t value) {
  counter_json *json = context;
  fprintf(json->file, "%s\n    \"%s\": %llu", json->written++ ? "," : "", name, (unsigned long long)value);
}

/* A key as a JSON string's contents: printable ASCII, other bytes as \u00XX. */
static void write_json_key(FILE *f, const heaviest_key *key) {
  size_t shown = key->len < sizeof key->bytes ? key->len : sizeof key->bytes;
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = key->bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      fputc(c, f);
    else
      fprintf(f, "\\u%04x", c);
  }
}

static int write_json(const mpimr_job *job, const char *path, int nranks, const double *times,
                      const uint64_t *counts, const heaviest_key *keys, char *why, size_t why_size) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    snprintf(why, why_size, "stats '%s': %s", path, strerror(errno));
    return MPIMR_ERR_IO;
  }
  fprintf(f, "{\n  \"nranks\": %d,\n  \"ranks\": [\n", nranks);
  for (int r = 0; r < nranks; r++) {
    fprintf(f, "    {\"rank\": %d", r);
    for (int k = 0; k < TIME_FIELDS; k++)
      fprintf(f, ", \"%s\": %.6f", time_names[k], times[r * TIME_FIELDS + k]);
    for (int k = 0; k < COUNT_FIELDS; k++)
      fprintf(f, ", \"%s\": %llu", count_names[k], (unsigned long long)counts[r * COUNT_FIELDS + k]);
    fprintf(f, ", \"heaviest_key\": \"");
    write_json_key(f, &keys[r]);
    fprintf(f, "\"}%s\n", r + 1 < nranks ? "," : "");
  }
  fprintf(f, "  ],\n  \"counters\": {");
  counter_json json = {f, 0};
  mpimr_job_each_counter(job, write_counter, &json); /* none if the job has not succeeded */
  fprintf(f, "%s},\n", json.written ? "\n  " : "");
  reduce_load load = measure_load(nranks, counts);
  fprintf(f, "  \"reduce_load\": {\"pairs_max_over_mean\": %.4f, \"bytes_max_over_mean\": %.4f, "
             "\"busiest_rank\": %d, \"skewed\": %s}\n}\n",
          load.pairs_ratio, load.bytes_ratio, load.busiest_rank, load.skewed ? "true" : "false");
  if (ferror(f) | (fclose(f) != 0)) {
    snprintf(why, why_size, "stats '%s': write failed", path);
    return MPIMR_ERR_IO;
  }
  return MPIMR_OK;
}

int mpimr_job_report(mpimr_job *job, FILE *stream, const char *json_path) {
  double times[TIME_FIELDS];
  uint64_t counts[COUNT_FIELDS];
  pack_stats(&job->stats, times, counts);
  heaviest_key key;
  memset(&key, 0, sizeof key);
  key.len = job->stats.heaviest_key_len;
  memcpy(key.bytes, job->stats.heaviest_key, sizeof key.bytes);
  double *all_times = NULL;
  uint64_t *all_counts = NULL;
  heaviest_key *all_keys = NULL;
  int ok = 1;
  if (job->rank == 0) {
    all_times = malloc(sizeof(double) * TIME_FIELDS * (size_t)job->nranks);
    all_counts = malloc(sizeof(uint64_t) * COUNT_FIELDS * (size_t)job->nranks);
    all_keys = malloc(sizeof *all_keys * (size_t)job->nranks);
    ok = all_times && all_counts && all_keys;
  }
  /* Every rank must know whether rank 0 can receive before anyone sends. */
  if (MPI_Bcast(&ok, 1, MPI_INT, 0, job->comm) != MPI_SUCCESS) ok = 0;
  if (!ok) {
    free(all_times);
    free(all_counts);
    free(all_keys);
    return MPIMR_ERR_NOMEM;
  }
  int rc = MPIMR_OK;
  if (MPI_Gather(times, TIME_FIELDS, MPI_DOUBLE, all_times, TIME_FIELDS, MPI_DOUBLE, 0, job->comm) !=
          MPI_SUCCESS ||
      MPI_Gather(counts, COUNT_FIELDS, MPI_UINT64_T, all_counts, COUNT_FIELDS, MPI_UINT64_T, 0, job->comm) !=
          MPI_SUCCESS ||
      MPI_Gather(&key, (int)sizeof key, MPI_BYTE, all_keys, (int)sizeof key, MPI_BYTE, 0, job->comm) != MPI_SUCCESS)
    rc = MPIMR_ERR_MPI;
  char why[512] = "";
  if (job->rank == 0 && rc == MPIMR_OK) {
    if (stream) {
      print_summary(stream, job->nranks, all_times, all_counts);
      counter_line line = {stream, 0};
      mpimr_job_each_counter(job, print_counter, &line);
      if (line.shown) fputc('\n', stream);
      reduce_load load = measure_load(job->nranks, all_counts);
      print_skew_warning(stream, job->nranks, all_counts, all_keys, &load);
    }
    if (json_path) rc = write_json(job, json_path, job->nranks, all_times, all_counts, all_keys, why, sizeof why);
  }
  free(all_times);
  free(all_counts);
  free(all_keys);
  int agreed;
  if (MPI_Allreduce(&rc, &agreed, 1, MPI_INT, MPI_MIN, job->comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (rc != MPIMR_OK && why[0]) {
    job->error_message[0] = '\0';
    snprintf(job->error_message, sizeof job->error_message, "rank %d: %s", job->rank, why);
  }
  return agreed;
}
