/*
 * tests/mpi/test_pin.c — checks mpimr_pin() against the real binding, under
 * mpirun.
 *
 *   mpirun [mpirun options] test_pin MODE EXPECT
 *
 * MODE is "auto", "core" or "none"; EXPECT is what the mpirun options should
 * lead to: "bound", "oversubscribed", "kept" or "disabled". The test reads the
 * binding with hwloc itself before and after the call, so it checks what the
 * operating system did, not only what the report claims.
 *
 * A failed assertion on one rank while the others enter a collective would
 * hang the job, so each check first computes this rank's verdict, prints the
 * reason where it failed, agrees on the verdict across all ranks, and only
 * then asserts.
 */
#include <hwloc.h>
#include <mpi.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs setjmp.h (and stdarg.h, stddef.h) included before it. */
/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "mpimr/error.h"
#include "mpimr/pin.h"

typedef enum expectation { EXPECT_BOUND, EXPECT_OVERSUBSCRIBED, EXPECT_KEPT, EXPECT_DISABLED } expectation;

/* The command line, handed to the test through cmocka's initial state. */
typedef struct pin_args {
  mpimr_pin_mode mode;
  expectation expected;
} pin_args;

/* One rank's view of the hardware and of its binding at some moment. */
typedef struct binding_probe {
  hwloc_topology_t topology;
  hwloc_bitmap_t binding;
} binding_probe;

/* A failure reason, empty while every check on this rank has passed. */
typedef struct verdict {
  char reason[512];
} verdict;

static int world_rank(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

/* Records the first failure only: later ones usually follow from it. */
static void verdict_fail(verdict *v, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void verdict_fail(verdict *v, const char *format, ...) {
  if (v->reason[0] != '\0') return;
  va_list args;
  va_start(args, format);
  vsnprintf(v->reason, sizeof v->reason, format, args);
  va_end(args);
}

/*
 * Prints this rank's reason, then returns 1 only if every rank passed. All
 * ranks must call it the same number of times.
 */
static int verdict_agree(const verdict *v, const char *check) {
  int passed = v->reason[0] == '\0';
  if (!passed) fprintf(stderr, "test_pin: rank %d: %s: %s\n", world_rank(), check, v->reason);
  int all_passed = 0;
  if (MPI_Allreduce(&passed, &all_passed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
    return 0;
  }
  return all_passed;
}

static void probe_open(binding_probe *probe, verdict *v) {
  probe->topology = NULL;
  probe->binding = hwloc_bitmap_alloc();
  if (probe->binding == NULL || hwloc_topology_init(&probe->topology) != 0) {
    probe->topology = NULL;
    verdict_fail(v, "hwloc could not start");
    return;
  }
  if (hwloc_topology_load(probe->topology) != 0) verdict_fail(v, "hwloc could not load the topology");
}

/* Rereads the process binding; the topology stays as loaded. */
static void probe_read(binding_probe *probe, verdict *v) {
  if (probe->topology == NULL || probe->binding == NULL) return;
  if (hwloc_get_cpubind(probe->topology, probe->binding, HWLOC_CPUBIND_PROCESS) != 0) {
    verdict_fail(v, "hwloc_get_cpubind failed");
  }
}

static void probe_close(binding_probe *probe) {
  if (probe->binding != NULL) hwloc_bitmap_free(probe->binding);
  if (probe->topology != NULL) hwloc_topology_destroy(probe->topology);
}

/* The cpuset of core `index`, counting PUs as cores where hwloc shows no cores. */
static hwloc_const_cpuset_t probe_core_cpuset(const binding_probe *probe, int index) {
  hwloc_obj_type_t type = HWLOC_OBJ_CORE;
  if (hwloc_get_nbobjs_by_type(probe->topology, HWLOC_OBJ_CORE) <= 0) type = HWLOC_OBJ_PU;
  hwloc_obj_t core = hwloc_get_obj_by_type(probe->topology, type, (unsigned)index);
  return core != NULL ? core->cpuset : NULL;
}

static int probe_is_bound(const binding_probe *probe) {
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(probe->topology);
  return !hwloc_bitmap_isincluded(allowed, probe->binding);
}

static void bitmap_text(hwloc_const_bitmap_t set, char *text, size_t size) {
  if (set == NULL || hwloc_bitmap_list_snprintf(text, size, set) < 0) snprintf(text, size, "?");
}

static mpimr_pin_action expected_action(expectation expected) {
  switch (expected) {
    case EXPECT_BOUND: return MPIMR_PIN_BOUND_CORE;
    case EXPECT_OVERSUBSCRIBED: return MPIMR_PIN_OVERSUBSCRIBED;
    case EXPECT_KEPT: return MPIMR_PIN_KEPT_EXISTING;
    case EXPECT_DISABLED: break;
  }
  return MPIMR_PIN_DISABLED;
}

/* Checks the report against itself and against the binding hwloc reads now. */
static void check_report(const mpimr_pin_report *r, const binding_probe *after, verdict *v) {
  char actual[128];
  bitmap_text(after->binding, actual, sizeof actual);
  if (strcmp(r->cpuset, actual) != 0) {
    verdict_fail(v, "report says cpuset %s, hwloc reads %s", r->cpuset, actual);
  }
  if (r->local_rank < 0 || r->local_rank >= r->local_size) {
    verdict_fail(v, "local rank %d outside 0..%d", r->local_rank, r->local_size - 1);
  }
  if (r->cores <= 0) verdict_fail(v, "report counts %d cores", r->cores);
}

/* BOUND_CORE: the binding must be exactly the cpuset of core local_rank. */
static void check_bound(const mpimr_pin_report *r, const binding_probe *after, verdict *v) {
  if (r->core_index != r->local_rank) {
    verdict_fail(v, "core_index %d, expected local rank %d", r->core_index, r->local_rank);
  }
  hwloc_const_cpuset_t core = probe_core_cpuset(after, r->local_rank);
  if (core == NULL || !hwloc_bitmap_isequal(core, after->binding)) {
    char want[128], got[128];
    bitmap_text(core, want, sizeof want);
    bitmap_text(after->binding, got, sizeof got);
    verdict_fail(v, "bound to %s, core %d is %s", got, r->local_rank, want);
  }
}

/* Every other outcome must leave the binding exactly as it was. */
static void check_unchanged(const mpimr_pin_report *r, const binding_probe *before,
                            const binding_probe *after, verdict *v) {
  if (r->core_index != -1) verdict_fail(v, "core_index %d, expected -1", r->core_index);
  if (!hwloc_bitmap_isequal(before->binding, after->binding)) {
    char was[128], now[128];
    bitmap_text(before->binding, was, sizeof was);
    bitmap_text(after->binding, now, sizeof now);
    verdict_fail(v, "binding changed from %s to %s", was, now);
  }
}

/* Checks that the preconditions the mpirun options should create hold. */
static void check_preconditions(const pin_args *args, const mpimr_pin_report *r, const binding_probe *before,
                                verdict *v) {
  expectation expected = args->expected;
  if (expected == EXPECT_KEPT && !probe_is_bound(before)) {
    verdict_fail(v, "mpirun did not bind this rank (run with --bind-to core)");
  }
  /* Only AUTO needs an unbound rank to bind; CORE rebinds over anything. */
  if (expected == EXPECT_BOUND && args->mode == MPIMR_PIN_AUTO && probe_is_bound(before)) {
    verdict_fail(v, "rank was bound before the call (run with --bind-to none)");
  }
  if (expected == EXPECT_OVERSUBSCRIBED && r->local_size <= r->cores) {
    verdict_fail(v, "%d local ranks on %d cores is not oversubscribed", r->local_size, r->cores);
  }
}

/*
 * Gathers every local rank's core index and fails if two ranks of a node
 * claim the same core. Collective over the node: every rank calls it.
 */
static void check_distinct_cores(const mpimr_pin_report *r, verdict *v) {
  MPI_Comm node = MPI_COMM_NULL;
  int size = 0;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &size);
  int *cores = malloc(sizeof *cores * (size_t)size);
  if (cores == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Allgather(&r->core_index, 1, MPI_INT, cores, 1, MPI_INT, node);
  for (int i = 0; i < size; i++) {
    for (int j = i + 1; j < size; j++) {
      if (cores[i] == cores[j]) verdict_fail(v, "local ranks %d and %d share core %d", i, j, cores[i]);
    }
  }
  free(cores);
  MPI_Comm_free(&node);
}

static void test_pin_matches_expectation(void **state) {
  const pin_args *args = *state;
  verdict v = {{0}};
  binding_probe before, after;
  probe_open(&before, &v);
  probe_read(&before, &v);

  mpimr_pin_report r;
  int rc = mpimr_pin(MPI_COMM_WORLD, args->mode, &r);
  if (rc != MPIMR_OK) verdict_fail(&v, "mpimr_pin returned %d", rc);
  if (r.action != expected_action(args->expected)) {
    verdict_fail(&v, "action is '%s', expected '%s'", mpimr_pin_action_name(r.action),
                 mpimr_pin_action_name(expected_action(args->expected)));
  }

  probe_open(&after, &v);
  probe_read(&after, &v);
  if (v.reason[0] == '\0') {
    check_preconditions(args, &r, &before, &v);
    check_report(&r, &after, &v);
    if (args->expected == EXPECT_BOUND) {
      check_bound(&r, &after, &v);
    } else {
      check_unchanged(&r, &before, &after, &v);
    }
  }
  if (args->expected == EXPECT_BOUND) check_distinct_cores(&r, &v);
  probe_close(&before);
  probe_close(&after);
  assert_true(verdict_agree(&v, "pin"));
}

/* A bad mode fails on every rank, after the same collectives, touching nothing. */
static void test_invalid_mode_fails_everywhere(void **state) {
  (void)state;
  verdict v = {{0}};
  binding_probe before, after;
  probe_open(&before, &v);
  probe_read(&before, &v);
  mpimr_pin_report r;
  int rc = mpimr_pin(MPI_COMM_WORLD, (mpimr_pin_mode)42, &r);
  if (rc != MPIMR_ERR_INVAL) verdict_fail(&v, "mpimr_pin(42) returned %d, expected %d", rc, MPIMR_ERR_INVAL);
  probe_open(&after, &v);
  probe_read(&after, &v);
  if (v.reason[0] == '\0' && !hwloc_bitmap_isequal(before.binding, after.binding)) {
    verdict_fail(&v, "an invalid mode changed the binding");
  }
  probe_close(&before);
  probe_close(&after);
  assert_true(verdict_agree(&v, "invalid mode"));
}

/* Parsing is local, so plain assertions are safe here. */
static void test_mode_parse(void **state) {
  (void)state;
  mpimr_pin_mode mode = MPIMR_PIN_NONE;
  assert_int_equal(mpimr_pin_mode_parse("auto", &mode), MPIMR_OK);
  assert_int_equal(mode, MPIMR_PIN_AUTO);
  assert_int_equal(mpimr_pin_mode_parse("core", &mode), MPIMR_OK);
  assert_int_equal(mode, MPIMR_PIN_CORE);
  assert_int_equal(mpimr_pin_mode_parse("none", &mode), MPIMR_OK);
  assert_int_equal(mode, MPIMR_PIN_NONE);
  static const char *const bad[] = {"", "AUTO", "Core", "auto ", " none", "aut", "corex", "off"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mode = MPIMR_PIN_CORE;
    assert_int_equal(mpimr_pin_mode_parse(bad[i], &mode), MPIMR_ERR_INVAL);
    assert_int_equal(mode, MPIMR_PIN_CORE);
  }
  assert_int_equal(mpimr_pin_mode_parse(NULL, &mode), MPIMR_ERR_INVAL);
  assert_int_equal(mpimr_pin_mode_parse("auto", NULL), MPIMR_ERR_INVAL);
}

static void test_action_names(void **state) {
  (void)state;
  assert_string_equal(mpimr_pin_action_name(MPIMR_PIN_KEPT_EXISTING), "kept existing binding");
  assert_string_equal(mpimr_pin_action_name(MPIMR_PIN_BOUND_CORE), "bound to core");
  assert_string_equal(mpimr_pin_action_name(MPIMR_PIN_OVERSUBSCRIBED), "not bound: oversubscribed");
  assert_string_equal(mpimr_pin_action_name(MPIMR_PIN_DISABLED), "binding disabled");
  assert_non_null(mpimr_pin_action_name((mpimr_pin_action)99));
}

static int parse_expectation(const char *text, expectation *expected) {
  static const struct {
    const char *name;
    expectation value;
  } names[] = {{"bound", EXPECT_BOUND},
               {"oversubscribed", EXPECT_OVERSUBSCRIBED},
               {"kept", EXPECT_KEPT},
               {"disabled", EXPECT_DISABLED}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(text, names[i].name) == 0) {
      *expected = names[i].value;
      return 0;
    }
  }
  return -1;
}

static int parse_args(int argc, char **argv, pin_args *args) {
  if (argc != 3 || mpimr_pin_mode_parse(argv[1], &args->mode) != MPIMR_OK ||
      parse_expectation(argv[2], &args->expected) != 0) {
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  pin_args args;
  /* Every rank sees the same argv, so every rank takes the same branch. */
  if (parse_args(argc, argv, &args) != 0) {
    if (world_rank() == 0) {
      fprintf(stderr, "usage: test_pin auto|core|none bound|oversubscribed|kept|disabled\n");
    }
    MPI_Finalize();
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate(test_pin_matches_expectation, &args),
      cmocka_unit_test(test_invalid_mode_fails_everywhere),
      cmocka_unit_test(test_mode_parse),
      cmocka_unit_test(test_action_names),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
