/*
 * kv/hash.h — the multiply-fold hash behind mpimr_hash64(), inline for the
 * library's own hot paths (emit, combining tables), which must agree with
 * the exported function bit for bit. Each 16-byte block is folded into the
 * state with one 64x64->128-bit multiply whose halves are xor-ed together;
 * the last block's product keeps both halves, which are multiplied
 * together, so every input bit reaches every output bit. Short keys (the
 * common case: words) take two multiplies.
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

/* Reads 1..3 bytes so that every byte and the length matter. */
static inline uint64_t hash_load_small(const unsigned char *p, size_t n) {
  return ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
}

static inline uint64_t hash_bytes(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t state = seed ^ hash_fold_multiply(seed ^ HASH_K0, HASH_K1 ^ (uint64_t)len);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      /* Two overlapping 4-byte reads at each end cover 4..8 bytes; likewise 8-byte reads for 9..16. */
      if (len >= 8) {
        a = hash_load64(p);
        b = hash_load64(p + len - 8);
      } else {
        a = hash_load32(p) << 32 | hash_load32(p + len - 4);
        b = 0;
      }
    } else if (len > 0) {
      a = hash_load_small(p, len);
      b = 0;
    } else {
      a = b = 0;
    }
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
  /* Keep both halves of the last product and multiply them together: with a constant second
   * factor (short keys have b == 0) one fold alone would leave low output bits poorly mixed. */
  __uint128_t product = (__uint128_t)(a ^ HASH_K2) * (b ^ state ^ HASH_K3);
  uint64_t low = (uint64_t)product, high = (uint64_t)(product >> 64);
  return hash_fold_multiply(low ^ HASH_K0 ^ (uint64_t)len, high ^ HASH_K1);
}

/**
 * hash_bytes(key, len, 0) for a key of 1..7 bytes given as `bytes`, its bytes
 * in little-endian order with zeros above them, computed without a branch on
 * the length: the counting path hashes millions of words whose lengths a
 * branch predictor cannot guess.
 */
static inline uint64_t hash_short_bytes(uint64_t bytes, size_t len) {
  uint64_t state = hash_fold_multiply(HASH_K0, HASH_K1 ^ (uint64_t)len);
  /* 4..7 bytes: the first four above the last four (the two overlap), as hash_load32 reads them. */
  uint64_t wide = bytes << 32 | ((bytes >> (8 * ((len - 4) & 7))) & 0xffffffffu);
  /* 1..3 bytes: first, middle and last byte, as hash_load_small reads them. */
  uint64_t narrow = (bytes & 0xff) << 16 | ((bytes >> (8 * (len >> 1))) & 0xff) << 8 | ((bytes >> (8 * (len - 1))) & 0xff);
  uint64_t wide_mask = 0 - (uint64_t)(len >= 4);
  uint64_t a = (wide & wide_mask) | (narrow & ~wide_mask);
  __uint128_t product = (__uint128_t)(a ^ HASH_K2) * (state ^ HASH_K3);
  uint64_t low = (uint64_t)product, high = (uint64_t)(product >> 64);
  return hash_fold_multiply(low ^ HASH_K0 ^ (uint64_t)len, high ^ HASH_K1);
}

#endif
