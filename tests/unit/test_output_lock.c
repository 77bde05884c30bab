/*
 * tests/unit/test_output_lock.c — who owns an output directory
 * (job/output_lock.h), whether a process still runs (util/process_id.h), and
 * which spill directories a later job reclaims (spill_reclaim, job/spill.h).
 * Dead processes are real ones: children that exited (reaped, or still
 * zombies); a reused PID is this process with another start time; another
 * host is a lock written by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "job/output_lock.h"
#include "job/spill.h"
#include "mpimr/error.h"
#include "util/process_id.h"

static char dir[64];

static int make_dir(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/mpimr-lock-test-XXXXXX");
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int remove_dir(void **state) {
  (void)state;
  char command[128];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  return system(command) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int exists(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* A child that has exited: reaped (its PID is gone) or not (a zombie). */
static pid_t dead_child(int reap) {
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) _exit(0);
  if (reap) {
    assert_int_equal(waitpid(child, NULL, 0), child);
  } else {
    /* Wait until it is a zombie. */
    for (int i = 0; i < 1000; i++) {
      siginfo_t info;
      memset(&info, 0, sizeof info);
      if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) break;
      usleep(1000);
    }
  }
  return child;
}

/* A lock file as another process of this host would write it. */
static void write_lock_of(const process_id *owner) {
  char text[1024];
  snprintf(text, sizeof text,
           "mpimr output lock\nhost=%s\npid=%ld\nstart_ticks=%llu\nboot_id=%s\nprogram=mpimr-sort\nranks=3\n"
           "started=2026-12-01T10:00:00Z\nslurm_job=\n",
           owner->host, owner->pid, owner->start_ticks, owner->boot_id);
  write_file(OUTPUT_LOCK_NAME, text);
}

static void test_liveness(void **state) {
  (void)state;
  process_id self, other;
  process_id_self(&self);
  assert_true(self.host[0] != '\0');
  assert_int_equal(self.pid, (long)getpid());
  assert_true(self.start_ticks > 0);
  assert_int_equal(process_id_liveness(&self, &self), PROCESS_ALIVE);

  other = self; /* the same PID started at another time: a reused PID */
  other.start_ticks++;
  assert_int_equal(process_id_liveness(&other, &self), PROCESS_DEAD);
  other = self; /* another boot */
  snprintf(other.boot_id, sizeof other.boot_id, "not-this-boot");
  if (self.boot_id[0]) assert_int_equal(process_id_liveness(&other, &self), PROCESS_DEAD);
  other = self;
  snprintf(other.host, sizeof other.host, "elsewhere.example");
  assert_int_equal(process_id_liveness(&other, &self), PROCESS_UNKNOWN);

  other = self;
  other.pid = dead_child(1);
  assert_int_equal(process_id_liveness(&other, &self), PROCESS_DEAD);
  pid_t zombie = dead_child(0);
  other.pid = zombie;
  other.start_ticks = process_start_ticks(zombie);
  assert_int_equal(process_id_liveness(&other, &self), PROCESS_DEAD);
  waitpid(zombie, NULL, 0);
}

static void test_take_and_refuse(void **state) {
  (void)state;
  output_lock first, second;
  char message[1024];
  assert_int_equal(output_lock_take(&first, dir, 4, message, sizeof message), MPIMR_OK);
  assert_true(exists(OUTPUT_LOCK_NAME));
  /* Held by a running process (this one): refused, naming it. */
  assert_int_equal(output_lock_take(&second, dir, 2, message, sizeof message), MPIMR_ERR_BUSY);
  char expected[128];
  snprintf(expected, sizeof expected, "on 4 ranks, rank 0 PID %ld on host ", (long)getpid());
  assert_non_null(strstr(message, expected));
  assert_non_null(strstr(message, "remove '"));
  assert_int_equal(output_lock_check(dir, message, sizeof message), MPIMR_ERR_BUSY);
  output_lock_release(&first);
  assert_false(exists(OUTPUT_LOCK_NAME));
  assert_int_equal(output_lock_check(dir, message, sizeof message), MPIMR_OK);
  assert_int_equal(output_lock_take(&second, dir, 2, message, sizeof message), MPIMR_OK);
  output_lock_release(&second);
  /* No private file is left behind. */
  char command[160];
  snprintf(command, sizeof command, "test -z \"$(ls -A '%s')\"", dir);
  assert_int_equal(system(command), 0);
}

static void test_stale_and_foreign(void **state) {
  (void)state;
  process_id owner;
  process_id_self(&owner);
  output_lock lock;
  char message[1024];

  owner.pid = dead_child(1); /* a job of this host that was killed */
  write_lock_of(&owner);
  assert_int_equal(output_lock_check(dir, message, sizeof message), MPIMR_OK);
  assert_int_equal(output_lock_take(&lock, dir, 1, message, sizeof message), MPIMR_OK);
  assert_false(exists(OUTPUT_LOCK_NAME ".break"));
  output_lock_release(&lock);

  process_id_self(&owner); /* this PID, but started at another time */
  owner.start_ticks += 7;
  write_lock_of(&owner);
  assert_int_equal(output_lock_take(&lock, dir, 1, message, sizeof message), MPIMR_OK);
  output_lock_release(&lock);

  process_id_self(&owner); /* another host: never taken */
  snprintf(owner.host, sizeof owner.host, "n17.cluster.example");
  owner.pid = 1;
  write_lock_of(&owner);
  assert_int_equal(output_lock_take(&lock, dir, 1, message, sizeof message), MPIMR_ERR_BUSY);
  assert_non_null(strstr(message, "mpimr-sort on 3 ranks, rank 0 PID 1 on host n17.cluster.example"));
  assert_non_null(strstr(message, "started 2026-12-01T10:00:00Z"));
  assert_true(exists(OUTPUT_LOCK_NAME));

  write_file(OUTPUT_LOCK_NAME, "garbage"); /* says nothing: refused, not broken */
  assert_int_equal(output_lock_take(&lock, dir, 1, message, sizeof message), MPIMR_ERR_BUSY);
  assert_non_null(strstr(message, "does not say which"));

  /* A stale lock while another job is breaking it: refused, the break lock named. */
  process_id_self(&owner);
  owner.pid = dead_child(1);
  write_lock_of(&owner);
  write_file(OUTPUT_LOCK_NAME ".break", "someone");
  assert_int_equal(output_lock_take(&lock, dir, 1, message, sizeof message), MPIMR_ERR_BUSY);
  assert_non_null(strstr(message, OUTPUT_LOCK_NAME ".break"));
}

static void make_spill_dir(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(mkdir(path, 0777), 0);
  snprintf(path, sizeof path, "%s/%s/run-000000", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("run", f);
  fclose(f);
}

static void test_spill_reclaim(void **state) {
  (void)state;
  process_id self;
  process_id_self(&self);
  char alive[300], dead[300], foreign[300];
  snprintf(alive, sizeof alive, "mpimr-spill-%ld.%llu.%s-abcdef", self.pid, self.start_ticks, self.host);
  snprintf(dead, sizeof dead, "mpimr-spill-%ld.%llu.%s-ghijkl", (long)dead_child(1), self.start_ticks, self.host);
  snprintf(foreign, sizeof foreign, "mpimr-spill-%ld.%llu.other-host.example-mnopqr", self.pid, self.start_ticks);
  make_spill_dir(alive);
  make_spill_dir(dead);
  make_spill_dir(foreign);
  make_spill_dir("mpimr-spill-Xy12Zq"); /* an older name that says nothing */
  write_file("mpimr-spill-notes.txt", "not a directory");

  /* A shared parent: only the dead owner's of this host. */
  assert_int_equal(spill_reclaim(dir, SPILL_RECLAIM_DEAD), 1);
  assert_true(exists(alive) && exists(foreign) && exists("mpimr-spill-Xy12Zq"));
  assert_false(exists(dead));
  /* A parent no running job uses (an output directory its lock holder claims): all but the living. */
  assert_int_equal(spill_reclaim(dir, SPILL_RECLAIM_UNLESS_ALIVE), 2);
  assert_true(exists(alive));
  assert_false(exists(foreign) || exists("mpimr-spill-Xy12Zq"));
  assert_true(exists("mpimr-spill-notes.txt")); /* files are never touched */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_liveness),
      cmocka_unit_test_setup_teardown(test_take_and_refuse, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(test_stale_and_foreign, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(test_spill_reclaim, make_dir, remove_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
