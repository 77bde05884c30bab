#!/usr/bin/env bash
# The whole test suite, from nothing: installs what is missing, then
#   1. a Release build (-Werror) and every test: unit, MPI at np 1-4, the
#      programs end to end (at np 1 and 4 where stage 2 runs them at np 2),
#      the Python package under pytest at np 1-3, the installed package, the
#      API reference;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and the unit
#      tests, the MPI tests at np 2 and 4, every test of the programs at
#      one rank count (np 2 for those the Release stage runs at np 1 and 4)
#      and the Python package's tests at np 2
#      (leak checks in the MPI-free unit tests only: Open MPI's own
#      allocations look like leaks), with every shuffle message cut small
#      (MPIMR_MESSAGE_LIMIT) so that the path of rounds over 2 GiB runs;
#   3. the libFuzzer targets (built with clang, which is installed if
#      missing), 10 s each;
#   4. the unit tests and one MPI test under valgrind with Open MPI's
#      suppression file.
# usage: scripts/test.sh     (exits non-zero if anything fails)
set -euo pipefail
cd "$(dirname "$0")/.."
# doxygen: the API reference test (docs.reference); the rest: the real data and trusted tools the
# graph and k-means tests compare with (METIS graphs in libmetis-doc, WormNet in python3-networkx's
# examples, networkx and scikit-learn themselves); slurm-wlm and munge: the Slurm test (app.slurm);
# python3-dev, python3-mpi4py, python3-numpy and python3-pytest: the Python package and its tests;
# chromium: the report's test in a real browser (app.report)
bash scripts/install-deps.sh doxygen libmetis-doc python3-networkx python3-scipy python3-sklearn slurm-wlm munge \
  python3-dev python3-mpi4py python3-numpy python3-pytest chromium
source scripts/mpi-env.sh
jobs=$(nproc)

echo "== release build and all tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMPIMR_VALGRIND_TESTS=ON > /dev/null
cmake --build build -j "$jobs" > /dev/null
# Two tests at a time: much of an app test is mpirun starting up and scripts waiting, which the
# other test's ranks fill (no test measures time, so none is disturbed by the sharing).
# The programs' tests at np 2 run in the sanitizer build below instead (np 1 and 4 run here), and so
# do app.options and the np 3 runs of app.gentext and app.sortcheck.
asan_apps='(wordcount|invindex|sort|spill_failure|failures|shuffle_bench|job_overhead|rmat|pagerank|kmeans|cc)[.]np2'
(cd build && ctest --output-on-failure -j 2 -LE 'valgrind|fuzz' \
  -E "^(app[.]($asan_apps|options|(gentext|sortcheck)[.]np3)|python[.]pytest[.]np2)\$")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMPIMR_SANITIZE=address,undefined > /dev/null
cmake --build build-asan -j "$jobs" > /dev/null
# Leak checking is on by default; test_executor (which initialises MPI) turns it off itself.
(cd build-asan && ctest --output-on-failure -L unit)
# The MPI and program tests below cut every shuffle message at 4000 bytes, so the path of rounds
# over 2 GiB (several messages per block, MPI_Ialltoallw with derived types) runs in all of them
# (the Release stage above ran them with MPI's own limit).
export MPIMR_MESSAGE_LIMIT=4000
# The MPI tests at np 2 and 4 (np 1 and 3 ran in the release build; under ASan each is 3x slower),
# but mpi.rounds, mpi.job and mpi.spill at np 4 only: with messages cut small the first is a
# minute at each count, and the other two are the longest after it.
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j 2 -L mpi \
  -E '([.]np[13]|^mpi[.](rounds|job|spill)[.]np2)$')
# Every program test at one rank count (the fault shim of app.failures is preloaded before ASan's
# runtime; app.package is left out: it builds a program without the sanitizers against the library),
# and the Python package's tests at np 2 (the interpreter preloads the sanitizers' runtime).
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 ctest --output-on-failure -j 2 \
  -R "^(app[.]($asan_apps|(gentext|sortcheck)[.]np3|options)|python[.]pytest[.]np2)\$")

unset MPIMR_MESSAGE_LIMIT

echo "== libFuzzer: the record splitter and the decoders, 10 s each (scripts/fuzz.sh runs longer)"
bash scripts/fuzz.sh 10

echo "== valgrind"
(cd build && ctest --output-on-failure -j 2 -L valgrind)
echo "test.sh: all tests passed"
