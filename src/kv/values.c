/* kv/values.c — the reducer's value iterator; see values.h. */
#include "kv/values.h"

int mpimr_values_next(mpimr_values *values, const void **value, size_t *value_len) {
  if (values->merge != NULL) {
    if (values->error) return 0;
    const unsigned char *bytes;
    int rc = merge_next_value(values->merge, &bytes, value_len);
    if (rc < 0) {
      values->error = rc;
      return 0;
    }
    if (rc == 1) *value = bytes;
    return rc;
  }
  if (values->next >= values->count) return 0;
  const sort_item *item = &values->items[values->next++];
  *value = item->key + item->key_len;
  *value_len = item->value_len;
  return 1;
}

size_t mpimr_values_count(const mpimr_values *values) {
  return values->merge != NULL ? (size_t)values->merge->group_count : values->count;
}
