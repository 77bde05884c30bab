/*
 * kv/codec.h — the encoding of one pair in shuffle blocks and stores:
 * varint(key length), varint(value length), key bytes, value bytes.
 * Varints are LEB128 (7 bits a byte, low first), so a short word and an
 * 8-byte count carry 2 bytes of header. Decoding checks every bound: a
 * truncated or corrupt block is reported, never read past.
 */
#ifndef MPIMR_KV_CODEC_H
#define MPIMR_KV_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** The most bytes a varint of a size_t takes. */
#define CODEC_VARINT_MAX 10

static inline size_t codec_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline unsigned char *codec_put_varint(unsigned char *out, uint64_t v) {
  while (v >= 0x80) {
    *out++ = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  *out++ = (unsigned char)v;
  return out;
}

/* Reads a varint from [p, end). Returns the byte after it, or NULL if it is truncated or too long. */
static inline const unsigned char *codec_get_varint(const unsigned char *p, const unsigned char *end,
                                                    uint64_t *value) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p >= end) return NULL;
    unsigned char byte = *p++;
    if (shift == 63 && byte > 1) return NULL; /* more than 64 bits */
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *value = v;
      return p;
    }
  }
  return NULL;
}

/** The encoded size of a pair. */
static inline size_t codec_pair_size(size_t key_len, size_t value_len) {
  return codec_varint_size(key_len) + codec_varint_size(value_len) + key_len + value_len;
}

/** Writes a pair at `out` (which has room for codec_pair_size()); returns the byte after it. */
static inline unsigned char *codec_put_pair(unsigned char *out, const void *key, size_t key_len,
                                            const void *value, size_t value_len) {
  out = codec_put_varint(out, key_len);
  out = codec_put_varint(out, value_len);
  if (key_len) memcpy(out, key, key_len); /* an empty key or value may come as NULL */
  out += key_len;
  if (value_len) memcpy(out, value, value_len);
  return out + value_len;
}

/** A decoded pair: pointers into the block. */
typedef struct codec_pair {
  const unsigned char *key;
  size_t key_len;
  const unsigned char *value;
  size_t value_len;
} codec_pair;

/**
 * Decodes the pair at `p` within [p, end). Returns the byte after it, or NULL
 * if the pair is truncated or its lengths run past `end`.
 */
static inline const unsigned char *codec_get_pair(const unsigned char *p, const unsigned char *end,
                                                  codec_pair *pair) {
  uint64_t key_len, value_len;
  p = codec_get_varint(p, end, &key_len);
  if (p == NULL) return NULL;
  p = codec_get_varint(p, end, &value_len);
  if (p == NULL) return NULL;
  size_t available = (size_t)(end - p);
  if (key_len > available || value_len > available - key_len) return NULL;
  pair->key = p;
  pair->key_len = (size_t)key_len;
  pair->value = p + key_len;
  pair->value_len = (size_t)value_len;
  return p + key_len + value_len;
}

/** Bytewise key order, shorter first on a common prefix (like memcmp over the longer). */
static inline int codec_compare_keys(const void *a, size_t a_len, const void *b, size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return (a_len > b_len) - (a_len < b_len);
}

#endif
