/*
 * kv/order.h — the order of keys, and of a key's values, a job sorts by.
 *
 * Bytewise by default (shorter first on a common prefix). A job may supply
 * its own comparison of keys and of values; the library then breaks the
 * comparator's ties bytewise, so that only identical byte strings compare
 * equal and a key's group is always the pairs with exactly its bytes.
 */
#ifndef MPIMR_KV_ORDER_H
#define MPIMR_KV_ORDER_H

#include <stddef.h>

#include "kv/codec.h"
#include "mpimr/callbacks.h"

typedef struct kv_order {
  mpimr_compare_fn keys;   /**< NULL: bytewise. */
  mpimr_compare_fn values; /**< NULL: bytewise. */
  void *user;              /**< Passed to both. */
} kv_order;

/** Non-zero when keys are in bytewise order (NULL means the bytewise order of both). */
static inline int order_keys_bytewise(const kv_order *o) { return o == NULL || o->keys == NULL; }

/** Non-zero when both keys and values are in bytewise order. */
static inline int order_bytewise(const kv_order *o) { return o == NULL || (o->keys == NULL && o->values == NULL); }

static inline int order_apply(mpimr_compare_fn compare, void *user, const void *a, size_t a_len, const void *b,
                              size_t b_len) {
  if (compare != NULL) {
    int c = compare(user, a, a_len, b, b_len);
    if (c != 0) return c < 0 ? -1 : 1;
  }
  return codec_compare_keys(a, a_len, b, b_len);
}

/** Compares two keys: negative, zero (identical bytes) or positive. */
static inline int order_compare_keys(const kv_order *o, const void *a, size_t a_len, const void *b,
                                     size_t b_len) {
  return order_apply(o ? o->keys : NULL, o ? o->user : NULL, a, a_len, b, b_len);
}

/** Compares two values of one key: negative, zero (identical bytes) or positive. */
static inline int order_compare_values(const kv_order *o, const void *a, size_t a_len, const void *b,
                                       size_t b_len) {
  return order_apply(o ? o->values : NULL, o ? o->user : NULL, a, a_len, b, b_len);
}

#endif
