/*
 * job/dataset.c — one rank's pairs kept in memory between jobs: a growing
 * buffer of encoded pairs (kv/codec.h), and the collectives that count,
 * gather and broadcast them. Large moves go in pieces below 2 GiB (this
 * Open MPI has no large-count calls).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kv/codec.h"
#include "mpimr/dataset.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

/* The most bytes one message carries. */
enum { PIECE_BYTES = 1 << 30 };

struct mpimr_dataset {
  unsigned char *data;
  size_t used;
  size_t capacity;
  uint64_t count;
};

int mpimr_dataset_create(mpimr_dataset **dataset) {
  if (dataset == NULL) return MPIMR_ERR_INVAL;
  *dataset = calloc(1, sizeof **dataset);
  return *dataset ? MPIMR_OK : MPIMR_ERR_NOMEM;
}

void mpimr_dataset_free(mpimr_dataset *dataset) {
  if (dataset == NULL) return;
  free(dataset->data);
  free(dataset);
}

/* Makes room for `more` bytes past `used`, growing by half again at least. */
static int reserve(mpimr_dataset *d, size_t more) {
  if (more <= d->capacity - d->used) return MPIMR_OK;
  if (more > SIZE_MAX / 2 - d->used) return MPIMR_ERR_NOMEM;
  size_t wanted = d->used + more;
  size_t capacity = d->capacity + d->capacity / 2;
  if (capacity < wanted) capacity = wanted;
  if (capacity < 4096) capacity = 4096;
  unsigned char *grown = realloc(d->data, capacity);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  d->data = grown;
  d->capacity = capacity;
  return MPIMR_OK;
}

int mpimr_dataset_add(mpimr_dataset *dataset, const void *key, size_t key_len, const void *value,
                      size_t value_len) {
  if (dataset == NULL || (key == NULL && key_len) || (value == NULL && value_len)) return MPIMR_ERR_INVAL;
  if (key_len > MPIMR_MAX_PAIR_BYTES || value_len > MPIMR_MAX_PAIR_BYTES - key_len)
    return MPIMR_ERR_TOO_LARGE;
  size_t size = codec_pair_size(key_len, value_len);
  int rc = reserve(dataset, size);
  if (rc != MPIMR_OK) return rc;
  unsigned char *at = dataset->data + dataset->used;
  at = codec_put_varint(at, key_len);
  at = codec_put_varint(at, value_len);
  if (key_len) memcpy(at, key, key_len);
  if (value_len) memcpy(at + key_len, value, value_len);
  dataset->used += size;
  dataset->count++;
  return MPIMR_OK;
}

void mpimr_dataset_clear(mpimr_dataset *dataset) {
  if (dataset == NULL) return;
  dataset->used = 0;
  dataset->count = 0;
}

uint64_t mpimr_dataset_local_count(const mpimr_dataset *dataset) { return dataset ? dataset->count : 0; }

size_t mpimr_dataset_local_bytes(const mpimr_dataset *dataset) { return dataset ? dataset->used : 0; }

int mpimr_dataset_next(const mpimr_dataset *dataset, mpimr_dataset_cursor *cursor, const void **key,
                       size_t *key_len, const void **value, size_t *value_len) {
  if (dataset == NULL || cursor == NULL || cursor->offset >= dataset->used) return 0;
  codec_pair pair;
  const unsigned char *next =
      codec_get_pair(dataset->data + cursor->offset, dataset->data + dataset->used, &pair);
  if (next == NULL) return 0; /* cannot happen: the dataset encoded every pair itself */
  cursor->offset = (size_t)(next - dataset->data);
  *key = pair.key;
  *key_len = pair.key_len;
  *value = pair.value;
  *value_len = pair.value_len;
  return 1;
}

int mpimr_dataset_global_count(const mpimr_dataset *dataset, MPI_Comm comm, uint64_t *count) {
  uint64_t local = mpimr_dataset_local_count(dataset);
  if (MPI_Allreduce(&local, count, 1, MPI_UINT64_T, MPI_SUM, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  return MPIMR_OK;
}

/* Moves `length` bytes in pieces of at most PIECE_BYTES, point to point. */
static int send_pieces(const unsigned char *data, size_t length, int to, int tag, MPI_Comm comm) {
  for (size_t done = 0; done < length;) {
    size_t piece = length - done < PIECE_BYTES ? length - done : PIECE_BYTES;
    if (MPI_Send(data + done, (int)piece, MPI_BYTE, to, tag, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
    done += piece;
  }
  return MPIMR_OK;
}

static int receive_pieces(unsigned char *data, size_t length, int from, int tag, MPI_Comm comm) {
  for (size_t done = 0; done < length;) {
    size_t piece = length - done < PIECE_BYTES ? length - done : PIECE_BYTES;
    if (MPI_Recv(data + done, (int)piece, MPI_BYTE, from, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return MPIMR_ERR_MPI;
    done += piece;
  }
  return MPIMR_OK;
}

static int bcast_pieces(unsigned char *data, size_t length, int root, MPI_Comm comm) {
  for (size_t done = 0; done < length;) {
    size_t piece = length - done < PIECE_BYTES ? length - done : PIECE_BYTES;
    if (MPI_Bcast(data + done, (int)piece, MPI_BYTE, root, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
    done += piece;
  }
  return MPIMR_OK;
}

/* The tag of the gather's data messages: on the caller's communicator, so one unlikely to be in use. */
enum { GATHER_TAG = 0x6d72 };

/* Checks `root` against the communicator's size; every rank gets the same answer. */
static int check_root(MPI_Comm comm, int root, int *rank, int *size) {
  if (MPI_Comm_rank(comm, rank) != MPI_SUCCESS || MPI_Comm_size(comm, size) != MPI_SUCCESS)
    return MPIMR_ERR_MPI;
  return root >= 0 && root < *size ? MPIMR_OK : MPIMR_ERR_INVAL;
}

int mpimr_dataset_gather(mpimr_dataset *dataset, MPI_Comm comm, int root) {
  if (dataset == NULL) return MPIMR_ERR_INVAL;
  int rank, size;
  int rc = check_root(comm, root, &rank, &size);
  if (rc != MPIMR_OK) return rc;
  uint64_t mine[2] = {dataset->used, dataset->count};
  uint64_t *sizes = NULL;
  if (rank == root) {
    sizes = malloc(sizeof(uint64_t) * 2 * (size_t)size);
    if (sizes == NULL) rc = MPIMR_ERR_NOMEM;
  }
  /* Root tells the others whether it can go on before anyone sends data. */
  uint64_t scratch[2];
  if (MPI_Gather(mine, 2, MPI_UINT64_T, sizes ? sizes : scratch, 2, MPI_UINT64_T, root, comm) !=
      MPI_SUCCESS) {
    free(sizes);
    return MPIMR_ERR_MPI;
  }
  uint64_t total = 0, pairs = 0;
  if (rank == root && rc == MPIMR_OK) {
    for (int r = 0; r < size; r++) {
      total += sizes[2 * r];
      pairs += sizes[2 * r + 1];
    }
    if (total > SIZE_MAX / 2) rc = MPIMR_ERR_NOMEM;
  }
  /* Root's own pairs move to their place after ranks below it, so the result is in rank order. */
  unsigned char *gathered = NULL;
  if (rank == root && rc == MPIMR_OK) {
    gathered = malloc(total ? (size_t)total : 1);
    if (gathered == NULL) rc = MPIMR_ERR_NOMEM;
  }
  if (MPI_Bcast(&rc, 1, MPI_INT, root, comm) != MPI_SUCCESS) {
    free(sizes);
    free(gathered);
    return MPIMR_ERR_MPI;
  }
  if (rc != MPIMR_OK) {
    free(sizes);
    return rc;
  }
  if (rank != root) {
    rc = send_pieces(dataset->data, dataset->used, root, GATHER_TAG, comm);
    if (rc == MPIMR_OK) mpimr_dataset_clear(dataset);
    return rc;
  }
  size_t offset = 0;
  for (int r = 0; r < size && rc == MPIMR_OK; r++) {
    size_t bytes = (size_t)sizes[2 * r];
    if (r == rank) {
      if (bytes) memcpy(gathered + offset, dataset->data, bytes);
    } else {
      rc = receive_pieces(gathered + offset, bytes, r, GATHER_TAG, comm);
    }
    offset += bytes;
  }
  free(sizes);
  if (rc != MPIMR_OK) {
    free(gathered);
    return rc;
  }
  free(dataset->data);
  dataset->data = gathered;
  dataset->used = dataset->capacity = (size_t)total;
  dataset->count = pairs;
  return MPIMR_OK;
}

int mpimr_dataset_broadcast(mpimr_dataset *dataset, MPI_Comm comm, int root) {
  if (dataset == NULL) return MPIMR_ERR_INVAL;
  int rank, size;
  int rc = check_root(comm, root, &rank, &size);
  if (rc != MPIMR_OK) return rc;
  uint64_t header[2] = {dataset->used, dataset->count};
  if (MPI_Bcast(header, 2, MPI_UINT64_T, root, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (rank != root) {
    mpimr_dataset_clear(dataset);
    rc = header[0] > SIZE_MAX / 2 ? MPIMR_ERR_NOMEM : reserve(dataset, (size_t)header[0]);
  }
  int agreed;
  if (MPI_Allreduce(&rc, &agreed, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (agreed != MPIMR_OK) return agreed; /* every rank but root is empty */
  rc = bcast_pieces(dataset->data, (size_t)header[0], root, comm);
  if (rc != MPIMR_OK) return rc;
  dataset->used = (size_t)header[0];
  dataset->count = header[1];
  return MPIMR_OK;
}
