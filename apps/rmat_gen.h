/*
 * apps/rmat_gen.h — the R-MAT edge generator that mpimr-rmat and
 * mpimr-pagerank share: edge i of a graph is a function of the parameters,
 * the seed and i alone, so any rank can make any edge and the edge set does
 * not depend on how many ranks make it. Not part of the library.
 *
 * The generator, exactly (tests/tools/rmat_oracle.py re-implements it from
 * this description):
 *
 *   mix(z)    the splitmix64 finalizer on 64-bit unsigned integers (all
 *             arithmetic mod 2^64): z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
 *             z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31.
 *   state     s = mix(mix(seed) + i) for edge i.
 *   draws     for level l = 0 .. scale-1: x = mix(s + (l + 1) * 0x9E3779B97F4A7C15)
 *             (splitmix64's stream started at s), u = (x >> 11) * 2^-53, a
 *             double in [0, 1).
 *   quadrant  with ab = a + b and abc = ab + c computed in double:
 *             u < a: neither bit; u < ab: the destination's bit; u < abc: the
 *             source's bit; else both. Level l decides bit (scale - 1 - l),
 *             so the first draw picks the half of the matrix, the last the
 *             lowest bit.
 *
 * Vertices are not relabelled (vertex 0 is the densest), and duplicate edges
 * and self-loops are kept, as R-MAT makes them.
 */
#ifndef MPIMR_APPS_RMAT_GEN_H
#define MPIMR_APPS_RMAT_GEN_H

#include <stdint.h>

/** Limits of the parameters (checked by rmat_params_check()). */
#define RMAT_SCALE_MAX 40
#define RMAT_EDGE_FACTOR_MAX (UINT64_C(1) << 20)

/** Defaults: Graph500's probabilities and 16 edges per vertex. */
#define RMAT_DEFAULT_A 0.57
#define RMAT_DEFAULT_B 0.19
#define RMAT_DEFAULT_C 0.19
#define RMAT_DEFAULT_EDGE_FACTOR 16
#define RMAT_DEFAULT_SEED 1

/** What a graph is made from. */
typedef struct rmat_params {
  unsigned scale;       /**< 2^scale vertices, 1..RMAT_SCALE_MAX. */
  uint64_t edge_factor; /**< edge_factor * 2^scale edges, 1..RMAT_EDGE_FACTOR_MAX. */
  double a, b, c;       /**< Quadrant probabilities; d = 1 - a - b - c. */
  uint64_t seed;
} rmat_params;

/** The parameters' defaults, with scale 0 (not valid: the caller must set it). */
void rmat_params_init(rmat_params *params);

/** NULL if the parameters are valid, else a message that names what is wrong. */
const char *rmat_params_check(const rmat_params *params);

/** The number of vertices, 2^scale. */
uint64_t rmat_vertex_count(const rmat_params *params);

/** The number of edges, edge_factor * 2^scale. */
uint64_t rmat_edge_count(const rmat_params *params);

/** Edge `index` (0 <= index < rmat_edge_count()): its source and destination vertex. */
void rmat_edge(const rmat_params *params, uint64_t index, uint64_t *source, uint64_t *destination);

/**
 * Applies one of the generator's options shared by the programs: 'a', 'b',
 * 'c', RMAT_OPT_EDGE_FACTOR or RMAT_OPT_SEED with its value. Returns 0, or
 * 64 (CLI_EXIT_USAGE) after reporting the problem on rank 0.
 */
int rmat_apply_option(rmat_params *params, int option, const char *value, int rank, const char *program);

/** getopt_long ids of --edge-factor and --seed (above the job options' ids). */
enum { RMAT_OPT_EDGE_FACTOR = 0x2000, RMAT_OPT_SEED };

/** The generator's options for a `struct option` table (with "a:b:c:" among the short ones). */
/* clang-format off */
#define RMAT_LONG_OPTIONS                                                  \
  {"edge-factor", required_argument, NULL, RMAT_OPT_EDGE_FACTOR},          \
  {"seed", required_argument, NULL, RMAT_OPT_SEED}
/* clang-format on */

#endif /* MPIMR_APPS_RMAT_GEN_H */
