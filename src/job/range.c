/* job/range.c — sampling, choosing splitters, and range partitioning; see range.h. */
#include "job/range.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/sort.h"
#include "mpimr/error.h"

enum { ENTRY_HEADER = 8 };

static inline uint32_t load_u32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static inline void store_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

static inline size_t entry_size(const unsigned char *entry) {
  return ENTRY_HEADER + (size_t)load_u32(entry) + load_u32(entry + 4);
}

/* ---- the sample -------------------------------------------------------- */

void range_sample_init(range_sample *s, int with_values) {
  memset(s, 0, sizeof *s);
  s->stride = 1;
  s->with_values = with_values;
}

void range_sample_destroy(range_sample *s) {
  free(s->bytes);
  memset(s, 0, sizeof *s);
}

/* Keeps every other entry (the first, third, ...): the sample then holds what stride 2s would have kept. */
static void thin(range_sample *s) {
  size_t read = 0, write = 0, kept = 0;
  for (size_t i = 0; i < s->entries; i++) {
    size_t size = entry_size(s->bytes + read);
    if (i % 2 == 0) {
      memmove(s->bytes + write, s->bytes + read, size);
      write += size;
      kept++;
    }
    read += size;
  }
  s->used = write;
  s->entries = kept;
  s->stride *= 2;
}

int range_sample_offer(range_sample *s, const void *key, size_t key_len, const void *value, size_t value_len) {
  uint64_t position = s->offered++;
  if (position % s->stride != 0) return MPIMR_OK;
  if (!s->with_values) value_len = 0;
  size_t need = ENTRY_HEADER + key_len + value_len;
  if (s->used + need > s->capacity) {
    size_t capacity = s->capacity ? s->capacity : 64 << 10;
    while (capacity < s->used + need) capacity *= 2;
    unsigned char *grown = realloc(s->bytes, capacity);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    s->bytes = grown;
    s->capacity = capacity;
  }
  unsigned char *entry = s->bytes + s->used;
  store_u32(entry, (uint32_t)key_len);
  store_u32(entry + 4, (uint32_t)value_len);
  if (key_len) memcpy(entry + ENTRY_HEADER, key, key_len);
  if (value_len) memcpy(entry + ENTRY_HEADER + key_len, value, value_len);
  s->used += need;
  s->entries++;
  while (s->entries > 1 && (s->entries > RANGE_SAMPLE_MAX_ENTRIES || s->used > RANGE_SAMPLE_MAX_BYTES)) thin(s);
  return MPIMR_OK;
}

/* ---- choosing splitters (rank 0) --------------------------------------- */

typedef struct rank_share {
  uint64_t bytes;
  uint64_t entries;
  double expected_pairs;
} rank_share;

/* The rank whose part of the gathered buffer holds `offset` (displacements ascend). */
static int owner_of(const size_t *displacements, int nranks, size_t offset) {
  int low = 0, high = nranks - 1;
  while (low < high) {
    int middle = (low + high + 1) / 2;
    if (displacements[middle] <= offset)
      low = middle;
    else
      high = middle - 1;
  }
  return low;
}

/*
 * Sorts every gathered entry and packs the P-1 splitters into *packed. Ranks whose shares hold
 * more pairs weigh more. Returns MPIMR_OK or NOMEM.
 */
static int pick_splitters(const unsigned char *gathered, const rank_share *shares, const size_t *displacements,
                          int nranks, int with_values, const kv_order *order, unsigned char **packed,
                          size_t *packed_size) {
  size_t total = 0;
  for (int r = 0; r < nranks; r++) total += shares[r].entries;
  *packed = NULL;
  *packed_size = 0;
  if (total == 0) return MPIMR_OK;
  sort_item *items = malloc(2 * total * sizeof *items);
  if (items == NULL) return MPIMR_ERR_NOMEM;
  size_t n = 0;
  for (int r = 0; r < nranks; r++) {
    const unsigned char *entry = gathered + displacements[r];
    for (uint64_t i = 0; i < shares[r].entries; i++) {
      uint32_t key_len = load_u32(entry), value_len = load_u32(entry + 4);
      const unsigned char *key = entry + ENTRY_HEADER;
      items[n++] = (sort_item){sort_key_prefix(key, key_len), key, key_len, value_len};
      entry += ENTRY_HEADER + (size_t)key_len + value_len;
    }
  }
  sort_items_ordered(items, items + total, total, with_values ? SORT_TIES_VALUE : SORT_TIES_NONE, order);
  double weight_total = 0;
  for (int r = 0; r < nranks; r++)
    if (shares[r].entries) weight_total += shares[r].expected_pairs > 0 ? shares[r].expected_pairs : 1;
  /* Splitter s is the entry at which the running weight reaches (s+1)/P of the total. */
  const sort_item **chosen = (const sort_item **)(void *)(items + total); /* the scratch half is free now */
  int splitters = nranks - 1, next = 0;
  double running = 0;
  for (size_t i = 0; i < total && next < splitters; i++) {
    const sort_item *item = &items[i];
    int owner = owner_of(displacements, nranks, (size_t)(item->key - ENTRY_HEADER - gathered));
    double expected = shares[owner].expected_pairs > 0 ? shares[owner].expected_pairs : 1;
    running += expected / (double)shares[owner].entries;
    while (next < splitters && running >= weight_total * (double)(next + 1) / nranks) chosen[next++] = item;
  }
  while (next < splitters) chosen[next++] = &items[total - 1]; /* rounding left the last target unmet */
  size_t size = 0;
  for (int s = 0; s < splitters; s++) size += ENTRY_HEADER + chosen[s]->key_len + chosen[s]->value_len;
  unsigned char *out = malloc(size ? size : 1);
  if (out == NULL) {
    free(items);
    return MPIMR_ERR_NOMEM;
  }
  size_t at = 0;
  for (int s = 0; s < splitters; s++) {
    size_t length = ENTRY_HEADER + chosen[s]->key_len + chosen[s]->value_len;
    memcpy(out + at, chosen[s]->key - ENTRY_HEADER, length);
    at += length;
  }
  free(items);
  *packed = out;
  *packed_size = size;
  return MPIMR_OK;
}

/* ---- the collective ---------------------------------------------------- */

static int mpi_failed(char *why, size_t why_size, const char *call) {
  snprintf(why, why_size, "choosing splitters: %s failed", call);
  return MPIMR_ERR_MPI;
}

/* Sets every rank's status to the worst (MIN of the negative codes) so all return the same. */
static int agree_status(int status, MPI_Comm comm) {
  int worst = status;
  if (MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  return worst;
}

static int index_splitters(range_partitioner *r, size_t size) {
  r->offsets = malloc((r->count ? (size_t)r->count : 1) * sizeof *r->offsets);
  if (r->offsets == NULL) return MPIMR_ERR_NOMEM;
  size_t at = 0;
  for (int s = 0; s < r->count; s++) {
    if (at + ENTRY_HEADER > size || at + entry_size(r->bytes + at) > size) return MPIMR_ERR_CORRUPT;
    r->offsets[s] = at;
    at += entry_size(r->bytes + at);
  }
  return at == size ? MPIMR_OK : MPIMR_ERR_CORRUPT;
}

int range_choose(range_partitioner *r, const range_sample *local, double expected_pairs, int with_values,
                 const kv_order *order, MPI_Comm comm, char *why, size_t why_size) {
  memset(r, 0, sizeof *r);
  r->with_values = with_values;
  r->order = order;
  int rank, nranks;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &nranks);
  rank_share mine = {local->used, local->entries, expected_pairs};
  rank_share *shares = malloc((size_t)nranks * sizeof *shares);
  size_t *displacements = malloc((size_t)nranks * sizeof *displacements);
  int *counts = malloc((size_t)nranks * sizeof *counts), *offsets = malloc((size_t)nranks * sizeof *offsets);
  unsigned char *gathered = NULL, *packed = NULL;
  int status = shares && displacements && counts && offsets ? MPIMR_OK : MPIMR_ERR_NOMEM;
  status = agree_status(status, comm);
  if (status == MPIMR_OK &&
      MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, shares, (int)sizeof mine, MPI_BYTE, comm) != MPI_SUCCESS)
    status = mpi_failed(why, why_size, "MPI_Allgather of the sample sizes");
  size_t total = 0;
  if (status == MPIMR_OK) {
    for (int q = 0; q < nranks; q++) {
      displacements[q] = total;
      total += shares[q].bytes;
    }
    /* Samples are at most about 1 MiB a rank, so this bounds the ranks at about 2000. */
    if (total > INT_MAX) {
      snprintf(why, why_size, "choosing splitters: the samples of %d ranks take %zu bytes, over 2 GiB", nranks,
               total);
      status = MPIMR_ERR_TOO_LARGE;
    } else {
      for (int q = 0; q < nranks; q++) {
        counts[q] = (int)shares[q].bytes;
        offsets[q] = (int)displacements[q];
      }
      if (rank == 0 && (gathered = malloc(total ? total : 1)) == NULL) status = MPIMR_ERR_NOMEM;
      status = agree_status(status, comm);
    }
  }
  if (status == MPIMR_OK && MPI_Gatherv(local->bytes, (int)local->used, MPI_BYTE, gathered, counts, offsets,
                                        MPI_BYTE, 0, comm) != MPI_SUCCESS)
    status = mpi_failed(why, why_size, "MPI_Gatherv of the samples");
  /* Rank 0 chooses; then everyone learns the outcome and the splitters' size, then the splitters. */
  uint64_t header[2] = {(uint64_t)MPIMR_OK, 0};
  if (status == MPIMR_OK) {
    if (rank == 0) {
      size_t size = 0;
      int rc = pick_splitters(gathered, shares, displacements, nranks, with_values, order, &packed, &size);
      header[0] = (uint64_t)(int64_t)rc;
      header[1] = size;
    }
    if (MPI_Bcast(header, 2, MPI_UINT64_T, 0, comm) != MPI_SUCCESS)
      status = mpi_failed(why, why_size, "MPI_Bcast of the splitters' size");
    else
      status = (int)(int64_t)header[0];
  }
  if (status == MPIMR_OK) {
    r->count = header[1] ? nranks - 1 : 0;
    r->bytes = packed != NULL ? packed : malloc(header[1] ? header[1] : 1);
    packed = NULL;
    status = agree_status(r->bytes ? MPIMR_OK : MPIMR_ERR_NOMEM, comm);
  }
  if (status == MPIMR_OK && header[1] > 0 &&
      MPI_Bcast(r->bytes, (int)header[1], MPI_BYTE, 0, comm) != MPI_SUCCESS)
    status = mpi_failed(why, why_size, "MPI_Bcast of the splitters");
  if (status == MPIMR_OK) status = agree_status(index_splitters(r, header[1]), comm);
  if (status == MPIMR_ERR_NOMEM) snprintf(why, why_size, "choosing splitters: out of memory on some rank");
  if (status == MPIMR_ERR_CORRUPT) snprintf(why, why_size, "choosing splitters: the splitters arrived damaged");
  free(shares);
  free(displacements);
  free(counts);
  free(offsets);
  free(gathered);
  free(packed);
  if (status != MPIMR_OK) range_destroy(r);
  return status;
}

/* ---- partitioning ------------------------------------------------------ */

/* Compares a pair with splitter `s`. */
static inline int compare_to_splitter(const range_partitioner *r, int s, const void *key, size_t key_len,
                                      const void *value, size_t value_len) {
  const unsigned char *entry = r->bytes + r->offsets[s];
  uint32_t s_key_len = load_u32(entry), s_value_len = load_u32(entry + 4);
  int c = order_compare_keys(r->order, key, key_len, entry + ENTRY_HEADER, s_key_len);
  if (c != 0 || !r->with_values) return c;
  return order_compare_values(r->order, value, value_len, entry + ENTRY_HEADER + s_key_len, s_value_len);
}

int range_rank_of(range_partitioner *r, const void *key, size_t key_len, const void *value, size_t value_len) {
  /* The first splitter at or above the pair: the number of splitters below it. */
  int low = 0, high = r->count;
  while (low < high) {
    int middle = (low + high) / 2;
    if (compare_to_splitter(r, middle, key, key_len, value, value_len) > 0)
      low = middle + 1;
    else
      high = middle;
  }
  if (!r->with_values) return low;
  int above = low; /* splitters equal to the pair: it may go to any rank from `low` to `above` */
  while (above < r->count && compare_to_splitter(r, above, key, key_len, value, value_len) == 0) above++;
  if (above == low) return low;
  return low + (int)(r->next_tie++ % (uint64_t)(above - low + 1));
}

void range_destroy(range_partitioner *r) {
  free(r->bytes);
  free(r->offsets);
  r->bytes = NULL;
  r->offsets = NULL;
  r->count = 0;
}
