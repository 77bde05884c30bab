/* kv/hash.c — mpimr_hash64, the exported face of kv/hash.h. */
#include "kv/hash.h"

#include "mpimr/kv.h"

uint64_t mpimr_hash64(const void *data, size_t len, uint64_t seed) { return hash_bytes(data, len, seed); }
