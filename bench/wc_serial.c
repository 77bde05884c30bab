/* wc_serial: the single-core yardstick of the word-count benchmark.
 *
 *   mpimr-wc-serial [-o FILE] INPUT...
 *
 * One thread reads the inputs in 4 MiB chunks with read(2) and counts every
 * word: a maximal run of bytes that are not ASCII whitespace (space, \t, \n,
 * \v, \f, \r), as in mpimr-wordcount; the end of a file ends a word. It
 * prints "wc_serial: bytes=B words=W distinct=D seconds=S mb_per_s=R" (MB is
 * 10^6 bytes; the time covers reading and counting, not -o). -o FILE writes
 * one "word<TAB>count" line per distinct word, unsorted.
 *
 * Why it is fast:
 * - A chunk is first turned into a whitespace bitmap (SSE2, 16 bytes per
 *   compare), and words are found with count-trailing-zeros on it, so there
 *   is no branch per byte.
 * - The counts live in an open-addressing table of 16-byte slots (power-of-
 *   two size, linear probing, load at most 1/2, 8-byte counts). A word of up
 *   to 7 bytes is stored in the slot itself, with its length in the top
 *   byte, so a lookup is one 8-byte compare; longer words live in an arena
 *   and the slot keeps 31 bits of their hash and their arena offset.
 * - Words are looked up in batches of 32: the batch is hashed and its slots
 *   prefetched before the first lookup, so the cache misses of a table
 *   larger than the cache overlap. Large tables use transparent huge pages,
 *   so that those misses do not also miss the TLB. */
#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { CHUNK_BYTES = 4 << 20, PAD_BYTES = 16, BATCH_WORDS = 32, SHORT_MAX = 7 };
#define LONG_FLAG 0x8000000000000000ULL

/* word == 0 marks an empty slot: a short word has a length byte of 1..7 and
 * a long one has LONG_FLAG. */
typedef struct {
  uint64_t word; /* short: bytes | length << 56; long: LONG_FLAG | hash bits << 32 | arena offset / 8 */
  uint64_t count;
} slot;

typedef struct {
  slot *slots;
  uint64_t mask, used;
  unsigned char *arena; /* long words: an 8-byte length, the bytes, padding to 8 */
  uint64_t arena_len, arena_cap;
} table;

static unsigned char is_space[256];

static void *xalloc(void *p, size_t n, int zero) {
  void *q = zero ? calloc(n, 1) : realloc(p, n);
  if (!q) {
    fprintf(stderr, "wc_serial: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return q;
}

/* A zeroed array of n slots; large ones ask for transparent huge pages. */
static slot *slots_alloc(uint64_t n) {
  size_t bytes = n * sizeof(slot), huge = 2u << 20;
  void *p = NULL;
  if (bytes < huge || posix_memalign(&p, huge, bytes) != 0) return xalloc(NULL, bytes, 1);
  madvise(p, bytes, MADV_HUGEPAGE);
  return memset(p, 0, bytes);
}

static inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t m = (__uint128_t)(a ^ 0x9e3779b97f4a7c15ULL) * (b ^ 0xd6e8feb86659fd93ULL);
  return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/* The n < 8 bytes at p, or 8 of them; reading 8 is safe thanks to padding. */
static inline uint64_t load8(const unsigned char *p, uint64_t n) {
  uint64_t v;
  memcpy(&v, p, 8);
  return n >= 8 ? v : v & ((1ULL << (8 * n)) - 1);
}

static inline uint64_t hash_long(const unsigned char *p, uint64_t n) {
  uint64_t h = mix(n, 0);
  for (uint64_t i = 0; i < n; i += 8) h = mix(h, load8(p + i, n - i));
  return h;
}

static inline const unsigned char *long_bytes(const table *t, uint64_t word, uint64_t *n) {
  const unsigned char *at = t->arena + 8 * (uint32_t)word;
  memcpy(n, at, 8);
  return at + 8;
}

static void table_grow(table *t) {
  slot *old = t->slots;
  uint64_t old_size = t->mask + 1;
  t->slots = slots_alloc(2 * old_size);
  t->mask = 2 * old_size - 1;
  for (uint64_t i = 0; i < old_size; i++) {
    uint64_t w = old[i].word, n;
    if (!w) continue;
    const unsigned char *p = w & LONG_FLAG ? long_bytes(t, w, &n) : NULL;
    uint64_t j = (p ? hash_long(p, n) : mix(w, 0)) & t->mask;
    while (t->slots[j].word) j = (j + 1) & t->mask;
    t->slots[j] = old[i];
  }
  free(old);
}

/* Adds one occurrence of word p[0, n) with hash h; key is the slot word for a
 * short word, and the hash tag (no offset yet) for a long one. */
static inline void table_add(table *t, const unsigned char *p, uint64_t n, uint64_t h, uint64_t key) {
  uint64_t j = h & t->mask;
  slot *s;
  if (n <= SHORT_MAX) {
    for (s = &t->slots[j]; s->word != key; s = &t->slots[j = (j + 1) & t->mask])
      if (!s->word) goto insert;
    s->count++;
    return;
  }
  for (s = &t->slots[j]; s->word; s = &t->slots[j = (j + 1) & t->mask]) {
    uint64_t len;
    const unsigned char *q = s->word >> 32 == key >> 32 ? long_bytes(t, s->word, &len) : NULL;
    if (q && len == n && memcmp(q, p, n) == 0) {
      s->count++;
      return;
    }
  }
  uint64_t need = 8 + (n + 7) / 8 * 8;
  if (t->arena_len + need > t->arena_cap) {
    t->arena_cap = 2 * (t->arena_cap + need);
    t->arena = xalloc(t->arena, t->arena_cap, 0);
  }
  if (t->arena_len / 8 > UINT32_MAX) {
    fprintf(stderr, "wc_serial: more than 32 GiB of long words\n");
    exit(1);
  }
  memcpy(t->arena + t->arena_len, &n, 8);
  memcpy(t->arena + t->arena_len + 8, p, n);
  key |= t->arena_len / 8;
  t->arena_len += need;
insert:
  *s = (slot){key, 1};
  if (++t->used * 2 > t->mask + 1) table_grow(t);
}

/* The whitespace bits of the 64 bytes at p (bit k: p[k] is whitespace).
 * is_space[] is the definition; with SSE2 (every x86-64) the same set is
 * tested 16 bytes at a time, because the table's load, shift and or per byte
 * cost a third of the whole run. */
static inline uint64_t space_bits64(const unsigned char *p) {
  uint64_t m = 0;
#ifdef __SSE2__
  const __m128i blank = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
  for (int k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    __m128i ctl = _mm_sub_epi8(v, tab); /* \t \n \v \f \r become 0..4 */
    ctl = _mm_cmpeq_epi8(_mm_min_epu8(ctl, four), ctl);
    __m128i sp = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, blank));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(sp) << (16 * k);
  }
#else
  for (int k = 0; k < 64; k++) m |= (uint64_t)is_space[p[k]] << k;
#endif
  return m;
}

/* Marks the whitespace of data[0, n) in bits; every bit from n on is set and
 * one all-ones word follows, so a scan for the end of a word always stops. */
static void mark_spaces(const unsigned char *data, size_t n, uint64_t *bits) {
  size_t full = n / 64;
  for (size_t b = 0; b < full; b++) bits[b] = space_bits64(data + 64 * b);
  uint64_t m = ~0ULL;
  for (size_t k = 0; k < n % 64; k++)
    if (!is_space[data[64 * full + k]]) m &= ~(1ULL << k);
  bits[full] = m;
  bits[full + 1] = ~0ULL;
}

/* Counts the whole words of data[0, n) and returns the length of the word
 * at the end that may go on in the next chunk (0 when `last`). bits has room
 * for n / 64 + 2 words; data has PAD_BYTES readable bytes after n. */
static size_t count_words(table *t, const unsigned char *data, size_t n, int last, uint64_t *bits,
                          uint64_t *words) {
  const unsigned char *word_at[BATCH_WORDS];
  uint64_t word_len[BATCH_WORDS], word_hash[BATCH_WORDS], word_key[BATCH_WORDS];
  mark_spaces(data, n, bits);
  size_t at = 0, last_block = n / 64, tail = 0;
  for (int more = 1; more;) {
    int k = 0;
    for (; k < BATCH_WORDS; k++) {
      size_t b = at / 64; /* the next word byte ... */
      uint64_t w = ~bits[b] & (~0ULL << (at % 64));
      while (!w && b < last_block) w = ~bits[++b];
      if (!w) {
        more = 0;
        break;
      }
      size_t from = 64 * b + (size_t)__builtin_ctzll(w);
      uint64_t s = bits[b] & (~0ULL << (from % 64)); /* ... and the whitespace after it */
      while (!s) s = bits[++b];
      at = 64 * b + (size_t)__builtin_ctzll(s);
      if (at == n && !last) {
        tail = n - from;
        more = 0;
        break;
      }
      uint64_t len = at - from, h;
      if (len <= SHORT_MAX) {
        word_key[k] = load8(data + from, len) | len << 56;
        h = mix(word_key[k], 0);
      } else {
        h = hash_long(data + from, len);
        word_key[k] = LONG_FLAG | (h >> 33) << 32;
      }
      word_at[k] = data + from, word_len[k] = len, word_hash[k] = h;
      __builtin_prefetch(&t->slots[h & t->mask]);
    }
    for (int i = 0; i < k; i++) table_add(t, word_at[i], word_len[i], word_hash[i], word_key[i]);
    *words += (uint64_t)k;
  }
  return tail;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int write_counts(const table *t, const char *path) {
  FILE *out = fopen(path, "w");
  if (!out) return -1;
  for (uint64_t i = 0; i <= t->mask; i++) {
    uint64_t w = t->slots[i].word, n;
    unsigned char short_bytes[8];
    const unsigned char *p = short_bytes;
    if (!w) continue;
    if (w & LONG_FLAG) {
      p = long_bytes(t, w, &n);
    } else {
      n = w >> 56;
      for (uint64_t k = 0; k < n; k++) short_bytes[k] = (unsigned char)(w >> (8 * k));
    }
    fwrite(p, 1, n, out);
    fprintf(out, "\t%llu\n", (unsigned long long)t->slots[i].count);
  }
  int failed = ferror(out);
  return fclose(out) != 0 || failed ? -1 : 0;
}

int main(int argc, char **argv) {
  const char *out_path = NULL;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "-o") == 0) out_path = argv[2], first = 3;
  if (first >= argc || argv[first][0] == '-') {
    fprintf(stderr, "usage: %s [-o FILE] INPUT...\n", argv[0]);
    return first < argc && strcmp(argv[first], "--help") == 0 ? 0 : 64;
  }
  const unsigned char spaces[] = {' ', '\t', '\n', '\v', '\f', '\r'};
  for (size_t i = 0; i < sizeof spaces; i++) is_space[spaces[i]] = 1;

  double start = now();
  table t = {slots_alloc(1 << 16), (1 << 16) - 1, 0, NULL, 0, 0};
  size_t cap = CHUNK_BYTES;
  unsigned char *buf = xalloc(NULL, cap + PAD_BYTES, 1); /* the padding is read: zero it */
  uint64_t *bits = xalloc(NULL, (cap / 64 + 2) * 8, 0);
  uint64_t bytes = 0, words = 0;
  for (int a = first; a < argc; a++) {
    int fd = open(argv[a], O_RDONLY);
    if (fd < 0) {
      fprintf(stderr, "wc_serial: %s: %s\n", argv[a], strerror(errno));
      return 1;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    size_t have = 0; /* bytes of an unfinished word at the start of buf */
    for (;;) {
      if (have == cap) { /* one word fills the buffer: make room */
        cap *= 2;
        buf = xalloc(buf, cap + PAD_BYTES, 0);
        memset(buf + cap, 0, PAD_BYTES);
        bits = xalloc(bits, (cap / 64 + 2) * 8, 0);
      }
      ssize_t got = read(fd, buf + have, cap - have);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        fprintf(stderr, "wc_serial: %s: %s\n", argv[a], strerror(errno));
        return 1;
      }
      bytes += (uint64_t)got;
      size_t n = have + (size_t)got;
      have = count_words(&t, buf, n, got == 0, bits, &words);
      memmove(buf, buf + n - have, have);
      if (got == 0) break;
    }
    close(fd);
  }
  double seconds = now() - start;
  printf("wc_serial: bytes=%llu words=%llu distinct=%llu seconds=%.6f mb_per_s=%.1f\n",
         (unsigned long long)bytes, (unsigned long long)words, (unsigned long long)t.used, seconds,
         seconds > 0 ? (double)bytes / seconds / 1e6 : 0.0);
  if (out_path && write_counts(&t, out_path) != 0) {
    fprintf(stderr, "wc_serial: %s: %s\n", out_path, strerror(errno));
    return 1;
  }
  free(t.slots);
  free(t.arena);
  free(buf);
  free(bits);
  return 0;
}
