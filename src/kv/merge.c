/* kv/merge.c — k-way merge of sorted runs and item arrays; see merge.h. */
#include "kv/merge.h"

#include <stdlib.h>
#include <string.h>

#include "kv/codec.h"
#include "mpimr/error.h"

/* ---- sources ----------------------------------------------------------- */

/* Loads the first value of the next group of an item array, counting the group's items. */
static void items_next_group(merge_source *s) {
  if (s->item_next >= s->item_count) {
    s->done = 1;
    return;
  }
  const sort_item *first = &s->items[s->item_next];
  size_t end = s->item_next + 1;
  while (end < s->item_count && sort_item_compare(first, &s->items[end]) == 0) end++;
  s->key = first->key;
  s->key_len = first->key_len;
  s->group_left = end - s->item_next;
  s->value = first->key + first->key_len;
  s->value_len = first->value_len;
}

/* Loads the next group of a run and its first value. */
static int run_next_group(merge_source *s) {
  int rc = run_reader_next_group(s->run);
  if (rc <= 0) {
    s->done = rc == 0;
    return rc;
  }
  s->key = s->run->key;
  s->key_len = s->run->key_len;
  s->group_left = s->run->values_left;
  rc = run_reader_next_value(s->run, &s->value, &s->value_len);
  return rc < 0 ? rc : rc == 0 ? MPIMR_ERR_CORRUPT : MPIMR_OK;
}

static int source_first(merge_source *s) {
  if (s->run) return run_next_group(s);
  items_next_group(s);
  return MPIMR_OK;
}

/* The loaded value has been taken: load the next one, in this group or the next. */
static int source_advance(merge_source *s) {
  s->group_left--;
  if (s->run) {
    if (s->group_left == 0) return run_next_group(s);
    int rc = run_reader_next_value(s->run, &s->value, &s->value_len);
    return rc < 0 ? rc : rc == 0 ? MPIMR_ERR_CORRUPT : MPIMR_OK;
  }
  s->item_next++;
  if (s->group_left == 0) {
    items_next_group(s);
  } else {
    const sort_item *item = &s->items[s->item_next];
    s->value = item->key + item->key_len;
    s->value_len = item->value_len;
  }
  return MPIMR_OK;
}

/* ---- the heap ---------------------------------------------------------- */

static int source_less(const merger *m, size_t a, size_t b) {
  const merge_source *x = &m->sources[a], *y = &m->sources[b];
  int c = order_compare_keys(m->order, x->key, x->key_len, y->key, y->key_len);
  if (c == 0 && m->by_value) c = order_compare_values(m->order, x->value, x->value_len, y->value, y->value_len);
  return c != 0 ? c < 0 : a < b;
}

static void sift_down(merger *m, size_t at) {
  size_t *heap = m->heap;
  for (;;) {
    size_t smallest = at, left = 2 * at + 1, right = left + 1;
    if (left < m->heap_size && source_less(m, heap[left], heap[smallest])) smallest = left;
    if (right < m->heap_size && source_less(m, heap[right], heap[smallest])) smallest = right;
    if (smallest == at) return;
    size_t swap = heap[at];
    heap[at] = heap[smallest];
    heap[smallest] = swap;
    at = smallest;
  }
}

/* Advances the source whose value was handed out last and restores the heap. */
static int settle_pending(merger *m) {
  if (m->pending < 0) return MPIMR_OK;
  size_t index = (size_t)m->pending;
  m->pending = -1;
  int rc = source_advance(&m->sources[index]);
  if (rc != MPIMR_OK) {
    m->failed_source = (long)index;
    return rc;
  }
  if (m->sources[index].done) m->heap[0] = m->heap[--m->heap_size];
  if (m->heap_size > 0) sift_down(m, 0);
  return MPIMR_OK;
}

/* ---- the merge --------------------------------------------------------- */

int merge_init(merger *m, merge_source *sources, size_t source_count, int by_value, const kv_order *order) {
  memset(m, 0, sizeof *m);
  m->order = order;
  m->sources = sources;
  m->source_count = source_count;
  m->by_value = by_value;
  m->pending = -1;
  m->failed_source = -1;
  m->heap = malloc((source_count ? source_count : 1) * sizeof *m->heap);
  if (m->heap == NULL) return MPIMR_ERR_NOMEM;
  for (size_t i = 0; i < source_count; i++) {
    merge_source *s = &sources[i];
    s->item_next = 0;
    s->done = 0;
    int rc = source_first(s);
    if (rc != MPIMR_OK) {
      m->failed_source = (long)i;
      return rc;
    }
    if (!s->done) m->heap[m->heap_size++] = i;
  }
  for (size_t i = m->heap_size / 2; i-- > 0;) sift_down(m, i);
  return MPIMR_OK;
}

int merge_next_group(merger *m) {
  if (m->in_group) {
    const unsigned char *value;
    size_t length;
    int rc;
    while ((rc = merge_next_value(m, &value, &length)) == 1) {
    }
    if (rc < 0) return rc;
  }
  int rc = settle_pending(m);
  if (rc != MPIMR_OK) return rc;
  m->in_group = 0;
  if (m->heap_size == 0) return 0;
  const merge_source *top = &m->sources[m->heap[0]];
  if (top->key_len > m->key_capacity) {
    size_t capacity = m->key_capacity ? m->key_capacity : 64;
    while (capacity < top->key_len) capacity *= 2;
    unsigned char *grown = realloc(m->key, capacity);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    m->key = grown;
    m->key_capacity = capacity;
  }
  if (top->key_len) memcpy(m->key, top->key, top->key_len);
  m->key_len = top->key_len;
  /* Every source sits at the start of its smallest remaining key: the group's values are those of
   * the sources at this key. */
  m->group_count = 0;
  for (size_t i = 0; i < m->heap_size; i++) {
    const merge_source *s = &m->sources[m->heap[i]];
    if (codec_compare_keys(s->key, s->key_len, m->key, m->key_len) == 0) m->group_count += s->group_left;
  }
  m->in_group = 1;
  return 1;
}

int merge_next_value(merger *m, const unsigned char **value, size_t *value_len) {
  if (!m->in_group) return 0;
  int rc = settle_pending(m);
  if (rc != MPIMR_OK) return rc;
  if (m->heap_size == 0) {
    m->in_group = 0;
    return 0;
  }
  const merge_source *top = &m->sources[m->heap[0]];
  if (codec_compare_keys(top->key, top->key_len, m->key, m->key_len) != 0) {
    m->in_group = 0;
    return 0;
  }
  *value = top->value;
  *value_len = top->value_len;
  m->pending = (long)m->heap[0];
  return 1;
}

void merge_destroy(merger *m) {
  free(m->heap);
  free(m->key);
  m->heap = NULL;
  m->key = NULL;
}
