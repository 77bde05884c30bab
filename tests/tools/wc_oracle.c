/*
 * tests/tools/wc_oracle.c — checks a word-count output directory against an
 * independent count of the input files.
 *
 * usage: wc_oracle OUTDIR NPARTS INPUT_FILE...
 * Exit 0 and "ok: N distinct words" when OUTDIR/part-00000..NPARTS-1 hold
 * exactly the words of the inputs with their counts (each part in strict
 * key order) and OUTDIR/_SUCCESS exists; exit 1 with the first difference
 * otherwise.
 */
#include <unistd.h>

#include "../common/word_oracle.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s OUTDIR NPARTS INPUT_FILE...\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  int parts = atoi(argv[2]);
  word_list expected = {0}, got = {0};
  for (int i = 3; i < argc; i++)
    if (!oracle_add_file(&expected, argv[i])) {
      fprintf(stderr, "wc_oracle: cannot read input '%s'\n", argv[i]);
      return 1;
    }
  list_collapse(&expected);
  if (!read_parts(&got, dir, parts)) {
    fprintf(stderr, "wc_oracle: parts in '%s' are missing or malformed\n", dir);
    return 1;
  }
  list_collapse(&got);
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/_SUCCESS", dir);
  int ok = lists_equal(&expected, &got);
  if (access(marker, F_OK) != 0) {
    fprintf(stderr, "wc_oracle: %s is missing\n", marker);
    ok = 0;
  }
  if (ok) printf("ok: %zu distinct words\n", expected.count);
  list_free(&expected);
  list_free(&got);
  return ok ? 0 : 1;
}
