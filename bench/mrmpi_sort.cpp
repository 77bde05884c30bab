// mrmpi_sort: a global sort of Sort Benchmark records (`gensort -a`, as
// mpimr-gensort writes them) on MR-MPI (Sandia's MapReduce-MPI, Debian
// libmrmpi-dev), written the way an MR-MPI user writes a TeraSort, in the
// library's best configuration: everything in memory. It is the peer of
// mpimr-sort in bench/sort_bench.sh.
//
//   mpirun -np P mpimr-sort-mrmpi -o OUTDIR [-f] [--memsize MB] [--outofcore N]
//       [--fpath DIR] [--chunk SIZE] [--samples N] [-v] INPUT...
//
// A record is 100 bytes: a 10-byte key, 88 bytes, CR LF. The key is the
// first 10 bytes, the value the other 90 (CR LF included), so key then value
// is the record again.
//
// Inputs: files and directories, listed as mpimr lists them (the INPUTs in
// the order given; a directory's entries in bytewise name order, depth
// first, names starting with '.' and entries that are neither regular files
// nor directories skipped inside directories). The list goes to MR-MPI as
// plain files, so its own directory walk is not used.
//
// How it runs:
//   sample        rank r reads the keys of --samples records (default 4096)
//                 at evenly spaced positions of its share of the input
//                 (records [r*N/P, (r+1)*N/P) of the N records of the
//                 concatenated files) with pread(); rank 0 gathers them, sorts them and takes P-1
//                 splitters (the keys at i*S/P, i = 1..P-1, of the S sorted
//                 samples), which it broadcasts.
//   map()         MR-MPI's file-splitting map: T tasks (about --chunk bytes
//                 each, default 64 MiB, at least one a rank; mapstyle 0
//                 gives rank r a contiguous run of tasks), each cut at a
//                 newline by MR-MPI, emit (key, value) for every record.
//   aggregate()   moves every pair to the rank its key falls into: the hash
//                 function is a binary search over the splitters, so rank r
//                 receives the keys k with s[r-1] <= k < s[r].
//   sort_keys()   sorts each rank's pairs by key, memcmp over the 10 bytes
//                 (MR-MPI's qsort; equal keys stay in whatever order it
//                 leaves them).
//   scan()        writes the rank's pairs in order, key then value, to
//                 OUTDIR/part-%05d (rank), then fsyncs it, as mpimr does
//                 its parts; rank 0 writes OUTDIR/_SUCCESS after every part
//                 is complete. The parts concatenated in rank order are the
//                 sorted input.
//
// Memory: MR-MPI holds a rank's pairs in one page of --memsize MiB and
// writes pages to files in --fpath when they do not fit. A pair takes 112
// bytes of page (two 4-byte lengths, the key padded to 12, the value to 92),
// so the default page is 1.12 x the rank's share of the input plus 30% for
// an uneven split, rounded up to 64 MiB (at least 64). aggregate() holds up
// to 7 pages at once (the old and new key-value pages and 5 of workspace),
// and sort_keys() 4, though not all of them are touched in full.
// --outofcore sets MR-MPI's setting of that name: 0 (the default) writes
// pages to disk only when a data set exceeds one page, 1 always does, -1
// makes that an error.
//
// Rank 0 prints two lines:
//   mrmpi-sort: records N, seconds T (sample S, map M, aggregate A, sort K, write W)
//   mrmpi-sort: memory: ranks P, memsize MB, tasks T, rank_records MIN-MAX,
//     spilled_bytes B, page_hiwater_bytes H
// Times are MPI_Wtime between barriers; `seconds` spans the sampling to the
// end of the writing (parts fsynced and closed). spilled_bytes is the bytes
// MR-MPI wrote to page files, summed over ranks (0: all in memory);
// page_hiwater_bytes is the largest rank's MapReduce::msizemax.
// -v also prints MR-MPI's own per-operation statistics.

#include <mpi.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

namespace {

const char *const PROGRAM = "mpimr-sort-mrmpi";
const int RECORD_BYTES = 100;
const int KEY_BYTES = 10;
const int VALUE_BYTES = RECORD_BYTES - KEY_BYTES;
const int PAIR_PAGE_BYTES = 112;  // a pair in an MR-MPI page: 8 + 12 + 92

[[noreturn]] void fail(const char *format, const char *a, const char *b) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "%s: rank %d: ", PROGRAM, rank);
  std::fprintf(stderr, format, a, b);
  std::fputc('\n', stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

// ---------------------------------------------------------------- inputs

struct InputFile {
  std::string path;
  uint64_t size;
};

void list_path(const std::string &path, bool operand, std::vector<InputFile> &files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) fail("input '%s': %s", path.c_str(), std::strerror(errno));
  if (S_ISREG(st.st_mode)) {
    files.push_back(InputFile{path, static_cast<uint64_t>(st.st_size)});
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (operand) fail("input '%s': %s", path.c_str(), "not a regular file or a directory");
    return;
  }
  DIR *dir = opendir(path.c_str());
  if (dir == nullptr) fail("input '%s': %s", path.c_str(), std::strerror(errno));
  std::vector<std::string> names;
  while (struct dirent *e = readdir(dir))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(dir);
  std::sort(names.begin(), names.end());  // std::string's < is bytewise
  std::string prefix = path + "/";
  for (const std::string &n : names) list_path(prefix + n, false, files);
}

// ---------------------------------------------------------------- sampling

// The splitters, P-1 keys of KEY_BYTES each, back to back. MR-MPI's
// aggregate() takes a bare `int (*)(char *, int)` with no user pointer, so
// the hash function can only find them in a file-static variable: fine in a
// benchmark program that runs one job.
std::vector<unsigned char> splitters;
int splitter_count = 0;

// The rank a key goes to: the number of splitters that are <= the key, so
// rank r receives s[r-1] <= key < s[r]. Every key is KEY_BYTES long (the map
// emits no other).
int range_partition(char *key, int) {
  int lo = 0, hi = splitter_count;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (std::memcmp(splitters.data() + static_cast<size_t>(mid) * KEY_BYTES, key, KEY_BYTES) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Reads the keys of `count` records evenly spaced over this rank's share of
// the input, assuming whole 100-byte records (the map checks that).
std::vector<unsigned char> sample_keys(const std::vector<InputFile> &files, int rank, int nprocs, int count) {
  std::vector<uint64_t> first_record(files.size() + 1, 0);  // global index of each file's first record
  for (size_t i = 0; i < files.size(); i++)
    first_record[i + 1] = first_record[i] + files[i].size / RECORD_BYTES;
  uint64_t records = first_record.back();
  uint64_t lo = records * static_cast<uint64_t>(rank) / static_cast<uint64_t>(nprocs);
  uint64_t hi = records * static_cast<uint64_t>(rank + 1) / static_cast<uint64_t>(nprocs);
  std::vector<unsigned char> keys;
  if (hi <= lo) return keys;
  keys.resize(static_cast<size_t>(count) * KEY_BYTES);
  size_t file = 0;
  int fd = -1;
  size_t fd_file = SIZE_MAX;
  for (int k = 0; k < count; k++) {
    // The middle record of the k-th of `count` equal slices of [lo, hi).
    uint64_t record =
        lo + static_cast<uint64_t>((static_cast<double>(k) + 0.5) * static_cast<double>(hi - lo) / count);
    if (record >= hi) record = hi - 1;
    while (first_record[file + 1] <= record) file++;
    if (fd_file != file) {
      if (fd >= 0) close(fd);
      fd = open(files[file].path.c_str(), O_RDONLY);
      if (fd < 0) fail("input '%s': %s", files[file].path.c_str(), std::strerror(errno));
      fd_file = file;
    }
    off_t at = static_cast<off_t>((record - first_record[file]) * RECORD_BYTES);
    ssize_t got = pread(fd, keys.data() + static_cast<size_t>(k) * KEY_BYTES, KEY_BYTES, at);
    if (got != KEY_BYTES)
      fail("input '%s': %s", files[file].path.c_str(), got < 0 ? std::strerror(errno) : "short read");
  }
  if (fd >= 0) close(fd);
  return keys;
}

// Every rank samples; rank 0 chooses the splitters and broadcasts them.
void choose_splitters(const std::vector<InputFile> &files, int rank, int nprocs, int per_rank) {
  std::vector<unsigned char> mine = sample_keys(files, rank, nprocs, per_rank);
  int my_bytes = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<size_t>(nprocs)), displs(static_cast<size_t>(nprocs));
  MPI_Gather(&my_bytes, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<unsigned char> all;
  if (rank == 0) {
    int total = 0;
    for (int r = 0; r < nprocs; r++) {
      displs[static_cast<size_t>(r)] = total;
      total += counts[static_cast<size_t>(r)];
    }
    all.resize(static_cast<size_t>(total));
  }
  MPI_Gatherv(mine.data(), my_bytes, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0,
              MPI_COMM_WORLD);
  splitter_count = nprocs - 1;
  splitters.assign(static_cast<size_t>(splitter_count) * KEY_BYTES, 0);
  if (rank == 0) {
    size_t n = all.size() / KEY_BYTES;
    std::vector<const unsigned char *> order(n);
    for (size_t i = 0; i < n; i++) order[i] = all.data() + i * KEY_BYTES;
    std::sort(order.begin(), order.end(), [](const unsigned char *a, const unsigned char *b) {
      return std::memcmp(a, b, KEY_BYTES) < 0;
    });
    // No samples (no records): all-zero splitters send everything to the last rank.
    for (int i = 1; i < nprocs && n > 0; i++) {
      size_t at = n * static_cast<size_t>(i) / static_cast<size_t>(nprocs);
      std::memcpy(splitters.data() + static_cast<size_t>(i - 1) * KEY_BYTES, order[at], KEY_BYTES);
    }
  }
  if (splitter_count > 0)
    MPI_Bcast(splitters.data(), splitter_count * KEY_BYTES, MPI_BYTE, 0, MPI_COMM_WORLD);
}

// ---------------------------------------------------------------- map, sort, write

// A map task: whole records, cut at a newline by MR-MPI. `size` counts the
// NUL that MR-MPI puts after the text.
void map_records(int, char *text, int size, KeyValue *kv, void *) {
  int n = size > 0 && text[size - 1] == '\0' ? size - 1 : size;
  int at = 0;
  for (; at + RECORD_BYTES <= n; at += RECORD_BYTES) {
    char *r = text + at;
    if (r[RECORD_BYTES - 1] != '\n' || r[RECORD_BYTES - 2] != '\r') break;
    kv->add(r, KEY_BYTES, r + KEY_BYTES, VALUE_BYTES);
  }
  if (at != n) fail("%s%s", "the input is not 100-byte gensort -a records ending in CR LF", "");
}

int compare_keys(char *a, int a_bytes, char *b, int b_bytes) {
  int c = std::memcmp(a, b, static_cast<size_t>(std::min(a_bytes, b_bytes)));
  return c != 0 ? c : a_bytes - b_bytes;
}

struct Writer {
  FILE *out;
  std::string path;
};

void write_pair(char *key, int key_bytes, char *value, int value_bytes, void *ptr) {
  Writer &w = *static_cast<Writer *>(ptr);
  if (std::fwrite(key, 1, static_cast<size_t>(key_bytes), w.out) != static_cast<size_t>(key_bytes) ||
      std::fwrite(value, 1, static_cast<size_t>(value_bytes), w.out) != static_cast<size_t>(value_bytes))
    fail("output '%s': %s", w.path.c_str(), std::strerror(errno));
}

// ---------------------------------------------------------------- main

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
                 "usage: mpirun -np P %s -o OUTDIR [-f] [--memsize MB] [--outofcore -1|0|1]\n"
                 "           [--fpath DIR] [--chunk SIZE] [--samples N] [-v] INPUT...\n"
                 "A global sort of gensort -a records on MR-MPI; see the top of bench/mrmpi_sort.cpp.\n"
                 "  -o, --output DIR   write DIR/part-00000 ... (one a rank) and DIR/_SUCCESS\n"
                 "  -f, --overwrite    replace the parts in an existing DIR\n"
                 "  --memsize MB       MR-MPI page size (default: the rank's share of the input, 1.12 x\n"
                 "                     plus 30%%, rounded up to 64 MiB)\n"
                 "  --outofcore N      MR-MPI's outofcore setting (default 0: pages go to disk only\n"
                 "                     when they do not fit; 1: always; -1: error instead)\n"
                 "  --fpath DIR        where MR-MPI writes page files (default .)\n"
                 "  --chunk SIZE       bytes of input a map task (default 64M)\n"
                 "  --samples N        keys each rank samples for the splitters (default 4096)\n"
                 "  -v, --verbose      MR-MPI's per-operation statistics\n",
                 PROGRAM);
  return status;
}

// Rank 0 makes OUTDIR (or, with --overwrite, clears its parts); returns whether all went well.
bool prepare_output(const std::string &outdir, bool overwrite, int rank) {
  int ok = 1;
  if (rank == 0) {
    struct stat st;
    if (stat(outdir.c_str(), &st) == 0) {
      if (!overwrite || !S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "%s: output '%s' exists (use --overwrite)\n", PROGRAM, outdir.c_str());
        ok = 0;
      } else {
        unlink((outdir + "/_SUCCESS").c_str());
        if (DIR *dir = opendir(outdir.c_str())) {
          while (struct dirent *e = readdir(dir))
            if (std::strncmp(e->d_name, "part-", 5) == 0) unlink((outdir + "/" + e->d_name).c_str());
          closedir(dir);
        }
      }
    } else if (mkdir(outdir.c_str(), 0777) != 0) {
      std::fprintf(stderr, "%s: output '%s': %s\n", PROGRAM, outdir.c_str(), std::strerror(errno));
      ok = 0;
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return ok != 0;
}

int run(int argc, char **argv) {
  int rank = 0, nprocs = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
  bool verbose = false, overwrite = false;
  int memsize = 0, outofcore = 0, samples = 4096;
  uint64_t chunk = 64ull << 20;
  std::string outdir, fpath = ".";
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "-f" || a == "--overwrite") {
      overwrite = true;
    } else if ((a == "-o" || a == "--output") && has_value) {
      outdir = argv[++i];
    } else if (a == "--memsize" && has_value) {
      memsize = std::atoi(argv[++i]);
      if (memsize <= 0) return usage(rank, 64);
    } else if (a == "--outofcore" && has_value) {
      std::string v = argv[++i];
      if (v != "-1" && v != "0" && v != "1") return usage(rank, 64);
      outofcore = std::atoi(v.c_str());
    } else if (a == "--fpath" && has_value) {
      fpath = argv[++i];
    } else if (a == "--chunk" && has_value) {
      chunk = parse_size(argv[++i]);
    } else if (a == "--samples" && has_value) {
      samples = std::atoi(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      return usage(rank, 0);
    } else if (!a.empty() && a[0] == '-') {
      return usage(rank, 64);
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty() || outdir.empty() || chunk < 4096 || chunk > (1u << 30) || samples < 1 ||
      samples > (1 << 20))
    return usage(rank, 64);

  // Every rank lists the inputs the same way, so all agree on the task count.
  std::vector<InputFile> files;
  for (const std::string &p : inputs) list_path(p, true, files);
  uint64_t total_bytes = 0;
  for (const InputFile &f : files) total_bytes += f.size;
  uint64_t share = total_bytes / static_cast<uint64_t>(nprocs);
  uint64_t per_rank = (share + chunk - 1) / chunk;
  int tasks = nprocs * static_cast<int>(per_rank < 1 ? 1 : per_rank);
  // MR-MPI's file map needs at least one task a file.
  if (tasks < static_cast<int>(files.size())) tasks = static_cast<int>(files.size());
  if (memsize == 0) {
    double page = static_cast<double>(share) * PAIR_PAGE_BYTES / RECORD_BYTES * 1.3 / 1048576.0;
    memsize = static_cast<int>((static_cast<uint64_t>(page) / 64 + 1) * 64);
  }
  if (!prepare_output(outdir, overwrite, rank)) return 1;

  char name[32];
  std::snprintf(name, sizeof name, "/part-%05d", rank);
  Writer writer;
  writer.path = outdir + name;
  writer.out = std::fopen(writer.path.c_str(), "w");
  if (writer.out == nullptr) fail("output '%s': %s", writer.path.c_str(), std::strerror(errno));
  std::setvbuf(writer.out, nullptr, _IOFBF, 4 << 20);

  MapReduce *mr = new MapReduce(MPI_COMM_WORLD);
  mr->memsize = memsize;
  mr->outofcore = outofcore;
  mr->verbosity = verbose ? 1 : 0;
  mr->timer = verbose ? 1 : 0;
  mr->mapstyle = 0;  // contiguous tasks: rank r maps tasks r*T/P .. (r+1)*T/P - 1
  mr->set_fpath(fpath.c_str());
  std::vector<char *> paths;
  paths.reserve(files.size());
  for (InputFile &f : files) paths.push_back(&f.path[0]);

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  choose_splitters(files, rank, nprocs, samples);
  MPI_Barrier(MPI_COMM_WORLD);
  double t1 = MPI_Wtime();
  // recurse 0, readfile 0: `paths` are the files themselves; delta: how far
  // past a task's end MR-MPI looks for the newline that ends its last record.
  mr->map(tasks, static_cast<int>(paths.size()), paths.data(), 0, 0, '\n', 4096, map_records, nullptr);
  MPI_Barrier(MPI_COMM_WORLD);
  double t2 = MPI_Wtime();
  mr->aggregate(range_partition);
  MPI_Barrier(MPI_COMM_WORLD);
  double t3 = MPI_Wtime();
  uint64_t records = mr->sort_keys(compare_keys);
  MPI_Barrier(MPI_COMM_WORLD);
  double t4 = MPI_Wtime();
  mr->scan(write_pair, &writer);
  if (std::fflush(writer.out) != 0 || fsync(fileno(writer.out)) != 0)
    fail("output '%s': %s", writer.path.c_str(), std::strerror(errno));
  if (std::fclose(writer.out) != 0) fail("output '%s': %s", writer.path.c_str(), std::strerror(errno));
  MPI_Barrier(MPI_COMM_WORLD);
  double t5 = MPI_Wtime();
  if (rank == 0) {
    FILE *s = std::fopen((outdir + "/_SUCCESS").c_str(), "w");
    if (s == nullptr || std::fclose(s) != 0) fail("output '%s': %s", outdir.c_str(), "cannot write _SUCCESS");
  }

  uint64_t mine = mr->kv->nkv, fewest = 0, most = 0;
  MPI_Reduce(&mine, &fewest, 1, MPI_UINT64_T, MPI_MIN, 0, MPI_COMM_WORLD);
  MPI_Reduce(&mine, &most, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
  uint64_t spilled = MapReduce::wsize, spilled_all = 0;
  MPI_Reduce(&spilled, &spilled_all, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  uint64_t hiwater = MapReduce::msizemax, hiwater_max = 0;
  MPI_Reduce(&hiwater, &hiwater_max, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
  delete mr;
  if (rank == 0) {
    std::printf(
        "mrmpi-sort: records %llu, seconds %.6f (sample %.6f, map %.6f, aggregate %.6f, sort %.6f, write "
        "%.6f)\n",
        static_cast<unsigned long long>(records), t5 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4);
    std::printf(
        "mrmpi-sort: memory: ranks %d, memsize %d, tasks %d, rank_records %llu-%llu, spilled_bytes %llu, "
        "page_hiwater_bytes %llu\n",
        nprocs, memsize, tasks, static_cast<unsigned long long>(fewest),
        static_cast<unsigned long long>(most), static_cast<unsigned long long>(spilled_all),
        static_cast<unsigned long long>(hiwater_max));
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int status = run(argc, argv);
  MPI_Finalize();
  return status;
}
