/**
 * @file
 * mpimr/callbacks.h — the callbacks that combine, order and format values,
 * and the built-in combiners and formatters.
 *
 * A job takes them in its configuration (mpimr/job.h, which includes this
 * header); the library's combining tables, sorts and output use them too,
 * so they live here, apart from the job.
 */
#ifndef MPIMR_CALLBACKS_H
#define MPIMR_CALLBACKS_H

#include <stddef.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Merges value `in` into the accumulated value `acc` of the same key. `acc`
 * holds `acc_len` bytes and has room for `acc_cap`. Write the merged value
 * into `acc` and return its length; if it needs more than `acc_cap` bytes,
 * return the length needed without touching `acc` (the library makes room
 * and calls again). A negative return is an error (the job fails with
 * MPIMR_ERR_USER). The combiner must be associative and commutative: it is
 * applied to map output before it is sent and to received pairs.
 */
typedef long long (*mpimr_combine_fn)(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                      size_t acc_cap, const void *in, size_t in_len);

/**
 * Orders two keys, or two values of one key: negative when `a` sorts
 * before `b`, positive when after, zero when the comparator does not tell
 * them apart. It must be a consistent order (transitive, and the same on
 * every rank and every call). The library breaks its ties bytewise, so
 * only identical byte strings are equal: a key's values are always exactly
 * the pairs with its bytes.
 */
typedef int (*mpimr_compare_fn)(void *user, const void *a, size_t a_len, const void *b, size_t b_len);

/**
 * Formats a value as text for the text output format. Write at most `cap`
 * bytes into `buf` and return the full length of the text; if that is more
 * than `cap`, the library grows the buffer and calls again. Negative: error.
 */
typedef long long (*mpimr_format_fn)(void *user, const void *value, size_t value_len, char *buf, size_t cap);

/**
 * The combiner that adds values as little-endian unsigned 64-bit integers
 * (recognised and inlined: a job with it counts in a table of 16-byte slots).
 * Keys of 1..7 bytes emitted as pointers into the record a map_record or
 * map_block callback was given, under the default partitioner, take the
 * fastest path: one 8-byte load and no branch on their length.
 */
MPIMR_API long long mpimr_combine_sum_u64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/**
 * The combiner that adds values as little-endian IEEE doubles (mpimr_put_f64),
 * such as PageRank contributions. The sum of a key's values depends on the
 * order they meet in, which depends on the number of ranks: results agree
 * across rank counts to rounding, not bit for bit. A value that is not 8
 * bytes fails the job.
 */
MPIMR_API long long mpimr_combine_sum_f64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/** The combiner that keeps the smallest value, as little-endian unsigned 64-bit integers. */
MPIMR_API long long mpimr_combine_min_u64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/** The combiner that keeps the largest value, as little-endian unsigned 64-bit integers. */
MPIMR_API long long mpimr_combine_max_u64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/**
 * The combiner that keeps the smallest value, as little-endian IEEE doubles
 * (C's fmin(): a NaN is ignored unless every value is one, so the result
 * does not depend on the order values meet in). A value that is not 8
 * bytes fails the job.
 */
MPIMR_API long long mpimr_combine_min_f64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/** The combiner that keeps the largest value, as little-endian IEEE doubles (C's fmax(); see min). */
MPIMR_API long long mpimr_combine_max_f64(void *user, const void *key, size_t key_len, void *acc,
                                          size_t acc_len, size_t acc_cap, const void *in, size_t in_len);

/**
 * The value formatter that prints an 8-byte little-endian IEEE double with
 * printf's "%.17g" (enough digits to read back the same double).
 */
MPIMR_API long long mpimr_format_f64(void *user, const void *value, size_t value_len, char *buf, size_t cap);

/** The value formatter that prints an 8-byte little-endian unsigned integer in decimal. */
MPIMR_API long long mpimr_format_u64(void *user, const void *value, size_t value_len, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_CALLBACKS_H */
