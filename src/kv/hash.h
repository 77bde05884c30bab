/*
 * kv/hash.h — the multiply-fold hash behind mpimr_hash64(), inline for the
 * library's own hot paths (emit, combining tables), which must agree with
 * the exported function bit for bit. Each 16-byte block is folded into the
 * state with one 64x64->128-bit multiply whose halves are xor-ed together;
 * the last block's product keeps both halves, which are multiplied
 * together, so every input bit reaches every output bit. Keys of 1..7 bytes
 * (the common case: words) are packed into one word with their length and
 * take two multiplies (hash_packed_short), which the counting path calls
 * on the word it packs anyway.
 */
#ifndef MPIMR_KV_HASH_H
#define MPIMR_KV_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_K0 0x9e3779b97f4a7c15ull
#define HASH_K1 0xd6e8feb86659fd93ull
#define HASH_K2 0xa0761d6478bd642full
#define HASH_K3 0xe7037ed1a0b428dbull

static inline uint64_t hash_fold_multiply(uint64_t a, uint64_t b) {
  __uint128_t product = (__uint128_t)a * b;
  return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static inline uint64_t hash_load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint64_t hash_load32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/** Keys of 1..HASH_SHORT_MAX bytes are hashed from one word holding their bytes and length. */
#define HASH_SHORT_MAX 7

/**
 * The word a key of 1..HASH_SHORT_MAX bytes hashes from (and the counting
 * table stores): its bytes, little-endian, with the length in the top byte.
 * Reads only the key's own bytes.
 */
static inline uint64_t hash_pack_short(const unsigned char *key, size_t len) {
  uint64_t bytes;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len >= 4) {
    /* Two 4-byte loads, the second ending at the key's end, overlap on equal bytes. */
    bytes = hash_load32(key) | hash_load32(key + len - 4) << (8 * (len - 4));
  } else {
    bytes = key[0];
    if (len > 1) bytes |= (uint64_t)key[1] << 8;
    if (len > 2) bytes |= (uint64_t)key[2] << 16;
  }
#else
  bytes = 0;
  for (size_t i = 0; i < len; i++) bytes |= (uint64_t)key[i] << (8 * i);
#endif
  return bytes | (uint64_t)len << 56;
}

/**
 * The hash of a key of 1..HASH_SHORT_MAX bytes from hash_pack_short()'s word:
 * one 64x64->128-bit multiply by a factor that depends on the seed alone,
 * then its two halves multiplied together (a constant second factor alone
 * would leave the low output bits poorly mixed). With seed 0 the factor is a
 * compile-time constant, so a word costs two multiplies and no branch.
 */
static inline uint64_t hash_packed_short(uint64_t packed, uint64_t seed) {
  uint64_t state = seed ^ hash_fold_multiply(seed ^ HASH_K0, HASH_K1);
  __uint128_t product = (__uint128_t)(packed ^ HASH_K2) * (state ^ HASH_K3);
  uint64_t low = (uint64_t)product, high = (uint64_t)(product >> 64);
  return hash_fold_multiply(low ^ HASH_K0, high ^ HASH_K1);
}

static inline uint64_t hash_bytes(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  if (len - 1 < HASH_SHORT_MAX) return hash_packed_short(hash_pack_short(p, len), seed); /* len 0 wraps */
  uint64_t state = seed ^ hash_fold_multiply(seed ^ HASH_K0, HASH_K1 ^ (uint64_t)len);
  uint64_t a, b;
  if (len <= 16) {
    /* Two 8-byte reads, overlapping for 9..15 bytes; the empty key is all zeros. */
    a = len ? hash_load64(p) : 0;
    b = len ? hash_load64(p + len - 8) : 0;
  } else {
    size_t remaining = len;
    while (remaining > 16) {
      state = hash_fold_multiply(hash_load64(p) ^ HASH_K2, hash_load64(p + 8) ^ state);
      p += 16;
      remaining -= 16;
    }
    /* The last 16 bytes, overlapping the previous block when len is not a multiple of 16. */
    a = hash_load64(p + remaining - 16);
    b = hash_load64(p + remaining - 8);
  }
  /* Keep both halves of the last product and multiply them together (see hash_packed_short). */
  __uint128_t product = (__uint128_t)(a ^ HASH_K2) * (b ^ state ^ HASH_K3);
  uint64_t low = (uint64_t)product, high = (uint64_t)(product >> 64);
  return hash_fold_multiply(low ^ HASH_K0 ^ (uint64_t)len, high ^ HASH_K1);
}

#endif
