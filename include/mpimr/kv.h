/**
 * @file
 * mpimr/kv.h — keys, values, emitting pairs and iterating values.
 *
 * Keys and values are byte strings of any length, zero included (up to
 * MPIMR_MAX_PAIR_BYTES for one encoded pair). Numbers are carried in a fixed
 * little-endian layout so that every rank reads them the same way; use the
 * helpers below to write and read them.
 */
#ifndef MPIMR_KV_H
#define MPIMR_KV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The largest encoded pair (key + value + header) the shuffle accepts: 1 GiB. */
#define MPIMR_MAX_PAIR_BYTES ((size_t)1 << 30)

/**
 * Where map and reduce functions send pairs. The library provides it; call
 * it through mpimr_emit().
 */
typedef struct mpimr_emitter mpimr_emitter;
/** An emitter's parts: the library's own (use mpimr_emit(), never the fields). */
struct mpimr_emitter {
  /** Library-private: where an emitted pair goes. */
  int (*sink)(mpimr_emitter *self, const void *key, size_t key_len, const void *value, size_t value_len);
  void *sink_state; /**< Library-private: the sink's state. */
};

/**
 * Emits one pair. Key and value are copied before the call returns; an
 * empty key or value may be passed as NULL. Returns
 * MPIMR_OK or an error status, which the caller should return from its
 * callback at once (the job then stops on every rank).
 */
static inline int mpimr_emit(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                             size_t value_len) {
  return emitter->sink(emitter, key ? key : "", key_len, value ? value : "", value_len);
}

/** The values of one key, handed to a reducer. Iterate with mpimr_values_next(). */
typedef struct mpimr_values mpimr_values;

/**
 * Advances the iterator. Returns 1 and sets `*value`/`*value_len` to the next
 * value, or 0 when there are no more. A value stays valid until the next
 * call or until the reducer returns, whichever comes first (values of a
 * spilled job are streamed from disk). Without a combiner, a key's values
 * arrive in bytewise order (shorter first on a common prefix), or in the
 * order of the job's compare_values; with one, a key has one value.
 */
MPIMR_API int mpimr_values_next(mpimr_values *values, const void **value, size_t *value_len);

/** The number of values of this key (all of them, not only those left). */
MPIMR_API size_t mpimr_values_count(const mpimr_values *values);

/** Writes `v` as 8 little-endian bytes at `out`. */
static inline void mpimr_put_u64(void *out, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(out, &v, 8);
#else
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  memcpy(out, b, 8);
#endif
}

/** Reads 8 little-endian bytes at `in`. */
static inline uint64_t mpimr_get_u64(const void *in) {
  uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(&v, in, 8);
#else
  unsigned char b[8];
  memcpy(b, in, 8);
  v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
#endif
  return v;
}

/** Writes `v` as 4 little-endian bytes at `out`. */
static inline void mpimr_put_u32(void *out, uint32_t v) {
  unsigned char b[4];
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
  memcpy(out, b, 4);
}

/** Reads 4 little-endian bytes at `in`. */
static inline uint32_t mpimr_get_u32(const void *in) {
  unsigned char b[4];
  memcpy(b, in, 4);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/** Writes the IEEE-754 bits of `v` as 8 little-endian bytes at `out`. */
static inline void mpimr_put_f64(void *out, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  mpimr_put_u64(out, bits);
}

/** Reads a double written by mpimr_put_f64(). */
static inline double mpimr_get_f64(const void *in) {
  uint64_t bits = mpimr_get_u64(in);
  double v;
  memcpy(&v, &bits, 8);
  return v;
}

/**
 * The 64-bit hash the default partitioner and the hash tables use: fast on
 * short keys, every input bit affects every output bit. Deterministic across
 * ranks, runs and machines of the same byte order.
 */
MPIMR_API uint64_t mpimr_hash64(const void *data, size_t len, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_KV_H */
