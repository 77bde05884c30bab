/*
 * src/topo/pin.c — binding each rank to a core with hwloc; see mpimr/pin.h.
 *
 * The MPI part (finding the local rank, agreeing on the outcome) and the
 * hwloc part (reading the topology and the binding, binding) are kept apart:
 * every rank makes the same MPI calls in the same order whatever its own
 * hwloc work finds, so a failure on one rank can never leave the others
 * waiting in a collective. Nothing here keeps state between calls.
 */
#include "mpimr/pin.h"

#include <hwloc.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "mpimr/error.h"

/* What one rank knows about its node before it looks at the hardware. */
typedef struct pin_layout {
  int local_rank;
  int local_size;
} pin_layout;

/* The hwloc objects one call to mpimr_pin() works with. */
typedef struct pin_topology {
  hwloc_topology_t topology;
  hwloc_bitmap_t binding;
  hwloc_obj_type_t core_type; /* HWLOC_OBJ_CORE, or HWLOC_OBJ_PU where no core is reported. */
  int cores;
} pin_topology;

static bool mode_is_valid(mpimr_pin_mode mode) {
  return mode == MPIMR_PIN_AUTO || mode == MPIMR_PIN_CORE || mode == MPIMR_PIN_NONE;
}

/*
 * Finds the caller's rank among the ranks that share its node. The node
 * communicator lives only as long as this function, so every rank creates
 * and frees it at the same point of mpimr_pin().
 */
static int layout_find(MPI_Comm comm, pin_layout *layout) {
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) {
    return MPIMR_ERR_MPI;
  }
  int status = MPIMR_OK;
  if (MPI_Comm_rank(node, &layout->local_rank) != MPI_SUCCESS ||
      MPI_Comm_size(node, &layout->local_size) != MPI_SUCCESS) {
    status = MPIMR_ERR_MPI;
  }
  if (MPI_Comm_free(&node) != MPI_SUCCESS) status = MPIMR_ERR_MPI;
  return status;
}

/*
 * Counts cores. Some virtual machines and unusual platforms report no core
 * objects at all; there each processing unit stands for a core, which is
 * what a rank can be bound to anyway.
 */
static void topology_count_cores(pin_topology *topo) {
  int cores = hwloc_get_nbobjs_by_type(topo->topology, HWLOC_OBJ_CORE);
  topo->core_type = HWLOC_OBJ_CORE;
  if (cores <= 0) {
    cores = hwloc_get_nbobjs_by_type(topo->topology, HWLOC_OBJ_PU);
    topo->core_type = HWLOC_OBJ_PU;
  }
  topo->cores = cores > 0 ? cores : 0;
}

/* Reads the whole process's current binding into topo->binding. */
static int topology_read_binding(pin_topology *topo) {
  if (hwloc_get_cpubind(topo->topology, topo->binding, HWLOC_CPUBIND_PROCESS) != 0) {
    return MPIMR_ERR_TOPOLOGY;
  }
  return MPIMR_OK;
}

/*
 * Loads the topology and the current binding. On failure whatever was
 * allocated is left in `topo` for topology_close() to release, so the caller
 * has one cleanup path.
 */
static int topology_open(pin_topology *topo) {
  topo->topology = NULL;
  topo->binding = NULL;
  topo->cores = 0;
  topo->core_type = HWLOC_OBJ_CORE;
  if (hwloc_topology_init(&topo->topology) != 0) {
    topo->topology = NULL;
    return MPIMR_ERR_TOPOLOGY;
  }
  if (hwloc_topology_load(topo->topology) != 0) return MPIMR_ERR_TOPOLOGY;
  topo->binding = hwloc_bitmap_alloc();
  /* pin.h promises only the codes it lists, so a failed allocation here
   * counts as the topology being unreadable. */
  if (topo->binding == NULL) return MPIMR_ERR_TOPOLOGY;
  topology_count_cores(topo);
  if (topo->cores == 0) return MPIMR_ERR_TOPOLOGY;
  return topology_read_binding(topo);
}

static void topology_close(pin_topology *topo) {
  if (topo->binding != NULL) hwloc_bitmap_free(topo->binding);
  if (topo->topology != NULL) hwloc_topology_destroy(topo->topology);
  topo->binding = NULL;
  topo->topology = NULL;
}

/*
 * A process counts as already bound when its binding leaves out some of the
 * processing units it is allowed to use. Comparing with the allowed set, not
 * the complete one, matters in containers and batch jobs: there a cgroup
 * limits the process to a few CPUs of a large machine, and a binding equal
 * to that limit is nobody's choice, so it must not stop us from binding.
 */
static bool topology_is_bound(const pin_topology *topo) {
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo->topology);
  return !hwloc_bitmap_isincluded(allowed, topo->binding);
}

/* Binds every thread of the process to core `index`, then rereads the binding. */
static int topology_bind_core(pin_topology *topo, int index) {
  hwloc_obj_t core = hwloc_get_obj_by_type(topo->topology, topo->core_type, (unsigned)index);
  if (core == NULL || core->cpuset == NULL) return MPIMR_ERR_TOPOLOGY;
  if (hwloc_set_cpubind(topo->topology, core->cpuset, HWLOC_CPUBIND_PROCESS) != 0) {
    return MPIMR_ERR_TOPOLOGY;
  }
  return topology_read_binding(topo);
}

/* Decides what to do; the decision needs nothing but these three facts. */
static mpimr_pin_action pin_decide(mpimr_pin_mode mode, bool bound, bool oversubscribed) {
  if (mode == MPIMR_PIN_NONE) return MPIMR_PIN_DISABLED;
  if (mode == MPIMR_PIN_AUTO && bound) return MPIMR_PIN_KEPT_EXISTING;
  if (oversubscribed) return MPIMR_PIN_OVERSUBSCRIBED;
  return MPIMR_PIN_BOUND_CORE;
}

/*
 * MPIMR_PIN_NONE changes nothing, so it does not load hwloc's topology (tens of milliseconds, which
 * an iterative program running many jobs would pay each time): the CPUs this process may run on
 * are read from the kernel and counted as cores, and listed as hwloc lists them ("0-1,4").
 */
static int pin_report_unchanged(mpimr_pin_report *report) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return MPIMR_ERR_TOPOLOGY;
  report->action = MPIMR_PIN_DISABLED;
  report->cores = CPU_COUNT(&allowed);
  size_t used = 0;
  report->cpuset[0] = '\0';
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed) || (cpu > 0 && CPU_ISSET(cpu - 1, &allowed))) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &allowed)) last++;
    int n = last == cpu ? snprintf(report->cpuset + used, sizeof report->cpuset - used, "%s%d", used ? "," : "", cpu)
                        : snprintf(report->cpuset + used, sizeof report->cpuset - used, "%s%d-%d",
                                   used ? "," : "", cpu, last);
    if (n < 0 || (size_t)n >= sizeof report->cpuset - used) break; /* cut at the field's size */
    used += (size_t)n;
  }
  return MPIMR_OK;
}

/* Does the hwloc half of mpimr_pin() on this rank and fills `report`. */
static int pin_apply(mpimr_pin_mode mode, const pin_layout *layout, mpimr_pin_report *report) {
  if (mode == MPIMR_PIN_NONE) return pin_report_unchanged(report);
  pin_topology topo;
  int status = topology_open(&topo);
  report->cores = topo.cores;
  if (status == MPIMR_OK) {
    bool oversubscribed = layout->local_size > topo.cores;
    report->action = pin_decide(mode, topology_is_bound(&topo), oversubscribed);
    if (report->action == MPIMR_PIN_BOUND_CORE) {
      status = topology_bind_core(&topo, layout->local_rank);
      if (status == MPIMR_OK) {
        report->core_index = layout->local_rank;
      } else {
        /* The binding may have changed before the failure; say what it is now. */
        report->action = MPIMR_PIN_DISABLED;
        (void)topology_read_binding(&topo);
      }
    }
    if (hwloc_bitmap_list_snprintf(report->cpuset, sizeof report->cpuset, topo.binding) < 0) {
      report->cpuset[0] = '\0';
    }
  }
  topology_close(&topo);
  return status;
}

/*
 * Tells every rank whether any rank failed, as error.h promises for
 * collective calls: a rank that failed keeps its own code and the others
 * return MPIMR_ERR_REMOTE. All ranks call this exactly once.
 */
static int pin_agree(MPI_Comm comm, int status) {
  int failed = status != MPIMR_OK;
  int any_failed = 0;
  if (MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) {
    return status != MPIMR_OK ? status : MPIMR_ERR_MPI;
  }
  if (status == MPIMR_OK && any_failed) return MPIMR_ERR_REMOTE;
  return status;
}

static void report_init(mpimr_pin_report *report) {
  /* Until a binding is made nothing has been done, which DISABLED says best. */
  report->action = MPIMR_PIN_DISABLED;
  report->local_rank = -1;
  report->local_size = 0;
  report->cores = 0;
  report->core_index = -1;
  report->cpuset[0] = '\0';
}

int mpimr_pin(MPI_Comm comm, mpimr_pin_mode mode, mpimr_pin_report *report) {
  mpimr_pin_report local_report;
  if (report == NULL) report = &local_report;
  report_init(report);

  /* An invalid mode is still checked after the split, so that every rank
   * takes part in the same collectives even if only some passed bad input. */
  pin_layout layout = {.local_rank = -1, .local_size = 0};
  int status = layout_find(comm, &layout);
  report->local_rank = layout.local_rank;
  report->local_size = layout.local_size;
  if (status == MPIMR_OK && !mode_is_valid(mode)) status = MPIMR_ERR_INVAL;
  if (status == MPIMR_OK) status = pin_apply(mode, &layout, report);
  return pin_agree(comm, status);
}

int mpimr_pin_mode_parse(const char *text, mpimr_pin_mode *mode) {
  static const struct {
    const char *name;
    mpimr_pin_mode mode;
  } modes[] = {{"auto", MPIMR_PIN_AUTO}, {"core", MPIMR_PIN_CORE}, {"none", MPIMR_PIN_NONE}};
  if (text == NULL || mode == NULL) return MPIMR_ERR_INVAL;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    if (strcmp(text, modes[i].name) == 0) {
      *mode = modes[i].mode;
      return MPIMR_OK;
    }
  }
  return MPIMR_ERR_INVAL;
}

const char *mpimr_pin_action_name(mpimr_pin_action action) {
  switch (action) {
    case MPIMR_PIN_KEPT_EXISTING: return "kept existing binding";
    case MPIMR_PIN_BOUND_CORE: return "bound to core";
    case MPIMR_PIN_OVERSUBSCRIBED: return "not bound: oversubscribed";
    case MPIMR_PIN_DISABLED: return "binding disabled";
  }
  return "unknown pin action";
}
