// mrmpi_invindex: mpimr-invindex's inverted index written against MR-MPI
// (Sandia's MapReduce-MPI, Debian libmrmpi-dev), for the out-of-core
// benchmark (bench/outofcore_bench.sh).
//
//   mpirun -np P mpimr-invindex-mrmpi (-o OUTDIR [-f] | --no-output)
//       [--memsize MB] [--maxpage N] [--fpath DIR] [--chunk SIZE]
//       [--read-size SIZE] [-v] INPUT...
//
// The index: for every word (a maximal run of bytes that are not ASCII
// whitespace: space, TAB, LF, VT, FF, CR) the sorted list of its postings
// F:O, one per line the word occurs in, where F is the file's number (see
// Inputs below) and O the byte offset of the line's first byte in that file. The output is one file per rank,
// OUTDIR/part-00000 ..., of lines `word<TAB>F:O F:O ...` with at most 1000
// postings a line (a frequent word takes several consecutive lines, in
// posting order), and OUTDIR/_SUCCESS once every part is complete: the
// format of mpimr-invindex, so that the sorted concatenations of the two
// programs' parts are identical. Within a part the words are in no
// particular order (MR-MPI's grouping order).
//
// Inputs: files and directories, listed as mpimr lists them: the INPUTs in
// the order given, a directory's entries in bytewise name order, depth first,
// names starting with '.' and entries that are neither regular files nor
// directories skipped inside directories. A file's number is its index in
// that list, counting from 0.
//
// How it runs on MR-MPI:
//   map(T, ...)   T tasks (about --chunk bytes each, at least one a rank;
//                 mapstyle 0 gives rank r a contiguous run of tasks). Task t
//                 covers bytes [t*B/T, (t+1)*B/T) of the concatenated
//                 inputs (B bytes) and reads them itself with pread() in
//                 --read-size pieces, so it knows each line's file and
//                 offset; a line belongs to the task whose range holds its
//                 first byte (mpimr's rule). It emits (word, 12-byte
//                 big-endian (file u32, offset u64)) once per distinct word
//                 of each line. (MR-MPI's own file-splitting map() hands out
//                 text without file offsets, so it cannot be used.)
//   collate()     shuffles and groups the postings by word.
//   reduce()      sorts each word's postings (they are 12-byte big-endian
//                 records, so memcmp order is numeric order) in place and
//                 writes them. A word whose postings span several pages
//                 (nvalues == 0) is read block by block: each block is
//                 sorted in place and written to a run file in --fpath,
//                 then the runs are merged with small buffers, so that no
//                 word needs more than a page of memory.
//
// Memory: MR-MPI keeps its data in pages of --memsize MiB (default 64) and
// writes pages to files in --fpath (default: the current directory) when a
// data set does not fit in one page. An operation holds up to about 7 pages
// at once (aggregate(): the KV page, the new KV's page and 5 pages of
// workspace), so a per-rank limit of M bytes means --memsize of about M/8
// MiB. --maxpage N makes MR-MPI stop with an error rather than allocate more
// than N pages.
//
// Rank 0 prints one line:
//   mrmpi-invindex: ranks=P memsize=MB maxpage=N tasks=T files=F input_bytes=B
//   postings=X distinct=D lines=L output_bytes=O seconds=S map=S collate=S
//   reduce=S spilled_bytes=W read_back_bytes=R run_bytes=U page_hiwater_bytes=H
//   multiblock_words=K rank_maxrss_kb=R0,R1,...
// Times are MPI_Wtime between barriers; `seconds` spans map to the end of
// reduce (parts closed). spilled_bytes and read_back_bytes are MR-MPI's page
// file traffic summed over ranks (MapReduce::wsize, rsize); run_bytes is
// this program's own run files for multi-page words; page_hiwater_bytes is
// the largest rank's MapReduce::msizemax; rank_maxrss_kb is getrusage()'s
// peak resident size of each rank, in rank order.
// --no-output still sorts (and merges) every word's postings but writes
// nothing; -v prints MR-MPI's per-operation statistics.

#include <mpi.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <queue>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

namespace {

const char *const PROGRAM = "mpimr-invindex-mrmpi";
const int POSTINGS_PER_LINE = 1000;
const int REC = 12;  // bytes of one posting: file (u32) and offset (u64), big-endian

bool is_space[256];

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

void list_path(const std::string &path, bool named, std::vector<InputFile> &out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) fail("input '%s': %s", path.c_str(), std::strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    DIR *dir = opendir(path.c_str());
    if (dir == nullptr) fail("input '%s': %s", path.c_str(), std::strerror(errno));
    std::vector<std::string> names;
    while (struct dirent *e = readdir(dir))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names) list_path(path + (path.back() == '/' ? "" : "/") + n, false, out);
  } else if (S_ISREG(st.st_mode)) {
    out.push_back({path, static_cast<uint64_t>(st.st_size)});
  } else if (named) {
    fail("input '%s': %s", path.c_str(), "not a regular file or directory");
  }
}

// ---------------------------------------------------------------- map

// The distinct words of the current line: open addressing over (hash, offset
// and length in an arena), cleared line by line through the list of used slots.
struct LineWords {
  struct Slot {
    uint64_t hash;
    uint32_t offset, length;  // length 0: empty
  };
  std::vector<Slot> slots = std::vector<Slot>(64);
  std::vector<uint32_t> used;
  std::string arena;

  static uint64_t hash_of(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a, then a final mix
    for (size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
    h ^= h >> 32;
    return h * 0x9E3779B97F4A7C15ull;
  }
  void clear() {
    for (uint32_t i : used) slots[i].length = 0;
    used.clear();
    arena.clear();
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots);
    slots.assign(old.size() * 2, Slot{0, 0, 0});
    used.clear();
    for (const Slot &s : old)
      if (s.length) place(s);
  }
  void place(const Slot &s) {
    size_t mask = slots.size() - 1, i = s.hash & mask;
    while (slots[i].length) i = (i + 1) & mask;
    slots[i] = s;
    used.push_back(static_cast<uint32_t>(i));
  }
  // True if the word is new in this line (and records it).
  bool insert(const char *p, size_t n) {
    uint64_t h = hash_of(p, n);
    size_t mask = slots.size() - 1;
    for (size_t i = h & mask; slots[i].length; i = (i + 1) & mask) {
      const Slot &s = slots[i];
      if (s.hash == h && s.length == n && std::memcmp(arena.data() + s.offset, p, n) == 0) return false;
    }
    if ((used.size() + 1) * 2 > slots.size()) grow();
    if (arena.size() + n > UINT32_MAX || n > UINT32_MAX) fail("%s%s", "a line's words exceed 4 GiB", "");
    place(Slot{h, static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(n)});
    arena.append(p, n);
    return true;
  }
};

struct MapState {
  const std::vector<InputFile> *files;
  uint64_t total_bytes;
  int tasks;
  size_t read_size;
  std::vector<char> buffer;
  LineWords line;
  std::string carry;  // a word cut by the end of the buffer
};

void put_posting(unsigned char *v, uint32_t file, uint64_t offset) {
  for (int i = 0; i < 4; i++) v[i] = static_cast<unsigned char>(file >> (24 - 8 * i));
  for (int i = 0; i < 8; i++) v[4 + i] = static_cast<unsigned char>(offset >> (56 - 8 * i));
}

uint64_t scale(uint64_t total, int numerator, int denominator) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(total) * static_cast<unsigned>(numerator)) /
                               static_cast<unsigned>(denominator));
}

// Lines whose first byte lies in [start, end) of one file.
void map_piece(MapState &st, uint32_t file_number, uint64_t start, uint64_t end, KeyValue *kv) {
  const InputFile &f = (*st.files)[file_number];
  int fd = open(f.path.c_str(), O_RDONLY);
  if (fd < 0) fail("input '%s': %s", f.path.c_str(), std::strerror(errno));
  char *buf = st.buffer.data();
  uint64_t pos = start;  // file offset of buf[0] after each read
  bool skipping = false;  // inside a line that began before `start`
  if (start > 0) {
    char c;
    if (pread(fd, &c, 1, static_cast<off_t>(start - 1)) != 1)
      fail("input '%s': %s", f.path.c_str(), "short read");
    skipping = c != '\n';
  }
  uint64_t line_start = start;
  bool line_open = !skipping;  // a line that belongs to this piece is being read
  bool in_word = false;
  st.carry.clear();
  st.line.clear();
  unsigned char value[REC];
  auto emit = [&](const char *w, size_t n) {
    if (st.line.insert(w, n)) {
      put_posting(value, file_number, line_start);
      kv->add(const_cast<char *>(w), static_cast<int>(n), reinterpret_cast<char *>(value), REC);
    }
  };
  bool done = false;
  while (!done && pos < f.size) {
    ssize_t got = pread(fd, buf, st.read_size, static_cast<off_t>(pos));
    if (got < 0) fail("input '%s': %s", f.path.c_str(), std::strerror(errno));
    if (got == 0) break;  // the file shrank: stop at what is there
    size_t n = static_cast<size_t>(got), i = 0;
    if (skipping) {
      const void *nl = std::memchr(buf, '\n', n);
      if (nl == nullptr) {
        pos += n;
        continue;
      }
      i = static_cast<size_t>(static_cast<const char *>(nl) - buf) + 1;
      skipping = false;
      line_start = pos + i;
      if (line_start >= end) break;
      line_open = true;
    }
    while (i < n) {
      if (in_word) {  // a word continued from the previous buffer
        size_t j = i;
        while (j < n && !is_space[static_cast<unsigned char>(buf[j])]) j++;
        st.carry.append(buf + i, j - i);
        i = j;
        if (j == n) break;
        emit(st.carry.data(), st.carry.size());
        st.carry.clear();
        in_word = false;
      }
      unsigned char c = static_cast<unsigned char>(buf[i]);
      if (c == '\n') {
        st.line.clear();
        line_start = pos + i + 1;
        i++;
        if (line_start >= end) {
          line_open = false;
          done = true;
          break;
        }
        continue;
      }
      if (is_space[c]) {
        i++;
        continue;
      }
      size_t j = i;
      while (j < n && !is_space[static_cast<unsigned char>(buf[j])]) j++;
      if (j == n) {  // may go on in the next buffer
        st.carry.assign(buf + i, j - i);
        in_word = true;
        i = j;
        break;
      }
      emit(buf + i, j - i);
      i = j;
    }
    pos += n;
  }
  if (in_word && line_open) emit(st.carry.data(), st.carry.size());  // last line without a newline
  st.carry.clear();
  st.line.clear();
  close(fd);
}

void map_task(int task, KeyValue *kv, void *ptr) {
  MapState &st = *static_cast<MapState *>(ptr);
  uint64_t lo = scale(st.total_bytes, task, st.tasks), hi = scale(st.total_bytes, task + 1, st.tasks);
  uint64_t base = 0;
  for (size_t i = 0; i < st.files->size() && base < hi; i++) {
    uint64_t size = (*st.files)[i].size;
    uint64_t start = lo > base ? lo - base : 0;
    uint64_t end = hi - base < size ? hi - base : size;
    if (start < end) map_piece(st, static_cast<uint32_t>(i), start, end, kv);
    base += size;
  }
}

// ---------------------------------------------------------------- reduce

struct Rec {
  unsigned char b[REC];
};
static_assert(sizeof(Rec) == REC, "postings are packed 12-byte records");
bool operator<(const Rec &a, const Rec &b) { return std::memcmp(a.b, b.b, REC) < 0; }

struct Writer {
  FILE *out = nullptr;  // null: --no-output
  uint64_t lines = 0, bytes = 0;
  std::string word;
  int on_line = 0;
  char text[64];

  void begin(const char *key, int n) {
    word.assign(key, static_cast<size_t>(n));
    on_line = 0;
  }
  void put(const char *p, size_t n) {
    if (out && std::fwrite(p, 1, n, out) != n) fail("writing the output: %s%s", std::strerror(errno), "");
    bytes += n;
  }
  void posting(const Rec &r) {
    uint32_t file = 0;
    uint64_t offset = 0;
    for (int i = 0; i < 4; i++) file = file << 8 | r.b[i];
    for (int i = 4; i < REC; i++) offset = offset << 8 | r.b[i];
    if (on_line == POSTINGS_PER_LINE) {
      put("\n", 1);
      on_line = 0;
    }
    if (on_line == 0) {
      put(word.data(), word.size());
      put("\t", 1);
      lines++;
    } else {
      put(" ", 1);
    }
    char *e = text + sizeof text, *p = e;
    do *--p = static_cast<char>('0' + offset % 10); while ((offset /= 10) != 0);
    *--p = ':';
    do *--p = static_cast<char>('0' + file % 10); while ((file /= 10) != 0);
    put(p, static_cast<size_t>(e - p));
    on_line++;
  }
  void end() {
    if (on_line) put("\n", 1);
    on_line = 0;
  }
};

struct ReduceState {
  MapReduce *mr;
  Writer writer;
  uint64_t postings = 0, distinct = 0, multiblock = 0, run_bytes = 0;
  std::string run_path;
  int run_fd = -1;
  size_t merge_buffer;  // bytes of read buffer for all runs of one word together
};

Rec *as_records(char *values, int nvalues, const int *value_bytes) {
  for (int i = 0; i < nvalues; i++)
    if (value_bytes[i] != REC) fail("%s%s", "a value is not a 12-byte posting", "");
  return reinterpret_cast<Rec *>(values);
}

void sort_records(Rec *r, size_t n) {
  if (!std::is_sorted(r, r + n)) std::sort(r, r + n);
}

// A word whose postings span several pages: sort each block into a run on
// disk, then merge the runs.
void reduce_blocks(ReduceState &st) {
  int blocks = 0;
  uint64_t total = st.mr->multivalue_blocks(blocks);
  st.multiblock++;
  st.postings += total;
  if (st.run_fd < 0) {
    st.run_fd = open(st.run_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (st.run_fd < 0) fail("run file '%s': %s", st.run_path.c_str(), std::strerror(errno));
  }
  std::vector<uint64_t> run_start(static_cast<size_t>(blocks) + 1, 0);
  uint64_t at = 0;
  for (int b = 0; b < blocks; b++) {
    char *v = nullptr;
    int *bytes = nullptr;
    int n = st.mr->multivalue_block(b, &v, &bytes);
    Rec *r = as_records(v, n, bytes);
    sort_records(r, static_cast<size_t>(n));
    size_t len = static_cast<size_t>(n) * REC, done = 0;
    while (done < len) {
      ssize_t w = pwrite(st.run_fd, v + done, len - done, static_cast<off_t>(at + done));
      if (w <= 0) fail("run file '%s': %s", st.run_path.c_str(), std::strerror(errno));
      done += static_cast<size_t>(w);
    }
    at += len;
    run_start[static_cast<size_t>(b) + 1] = at;
  }
  st.run_bytes += at;
  // Merge: each run is read through its own small buffer.
  size_t per_run = st.merge_buffer / static_cast<size_t>(blocks) / REC;
  if (per_run < 256) per_run = 256;
  struct Run {
    std::vector<Rec> buf;
    size_t next = 0, have = 0;
    uint64_t pos, end;
  };
  std::vector<Run> runs(static_cast<size_t>(blocks));
  auto refill = [&](Run &run) {
    uint64_t left = (run.end - run.pos) / REC;
    size_t want = left < per_run ? static_cast<size_t>(left) : per_run;
    run.next = 0;
    run.have = want;
    size_t len = want * REC, done = 0;
    char *dst = reinterpret_cast<char *>(run.buf.data());
    while (done < len) {
      ssize_t r = pread(st.run_fd, dst + done, len - done, static_cast<off_t>(run.pos + done));
      if (r <= 0) fail("run file '%s': %s", st.run_path.c_str(), r < 0 ? std::strerror(errno) : "short read");
      done += static_cast<size_t>(r);
    }
    run.pos += len;
    return want > 0;
  };
  typedef std::pair<Rec, int> Head;
  auto later = [](const Head &a, const Head &b) { return b.first < a.first; };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heap(later);
  for (int b = 0; b < blocks; b++) {
    Run &run = runs[static_cast<size_t>(b)];
    run.buf.resize(per_run);
    run.pos = run_start[static_cast<size_t>(b)];
    run.end = run_start[static_cast<size_t>(b) + 1];
    if (refill(run)) heap.push(Head(run.buf[run.next++], b));
  }
  while (!heap.empty()) {
    Head h = heap.top();
    heap.pop();
    st.writer.posting(h.first);
    Run &run = runs[static_cast<size_t>(h.second)];
    if (run.next < run.have || refill(run)) heap.push(Head(run.buf[run.next++], h.second));
  }
}

void reduce(char *key, int key_bytes, char *values, int nvalues, int *value_bytes, KeyValue *, void *ptr) {
  ReduceState &st = *static_cast<ReduceState *>(ptr);
  st.distinct++;
  st.writer.begin(key, key_bytes);
  if (nvalues > 0) {
    Rec *r = as_records(values, nvalues, value_bytes);
    sort_records(r, static_cast<size_t>(nvalues));
    st.postings += static_cast<uint64_t>(nvalues);
    for (int i = 0; i < nvalues; i++) st.writer.posting(r[i]);
  } else {
    reduce_blocks(st);
  }
  st.writer.end();
}

// ---------------------------------------------------------------- main

uint64_t parse_size(const char *s) {
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (errno || end == s || v < 0) return 0;
  switch (*end) {
    case 'k':
    case 'K': v *= 1024; end++; break;
    case 'm':
    case 'M': v *= 1024 * 1024; end++; break;
    case 'g':
    case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    default: break;
  }
  return *end ? 0 : static_cast<uint64_t>(v);
}

int usage(int rank, int status) {
  if (rank == 0)
    std::fprintf(status ? stderr : stdout,
                 "usage: mpirun -np P %s (-o OUTDIR [-f] | --no-output) [--memsize MB]\n"
                 "           [--maxpage N] [--fpath DIR] [--chunk SIZE] [--read-size SIZE] [-v] INPUT...\n"
                 "The inverted index of mpimr-invindex on MR-MPI; see the top of bench/mrmpi_invindex.cpp.\n",
                 PROGRAM);
  return status;
}

int run(int argc, char **argv) {
  int rank = 0, nprocs = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
  bool verbose = false, overwrite = false, no_output = false;
  int memsize = 64, maxpage = 0;
  uint64_t chunk = 64ull << 20, read_size = 1ull << 20;
  std::string outdir, fpath = ".";
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "-f" || a == "--overwrite") {
      overwrite = true;
    } else if (a == "--no-output") {
      no_output = true;
    } else if ((a == "-o" || a == "--output") && has_value) {
      outdir = argv[++i];
    } else if (a == "--memsize" && has_value) {
      memsize = std::atoi(argv[++i]);
    } else if (a == "--maxpage" && has_value) {
      maxpage = std::atoi(argv[++i]);
    } else if (a == "--fpath" && has_value) {
      fpath = argv[++i];
    } else if (a == "--chunk" && has_value) {
      chunk = parse_size(argv[++i]);
    } else if (a == "--read-size" && has_value) {
      read_size = parse_size(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      return usage(rank, 0);
    } else if (!a.empty() && a[0] == '-') {
      return usage(rank, 64);
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty() || memsize <= 0 || maxpage < 0 || chunk == 0 || read_size < 4096 ||
      read_size > (1ull << 30) || (outdir.empty() != no_output))
    return usage(rank, 64);
  for (unsigned char c : {' ', '\t', '\n', '\v', '\f', '\r'}) is_space[c] = true;

  // Every rank lists the inputs the same way.
  std::vector<InputFile> files;
  for (const std::string &p : inputs) list_path(p, true, files);
  uint64_t total_bytes = 0;
  for (const InputFile &f : files) total_bytes += f.size;
  uint64_t per_rank = (total_bytes / static_cast<uint64_t>(nprocs) + chunk - 1) / chunk;
  int tasks = nprocs * static_cast<int>(per_rank < 1 ? 1 : per_rank);

  // The output directory: rank 0 makes it (or clears it with --overwrite).
  int ok = 1;
  if (!no_output && rank == 0) {
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
  if (!ok) return 1;

  MapReduce *mr = new MapReduce(MPI_COMM_WORLD);
  mr->memsize = memsize;
  mr->maxpage = maxpage;
  mr->verbosity = verbose ? 1 : 0;
  mr->timer = verbose ? 1 : 0;
  mr->mapstyle = 0;
  mr->set_fpath(fpath.c_str());

  MapState ms;
  ms.files = &files;
  ms.total_bytes = total_bytes;
  ms.tasks = tasks;
  ms.read_size = static_cast<size_t>(read_size);
  ms.buffer.resize(ms.read_size);

  ReduceState rs;
  rs.mr = mr;
  rs.merge_buffer = static_cast<size_t>(memsize) << 20;
  char name[64];
  std::snprintf(name, sizeof name, "/invindex-runs.%d.%d.tmp", rank, static_cast<int>(getpid()));
  rs.run_path = fpath + name;
  if (!no_output) {
    std::snprintf(name, sizeof name, "/part-%05d", rank);
    std::string part = outdir + name;
    rs.writer.out = std::fopen(part.c_str(), "w");
    if (rs.writer.out == nullptr) fail("output '%s': %s", part.c_str(), std::strerror(errno));
    std::setvbuf(rs.writer.out, nullptr, _IOFBF, 1 << 20);
  }

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  mr->map(tasks, map_task, &ms);
  ms.buffer.clear();
  ms.buffer.shrink_to_fit();
  MPI_Barrier(MPI_COMM_WORLD);
  double t1 = MPI_Wtime();
  mr->collate(nullptr);
  MPI_Barrier(MPI_COMM_WORLD);
  double t2 = MPI_Wtime();
  mr->reduce(reduce, &rs);
  if (rs.writer.out && std::fclose(rs.writer.out) != 0) fail("writing the output: %s%s", std::strerror(errno), "");
  rs.writer.out = nullptr;
  if (rs.run_fd >= 0) {
    close(rs.run_fd);
    unlink(rs.run_path.c_str());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  double t3 = MPI_Wtime();
  if (!no_output && rank == 0) {
    FILE *s = std::fopen((outdir + "/_SUCCESS").c_str(), "w");
    if (s == nullptr || std::fclose(s) != 0) fail("output '%s': %s", outdir.c_str(), "cannot write _SUCCESS");
  }

  uint64_t local[8] = {rs.postings,         rs.distinct,         rs.writer.lines, rs.writer.bytes,
                       MapReduce::wsize,    MapReduce::rsize,    rs.run_bytes,    rs.multiblock};
  uint64_t global[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  MPI_Reduce(local, global, 8, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  uint64_t hiwater = MapReduce::msizemax, hiwater_max = 0;
  MPI_Reduce(&hiwater, &hiwater_max, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
  delete mr;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long maxrss = ru.ru_maxrss;
  std::vector<long> rss(static_cast<size_t>(nprocs));
  MPI_Gather(&maxrss, 1, MPI_LONG, rss.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    std::string rss_list;
    for (long r : rss) rss_list += (rss_list.empty() ? "" : ",") + std::to_string(r);
    std::printf(
        "mrmpi-invindex: ranks=%d memsize=%d maxpage=%d tasks=%d files=%zu input_bytes=%llu postings=%llu "
        "distinct=%llu lines=%llu output_bytes=%llu seconds=%.6f map=%.6f collate=%.6f reduce=%.6f "
        "spilled_bytes=%llu read_back_bytes=%llu run_bytes=%llu page_hiwater_bytes=%llu multiblock_words=%llu "
        "rank_maxrss_kb=%s\n",
        nprocs, memsize, maxpage, tasks, files.size(), static_cast<unsigned long long>(total_bytes),
        static_cast<unsigned long long>(global[0]), static_cast<unsigned long long>(global[1]),
        static_cast<unsigned long long>(global[2]), static_cast<unsigned long long>(global[3]), t3 - t0, t1 - t0,
        t2 - t1, t3 - t2, static_cast<unsigned long long>(global[4]), static_cast<unsigned long long>(global[5]),
        static_cast<unsigned long long>(global[6]), static_cast<unsigned long long>(hiwater_max),
        static_cast<unsigned long long>(global[7]), rss_list.c_str());
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
