/* apps/rmat_gen.c — the counter-based R-MAT edge generator; see rmat_gen.h. */
#include "rmat_gen.h"

#include <stddef.h>

#include "cli.h"

/* The increment of splitmix64's Weyl sequence (2^64 over the golden ratio, odd). */
#define WEYL_STEP UINT64_C(0x9E3779B97F4A7C15)

/* Probabilities that add up to 1 in decimal may add up to a little more in binary. */
#define PROBABILITY_SUM_SLACK 1e-9

void rmat_params_init(rmat_params *params) {
  params->scale = 0;
  params->edge_factor = RMAT_DEFAULT_EDGE_FACTOR;
  params->a = RMAT_DEFAULT_A;
  params->b = RMAT_DEFAULT_B;
  params->c = RMAT_DEFAULT_C;
  params->seed = RMAT_DEFAULT_SEED;
}

const char *rmat_params_check(const rmat_params *params) {
  if (params->scale < 1 || params->scale > RMAT_SCALE_MAX) return "the scale must be from 1 to 40";
  if (params->edge_factor < 1 || params->edge_factor > RMAT_EDGE_FACTOR_MAX)
    return "--edge-factor must be from 1 to 1048576";
  if (!(params->a >= 0 && params->a <= 1)) return "-a must be a probability from 0 to 1";
  if (!(params->b >= 0 && params->b <= 1)) return "-b must be a probability from 0 to 1";
  if (!(params->c >= 0 && params->c <= 1)) return "-c must be a probability from 0 to 1";
  if (params->a + params->b + params->c > 1 + PROBABILITY_SUM_SLACK)
    return "-a, -b and -c must add up to at most 1 (d = 1 - a - b - c)";
  return NULL;
}

uint64_t rmat_vertex_count(const rmat_params *params) { return UINT64_C(1) << params->scale; }

uint64_t rmat_edge_count(const rmat_params *params) { return params->edge_factor << params->scale; }

/* The splitmix64 finalizer: a bijection on 64-bit words that mixes every bit into every other. */
static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

void rmat_edge(const rmat_params *params, uint64_t index, uint64_t *source, uint64_t *destination) {
  /* Thresholds in the order the description gives, so that every implementation rounds alike. */
  const double ab = params->a + params->b;
  const double abc = ab + params->c;
  const uint64_t state = mix(mix(params->seed) + index);
  uint64_t src = 0, dst = 0;
  for (unsigned level = 0; level < params->scale; level++) {
    const double u = (double)(mix(state + (uint64_t)(level + 1) * WEYL_STEP) >> 11) * 0x1p-53;
    const uint64_t bit = UINT64_C(1) << (params->scale - 1 - level);
    if (u < params->a) continue;
    if (u < ab)
      dst |= bit;
    else if (u < abc)
      src |= bit;
    else {
      src |= bit;
      dst |= bit;
    }
  }
  *source = src;
  *destination = dst;
}

int rmat_apply_option(rmat_params *params, int option, const char *value, int rank, const char *program) {
  double *probability = option == 'a'   ? &params->a
                        : option == 'b' ? &params->b
                        : option == 'c' ? &params->c
                                        : NULL;
  if (probability != NULL) {
    if (cli_parse_double(value, 0, 1, probability) == 0) return 0;
    cli_usage_error(rank, program, "-%c must be a probability from 0 to 1, not '%s'", option, value);
    return CLI_EXIT_USAGE;
  }
  if (option == RMAT_OPT_EDGE_FACTOR) {
    if (cli_parse_u64(value, 1, RMAT_EDGE_FACTOR_MAX, &params->edge_factor) == 0) return 0;
    cli_usage_error(rank, program, "--edge-factor must be an integer from 1 to %llu, not '%s'",
                    (unsigned long long)RMAT_EDGE_FACTOR_MAX, value);
    return CLI_EXIT_USAGE;
  }
  if (option == RMAT_OPT_SEED) {
    if (cli_parse_u64(value, 0, UINT64_MAX, &params->seed) == 0) return 0;
    cli_usage_error(rank, program, "--seed must be an integer from 0 to %llu, not '%s'",
                    (unsigned long long)UINT64_MAX, value);
    return CLI_EXIT_USAGE;
  }
  cli_usage_error(rank, program, "internal error: option %d is not an R-MAT option", option);
  return CLI_EXIT_USAGE;
}
