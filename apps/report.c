/*
 * apps/report.c — mpimr-report: one self-contained HTML page from a job's
 * --stats JSON and, optionally, its --trace timeline.
 *
 * The program checks that each input is well-formed JSON of the right shape
 * (report_json.h), so that a bad file is refused here, naming the byte,
 * rather than by the browser. It then writes the page: the markup, style and
 * script made at build time from apps/report/ (report_page.h), with the
 * inputs embedded as they are in <script type="application/json"> blocks.
 * Everything is drawn by that script when the page is opened, so the page
 * needs no network and no other file. The page is written under a temporary
 * name next to the output and renamed into place once complete.
 *
 * Not an MPI program: it reads files another run wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mpimr/version.h"
#include "report_json.h"
#include "report_page.h"

static const char program[] = "mpimr-report";

/* Exit status of a run that failed (an input or the output); usage errors are CLI_EXIT_USAGE. */
enum { EXIT_FAILED = 1 };

typedef struct report_options {
  const char *stats_path;
  const char *trace_path; /* NULL: no timeline */
  const char *output_path;
  bool help;
} report_options;

/* One input file, read whole. */
typedef struct input_file {
  const char *path;
  char *text;
  size_t length;
} input_file;

/* ---- Options ----------------------------------------------------------- */

static void print_help(void) {
  printf(
      "NAME\n"
      "    %1$s - an HTML report of an mpimr job from its --stats and --trace files\n"
      "\n"
      "SYNOPSIS\n"
      "    %1$s STATS.json [TRACE.json] -o REPORT.html\n"
      "    %1$s --help\n"
      "\n"
      "DESCRIPTION\n"
      "    Reads the figures a job program wrote with --stats FILE and, if given,\n"
      "    the timeline it wrote with --trace FILE, and writes one HTML file that\n"
      "    shows them. The file is self-contained: its charts are SVG drawn by\n"
      "    the script in the page from the data in the page, so it opens in any\n"
      "    current browser, offline, and can be mailed or archived as it is.\n"
      "\n"
      "    The page has, from top to bottom:\n"
      "      - the job's figures: ranks, total time, input and output;\n"
      "      - a timeline of the phases per rank: map slices, waits for a send\n"
      "        buffer, each shuffle round's header and data exchange, folding a\n"
      "        received round, the shuffle tail, reduce, output, and the spans a\n"
      "        program named itself (hover over a bar for its times);\n"
      "      - the bytes received in each shuffle round, summed over the ranks;\n"
      "      - the load per reducer: pairs and bytes each rank received, with\n"
      "        the mean and max/mean, and the heaviest key where the stats have it;\n"
      "      - memory in use over time, one line per rank;\n"
      "      - the job's counters, and every rank's figures in a table.\n"
      "    A section whose data the inputs lack (no TRACE.json, a timeline\n"
      "    without memory samples, a job without counters) says so.\n"
      "\n"
      "    Both inputs are checked before anything is written: a file that is\n"
      "    not JSON is refused with the byte offset (from 0) and line of the\n"
      "    first problem; a STATS.json must be an object with a \"ranks\" array,\n"
      "    and a TRACE.json an object with a \"traceEvents\" array (or an array of\n"
      "    events). The report is written as REPORT.html.tmp.PID in the same\n"
      "    directory and renamed to REPORT.html when complete, so REPORT.html is\n"
      "    never half written (where REPORT.html is a symbolic link to a file,\n"
      "    that file is replaced and the link kept).\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output FILE      The page to write; replaced if it exists. \"-\",\n"
      "                           or a file that is not a regular one (a pipe,\n"
      "                           /dev/stdout), is written in place instead.\n"
      "    -h, --help             Print this help and exit.\n"
      "\n"
      "OUTPUT\n"
      "    One HTML5 file, UTF-8, with no references to other files or the\n"
      "    network. Its size is about that of the inputs plus 40 KB. Once the\n"
      "    page has drawn itself, its <body> has data-rendered=\"ok\"; if drawing\n"
      "    failed, data-rendered=\"error\" and the element with id report-error\n"
      "    says why (the other sections are still drawn).\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success; 1 if an input cannot be read or is malformed, or the\n"
      "    report cannot be written (the message names the file and the cause;\n"
      "    nothing is written); 64 on a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-wordcount -o out --stats stats.json --trace trace.json input/\n"
      "    %1$s stats.json trace.json -o report.html\n"
      "    %1$s stats.json -o figures-only.html\n",
      program);
}

/* Parses the command line. Returns 0, or -1 after a usage message. */
static int options_parse(int argc, char **argv, report_options *options) {
  static const struct option long_options[] = {
      {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  *options = (report_options){0};
  opterr = 0;
  for (;;) {
    int id = getopt_long(argc, argv, ":ho:", long_options, NULL);
    if (id == -1) break;
    if (id == 'h') {
      options->help = true;
      return 0;
    }
    if (id == '?' || id == ':') {
      const char *what = id == '?' ? "unrecognized option" : "missing value for option";
      cli_usage_error(0, program, "%s '%s'", what, argv[optind - 1]);
      return -1;
    }
    if (optarg[0] == '\0') {
      cli_usage_error(0, program, "-o/--output wants a file name, not an empty one");
      return -1;
    }
    options->output_path = optarg;
  }
  int inputs = argc - optind;
  if (inputs < 1) {
    cli_usage_error(0, program, "no STATS.json given");
    return -1;
  }
  if (inputs > 2) {
    cli_usage_error(0, program, "unexpected argument '%s' (at most STATS.json and TRACE.json)",
                    argv[optind + 2]);
    return -1;
  }
  options->stats_path = argv[optind];
  options->trace_path = inputs == 2 ? argv[optind + 1] : NULL;
  if (options->stats_path[0] == '\0' || (options->trace_path && options->trace_path[0] == '\0')) {
    cli_usage_error(0, program, "an input file name is empty");
    return -1;
  }
  if (options->output_path == NULL) {
    cli_usage_error(0, program, "no output given: -o REPORT.html is required");
    return -1;
  }
  return 0;
}

/* ---- Reading and checking the inputs ---------------------------------- */

/* Reads the whole file into `input`. Returns 0, or -1 after saying why. */
static int input_read(input_file *input) {
  FILE *f = fopen(input->path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: %s: cannot open: %s\n", program, input->path, strerror(errno));
    return -1;
  }
  size_t capacity = 1 << 16, length = 0;
  char *text = malloc(capacity);
  int error = text == NULL ? ENOMEM : 0;
  while (error == 0) {
    if (length == capacity) {
      char *grown = capacity <= SIZE_MAX / 2 ? realloc(text, capacity * 2) : NULL;
      if (grown == NULL) {
        error = ENOMEM;
        break;
      }
      text = grown;
      capacity *= 2;
    }
    size_t got = fread(text + length, 1, capacity - length, f);
    length += got;
    if (got == 0) {
      if (ferror(f)) error = errno ? errno : EIO;
      break;
    }
  }
  fclose(f);
  if (error != 0) {
    fprintf(stderr, "%s: %s: cannot read: %s\n", program, input->path, strerror(error));
    free(text);
    return -1;
  }
  input->text = text;
  input->length = length;
  return 0;
}

/* Checks that the input is JSON; reports where it is not. Returns 0 or -1. */
static int input_check_json(const input_file *input, json_member_probe *probes, size_t probe_count,
                            json_verdict *verdict) {
  if (json_check(input->text, input->length, probes, probe_count, verdict) == 0) return 0;
  fprintf(stderr, "%s: %s: byte %zu (line %zu): expected %s, found %s\n", program, input->path,
          verdict->error_offset, verdict->error_line, verdict->expected, verdict->found);
  return -1;
}

/* Reads STATS.json and checks that it is what --stats writes: an object with a "ranks" array. */
static int stats_load(input_file *stats) {
  if (input_read(stats) != 0) return -1;
  json_member_probe probes[] = {{"ranks", JSON_ABSENT}};
  json_verdict verdict;
  if (input_check_json(stats, probes, 1, &verdict) != 0) return -1;
  if (verdict.top != JSON_OBJECT || probes[0].type != JSON_ARRAY) {
    fprintf(stderr,
            "%s: %s: not an mpimr --stats file: expected an object with a \"ranks\" array, found %s%s\n",
            program, stats->path, json_type_name(verdict.top),
            verdict.top != JSON_OBJECT      ? ""
            : probes[0].type == JSON_ABSENT ? " without \"ranks\""
                                            : " whose \"ranks\" is not an array");
    return -1;
  }
  return 0;
}

/* Reads TRACE.json and checks that it is trace-event JSON: {"traceEvents": [...]} or [...]. */
static int trace_load(input_file *trace) {
  if (input_read(trace) != 0) return -1;
  json_member_probe probes[] = {{"traceEvents", JSON_ABSENT}};
  json_verdict verdict;
  if (input_check_json(trace, probes, 1, &verdict) != 0) return -1;
  if (verdict.top == JSON_ARRAY || (verdict.top == JSON_OBJECT && probes[0].type == JSON_ARRAY)) return 0;
  fprintf(
      stderr,
      "%s: %s: not an mpimr --trace file: expected an object with a \"traceEvents\" array, or an array of "
      "events; found %s%s\n",
      program, trace->path, json_type_name(verdict.top),
      verdict.top == JSON_OBJECT ? " without a \"traceEvents\" array" : "");
  return -1;
}

/* ---- Writing the page ------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at `s` (of `left` bytes), or 0 if there is none. */
static size_t utf8_length(const unsigned char *s, size_t left) {
  if (s[0] < 0x80) return 1;
  size_t length = 0;
  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    length = 2;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF)
    length = 3;
  else if (s[0] >= 0xF0 && s[0] <= 0xF4)
    length = 4;
  if (length == 0 || length > left) return 0;
  /* The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF. */
  unsigned char low = s[0] == 0xE0 ? 0xA0 : s[0] == 0xF0 ? 0x90 : 0x80;
  unsigned char high = s[0] == 0xED ? 0x9F : s[0] == 0xF4 ? 0x8F : 0xBF;
  if (s[1] < low || s[1] > high) return 0;
  for (size_t i = 2; i < length; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return length;
}

/*
 * Writes `text` as a JSON string that is safe inside a <script> element:
 * '<' is escaped, so that no "</script" can end the element early; bytes
 * that are not UTF-8 (a file name can hold any) become U+FFFD.
 */
static void write_json_string(FILE *out, const char *text) {
  fputc('"', out);
  size_t left = strlen(text);
  for (const unsigned char *p = (const unsigned char *)text; left > 0;) {
    size_t length = utf8_length(p, left);
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == '<')
      fprintf(out, "\\u%04x", *p);
    else if (length == 0)
      fputs("\\ufffd", out);
    else
      fwrite(p, 1, length, out);
    if (length == 0) length = 1;
    p += length;
    left -= length;
  }
  fputc('"', out);
}

/*
 * Writes checked JSON inside a <script> element. In well-formed JSON a '<'
 * can only be inside a string, where "\u003c" means the same, so the text
 * parses to the same value and cannot close the element.
 */
static void write_embedded_json(FILE *out, const input_file *input) {
  const char *at = input->text, *end = input->text + input->length;
  while (at < end) {
    const char *angle = memchr(at, '<', (size_t)(end - at));
    size_t run = (size_t)((angle ? angle : end) - at);
    fwrite(at, 1, run, out);
    at += run;
    if (angle) {
      fputs("\\u003c", out);
      at++;
    }
  }
}

/* Writes the data blocks the page's script reads: where the report came from, the stats and the trace. */
static void write_data(FILE *out, const input_file *stats, const input_file *trace) {
  fputs("<script type=\"application/json\" id=\"report-data-source\">{\"stats_file\":", out);
  write_json_string(out, stats->path);
  fputs(",\"trace_file\":", out);
  if (trace->text)
    write_json_string(out, trace->path);
  else
    fputs("null", out);
  fputs(",\"generator\":\"mpimr-report " MPIMR_VERSION_STRING "\"}</script>\n", out);
  fputs("<script type=\"application/json\" id=\"report-data-stats\">", out);
  write_embedded_json(out, stats);
  fputs("</script>\n<script type=\"application/json\" id=\"report-data-trace\">", out);
  if (trace->text)
    write_embedded_json(out, trace);
  else
    fputs("null", out);
  fputs("</script>\n", out);
}

/* Writes the whole page to `out`, and to the disk if `durable`; returns 0, or an errno value. */
static int write_page(FILE *out, const input_file *stats, const input_file *trace, bool durable) {
  errno = 0;
  fwrite(report_page_head, 1, report_page_head_size, out);
  write_data(out, stats, trace);
  fwrite(report_page_tail, 1, report_page_tail_size, out);
  if (fflush(out) != 0 || ferror(out)) return errno ? errno : EIO;
  return !durable || fsync(fileno(out)) == 0 ? 0 : errno;
}

/*
 * Writes the report straight into what `output_path` names: standard
 * output ("-"), or a file that is not a regular one (a terminal, a pipe,
 * /dev/stdout), which cannot be replaced and must not be. Returns 0 or -1.
 */
static int report_write_stream(const char *output_path, const input_file *stats, const input_file *trace) {
  bool standard_output = strcmp(output_path, "-") == 0;
  FILE *out = standard_output ? stdout : fopen(output_path, "wb");
  if (out == NULL) {
    fprintf(stderr, "%s: %s: cannot open: %s\n", program, output_path, strerror(errno));
    return -1;
  }
  int error = write_page(out, stats, trace, false);
  if (!standard_output && fclose(out) != 0 && error == 0) error = errno;
  if (error != 0) fprintf(stderr, "%s: %s: cannot write: %s\n", program, output_path, strerror(error));
  return error ? -1 : 0;
}

/* Writes the page under a temporary name beside `target` and renames it to `target`; messages name
 * `output_path`. */
static int report_replace(const char *target, const char *output_path, const input_file *stats,
                          const input_file *trace) {
  size_t temporary_size = strlen(target) + 32;
  char *temporary = malloc(temporary_size);
  if (temporary == NULL) {
    fprintf(stderr, "%s: %s: out of memory\n", program, output_path);
    return -1;
  }
  snprintf(temporary, temporary_size, "%s.tmp.%ld", target, (long)getpid());
  int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (out == NULL) {
    fprintf(stderr, "%s: %s: cannot create '%s': %s\n", program, output_path, temporary, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(temporary);
    }
    free(temporary);
    return -1;
  }
  int error = write_page(out, stats, trace, true);
  if (fclose(out) != 0 && error == 0) error = errno;
  if (error != 0) {
    fprintf(stderr, "%s: %s: cannot write '%s': %s\n", program, output_path, temporary, strerror(error));
  } else if (rename(temporary, target) != 0) {
    error = errno;
    fprintf(stderr, "%s: %s: cannot rename '%s' to it: %s\n", program, output_path, temporary,
            strerror(error));
  }
  if (error != 0) unlink(temporary);
  free(temporary);
  return error ? -1 : 0;
}

/*
 * Writes the report to TARGET.tmp.PID beside TARGET and renames it into
 * place, TARGET being `output_path` or, where that is a link, the file it
 * leads to (so the link stays). Standard output ("-") and files that are
 * not regular are written in place. Returns 0, or -1 after saying why (and
 * removing the temporary file).
 */
static int report_write(const char *output_path, const input_file *stats, const input_file *trace) {
  if (strcmp(output_path, "-") == 0) return report_write_stream(output_path, stats, trace);
  struct stat status;
  bool exists = stat(output_path, &status) == 0;
  if (exists && S_ISDIR(status.st_mode)) {
    fprintf(stderr, "%s: %s: is a directory\n", program, output_path);
    return -1;
  }
  if (exists && !S_ISREG(status.st_mode)) return report_write_stream(output_path, stats, trace);
  char *target = realpath(output_path, NULL); /* NULL if it does not exist yet: then it is written as named */
  int result = report_replace(target ? target : output_path, output_path, stats, trace);
  free(target);
  return result;
}

int main(int argc, char **argv) {
  report_options options;
  if (options_parse(argc, argv, &options) != 0) return CLI_EXIT_USAGE;
  if (options.help) {
    print_help();
    return 0;
  }
  input_file stats = {.path = options.stats_path}, trace = {.path = options.trace_path};
  int failed = stats_load(&stats) != 0 || (trace.path != NULL && trace_load(&trace) != 0) ||
               report_write(options.output_path, &stats, &trace) != 0;
  free(stats.text);
  free(trace.text);
  return failed ? EXIT_FAILED : 0;
}
