// mrmpi_wordcount: the word count of the benchmark written against MR-MPI
// (Sandia's MapReduce-MPI, Debian libmrmpi-dev), in its best configuration.
//
//   mpirun -np P mpimr-wc-mrmpi [--compress] [--memsize MB] [--maxpage N]
//                               [--fpath DIR] [--chunk SIZE] [--delta BYTES]
//                               [--sep newline|space] [-v] FILE...
//
// The files are cut into byte chunks (about --chunk bytes, at least one per
// rank) by MR-MPI's file-splitting map(), which moves every cut to the next
// separator so that no word is split. The map callback emits (word, empty)
// for every maximal run of bytes that are not ASCII whitespace, the same
// definition as mpimr-wordcount. --compress folds each rank's pairs into
// (word, 8-byte count) before the shuffle (MR-MPI's combiner); then collate()
// shuffles and groups, and reduce() adds the counts up and emits one
// (word, count) pair per distinct word.
//
// Pages must hold a rank's whole map output, or MR-MPI writes them to disk:
// --memsize sets the page size in MiB (default 512; the benchmark script
// computes one from the corpus size). Pages written to disk go to --fpath
// (default: the current directory); --maxpage N makes MR-MPI stop with an
// error rather than hold more than N pages at once (0, the default: no
// limit; an operation holds up to 7). -v prints MR-MPI's per-rank KV sizes
// and whether any operation went to disk. Each map task reads its chunk
// (--chunk bytes, plus up to --delta) into memory outside the pages.
//
// Rank 0 prints one line:
//   mrmpi: ranks=P compress=0|1 memsize=MB chunks=N words=W distinct=D
//   seconds=S map=S compress=S collate=S reduce=S spilled_bytes=B
//   page_hiwater_bytes=H
// page_hiwater_bytes is the largest rank's page memory at its peak
// (MapReduce::msizemax). Times are MPI_Wtime between barriers; `seconds` spans map to reduce.

#include <mpi.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

// Debian's MR-MPI headers compile cleanly under -Wall -Wextra -Wshadow, so
// no diagnostic pragmas are needed around them.
#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

namespace {

bool is_space[256];

struct Totals {
  MapReduce *mr;
  uint64_t words = 0, distinct = 0;
};

// A map task: one chunk of a file, cut at separators by MR-MPI. The chunk
// MR-MPI hands over is NUL-terminated and `size` counts that NUL, which is
// therefore not a word byte here (the corpus has no NUL bytes; a NUL in the
// middle of a chunk is still an ordinary word byte).
void map_chunk(int, char *text, int size, KeyValue *kv, void *) {
  const unsigned char *p = reinterpret_cast<const unsigned char *>(text);
  int n = size > 0 && text[size - 1] == '\0' ? size - 1 : size;
  int i = 0;
  while (i < n) {
    while (i < n && is_space[p[i]]) i++;
    int start = i;
    while (i < n && !is_space[p[i]]) i++;
    if (i > start) kv->add(text + start, i - start, nullptr, 0);
  }
}

// Adds up one key's values: an empty value is one occurrence, an 8-byte one
// is a count from compress(). A key whose values span several pages comes
// with nvalues == 0 and is read block by block.
uint64_t sum_values(MapReduce *mr, char *values, int nvalues, int *value_bytes) {
  auto sum_block = [](char *v, int n, int *bytes) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
      if (bytes[i] == 8) {
        uint64_t c;
        std::memcpy(&c, v, 8);
        total += c;
      } else {
        total += 1;
      }
      v += bytes[i];
    }
    return total;
  };
  if (nvalues > 0) return sum_block(values, nvalues, value_bytes);
  int blocks = 0;
  mr->multivalue_blocks(blocks);
  uint64_t total = 0;
  for (int b = 0; b < blocks; b++) {
    char *v = nullptr;
    int *bytes = nullptr;
    int n = mr->multivalue_block(b, &v, &bytes);
    total += sum_block(v, n, bytes);
  }
  return total;
}

void combine(char *key, int key_bytes, char *values, int nvalues, int *value_bytes, KeyValue *kv, void *ptr) {
  Totals *t = static_cast<Totals *>(ptr);
  uint64_t count = sum_values(t->mr, values, nvalues, value_bytes);
  kv->add(key, key_bytes, reinterpret_cast<char *>(&count), 8);
}

void reduce(char *key, int key_bytes, char *values, int nvalues, int *value_bytes, KeyValue *kv, void *ptr) {
  Totals *t = static_cast<Totals *>(ptr);
  uint64_t count = sum_values(t->mr, values, nvalues, value_bytes);
  t->words += count;
  t->distinct += 1;
  kv->add(key, key_bytes, reinterpret_cast<char *>(&count), 8);
}

uint64_t parse_size(const char *s) {
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (errno || end == s || v < 0) return 0;
  switch (*end) {
    case 'k':
    case 'K':
      v *= 1024;
      end++;
      break;
    case 'm':
    case 'M':
      v *= 1024 * 1024;
      end++;
      break;
    case 'g':
    case 'G':
      v *= 1024.0 * 1024 * 1024;
      end++;
      break;
    default: break;
  }
  return *end ? 0 : static_cast<uint64_t>(v);
}

int usage(int rank, int status) {
  if (rank == 0)
    std::fprintf(status ? stderr : stdout,
                 "usage: mpirun -np P mpimr-wc-mrmpi [--compress] [--memsize MB] [--maxpage N] [--fpath DIR]\n"
                 "           [--chunk SIZE] [--delta BYTES] [--sep newline|space] [-v] FILE...\n");
  return status;
}

int run(int argc, char **argv) {
  int rank = 0, nprocs = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
  bool compress = false, verbose = false;
  int memsize = 512, maxpage = 0, delta = 64 * 1024;
  std::string fpath = ".";
  uint64_t chunk = 64ull << 20;
  char sep = '\n';
  std::vector<char *> files;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--compress") {
      compress = true;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "--memsize" && has_value) {
      memsize = std::atoi(argv[++i]);
    } else if (a == "--maxpage" && has_value) {
      maxpage = std::atoi(argv[++i]);
    } else if (a == "--fpath" && has_value) {
      fpath = argv[++i];
    } else if (a == "--chunk" && has_value) {
      chunk = parse_size(argv[++i]);
    } else if (a == "--delta" && has_value) {
      delta = static_cast<int>(parse_size(argv[++i]));
    } else if (a == "--sep" && has_value) {
      std::string s = argv[++i];
      if (s != "newline" && s != "space") return usage(rank, 64);
      sep = s == "space" ? ' ' : '\n';
    } else if (a == "-h" || a == "--help") {
      return usage(rank, 0);
    } else if (!a.empty() && a[0] == '-') {
      return usage(rank, 64);
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.empty() || memsize <= 0 || maxpage < 0 || chunk == 0 || chunk > (1u << 30) || delta <= 0) return usage(rank, 64);

  // Every rank sizes the inputs the same way, so all agree on the chunk count.
  uint64_t total_bytes = 0;
  for (char *f : files) {
    struct stat st;
    if (stat(f, &st) != 0) {
      if (rank == 0) std::fprintf(stderr, "mpimr-wc-mrmpi: %s: %s\n", f, std::strerror(errno));
      return 1;
    }
    total_bytes += static_cast<uint64_t>(st.st_size);
  }
  uint64_t per_rank = (total_bytes / static_cast<uint64_t>(nprocs) + chunk - 1) / chunk;
  int chunks = nprocs * static_cast<int>(per_rank < 1 ? 1 : per_rank);
  for (unsigned char c : {' ', '\t', '\n', '\v', '\f', '\r'}) is_space[c] = true;

  MapReduce *mr = new MapReduce(MPI_COMM_WORLD);
  mr->memsize = memsize;
  mr->maxpage = maxpage;
  mr->set_fpath(fpath.c_str());
  mr->verbosity = verbose ? 1 : 0;
  mr->timer = 0;
  mr->mapstyle = 0;  // contiguous chunks: rank r reads chunks r*C/P .. (r+1)*C/P - 1
  Totals totals;
  totals.mr = mr;

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  mr->map(chunks, static_cast<int>(files.size()), files.data(), 0, 0, sep, delta, map_chunk, nullptr);
  uint64_t kv_bytes = mr->kv->esize, kv_pages = static_cast<uint64_t>(mr->kv->npage);
  MPI_Barrier(MPI_COMM_WORLD);
  double t1 = MPI_Wtime();
  if (compress) mr->compress(combine, &totals);
  MPI_Barrier(MPI_COMM_WORLD);
  double t2 = MPI_Wtime();
  mr->collate(nullptr);
  MPI_Barrier(MPI_COMM_WORLD);
  double t3 = MPI_Wtime();
  mr->reduce(reduce, &totals);
  uint64_t local[2] = {totals.words, totals.distinct}, global[2] = {0, 0};
  MPI_Reduce(local, global, 2, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  double t4 = MPI_Wtime();

  // Bytes MR-MPI wrote to its page files (0 when everything stayed in memory).
  uint64_t spilled = MapReduce::wsize, spilled_all = 0;
  MPI_Reduce(&spilled, &spilled_all, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  uint64_t hiwater = MapReduce::msizemax, hiwater_max = 0;
  MPI_Reduce(&hiwater, &hiwater_max, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
  if (verbose)
    std::fprintf(stderr, "mpimr-wc-mrmpi: rank %d: map output %llu bytes in %llu page(s), %d chunks\n", rank,
                 static_cast<unsigned long long>(kv_bytes), static_cast<unsigned long long>(kv_pages),
                 chunks);
  if (rank == 0)
    std::printf(
        "mrmpi: ranks=%d compress=%d memsize=%d chunks=%d words=%llu distinct=%llu seconds=%.6f "
        "map=%.6f compress=%.6f collate=%.6f reduce=%.6f spilled_bytes=%llu page_hiwater_bytes=%llu\n",
        nprocs, compress ? 1 : 0, memsize, chunks, static_cast<unsigned long long>(global[0]),
        static_cast<unsigned long long>(global[1]), t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3,
        static_cast<unsigned long long>(spilled_all), static_cast<unsigned long long>(hiwater_max));
  delete mr;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int status = run(argc, argv);
  MPI_Finalize();
  return status;
}
