#!/usr/bin/env bash
# The installed package, as a user meets it: `cmake --install` into a fresh
# prefix, then a program outside the project (tests/package) is built
# against that prefix twice, once with find_package(mpimr) and
# mpimr::mpimr, once with `pkg-config --cflags --libs mpimr` and mpicc, and
# both run under mpirun; their word counts must equal an independent count
# (tr, sort, uniq); so must the Fortran example's, built with mpifort against
# the installed module, when Fortran was built. Also: the headers, the versioned soname, the CMake
# version file and the installed programs are in place, and the prefix
# still works after it is moved (the .pc and CMake files are relocatable).
# usage: package_app.sh BUILD_DIR NP
set -euo pipefail
build=$1 np=$2
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d /tmp/mpimr-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...

cmake --install "$build" --prefix "$work/installed" > "$work/install.log"
# The prefix is used after a move, as a package built elsewhere would be.
mv "$work/installed" "$work/prefix"
prefix=$work/prefix
libdir=$(dirname "$(find "$prefix" -name 'libmpimr.so' | head -1)")
[ -n "$libdir" ] || fail "no libmpimr.so installed"
for f in include/mpimr/mpimr.h include/mpimr/job.h include/mpimr/version.h include/mpimr/error.h \
         include/mpimr/dataset.h bin/mpimr-rmat bin/mpimr-pagerank bin/mpimr-kmeans bin/mpimr-cc \
         bin/mpimr-wordcount bin/mpimr-sort bin/mpimr-invindex bin/mpimr-gensort bin/mpimr-valsort \
         bin/mpimr-gentext; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
[ -e "$libdir/libmpimr.a" ] && [ -e "$libdir/pkgconfig/mpimr.pc" ] &&
  [ -e "$libdir/cmake/mpimr/mpimrConfig.cmake" ] && [ -e "$libdir/cmake/mpimr/mpimrConfigVersion.cmake" ] ||
  fail "the static library, mpimr.pc or the CMake package is missing"
version=$(sed -n 's/^#define MPIMR_VERSION_STRING "\([^"]*\)".*/\1/p' "$prefix/include/mpimr/version.h")
soname=$(readelf -d "$libdir/libmpimr.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmpimr.so.${version%%.*}" ] || fail "soname '$soname' for version $version"
[ -e "$libdir/libmpimr.so.$version" ] || fail "libmpimr.so.$version missing"

# A text to count, and its count from tools that share nothing with mpimr.
run "$np" "$prefix/bin/mpimr-gentext" -o "$work/text.txt" --size 2M --vocab 5000 --seed 5
tr ' ' '\n' < "$work/text.txt" | grep -v '^$' | LC_ALL=C sort | uniq -c |
  awk '{print $2 "\t" $1}' > "$work/expected"

check() {
  local name=$1 binary=$2
  rm -rf "$work/out"
  run "$np" "$binary" "$work/out" "$work/text.txt" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; fail "$name failed"; }
  grep -q "consumer: mpimr $version" "$work/$name.log" || fail "$name: wrong version line"
  [ -e "$work/out/_SUCCESS" ] || fail "$name: no _SUCCESS"
  LC_ALL=C sort "$work"/out/part-* | cmp - "$work/expected" || fail "$name: counts differ from the oracle"
  echo "ok: $name"
}

# 1. find_package(mpimr) with mpimr::mpimr.
cmake -S "$source_dir/tests/package" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log" || { cat "$work/cmake.log"; fail "configuring the consumer"; }
cmake --build "$work/consumer-cmake" > "$work/build.log" || { cat "$work/build.log"; fail "building the consumer"; }
readelf -d "$work/consumer-cmake/consumer" > "$work/dynamic.txt"
grep -q "NEEDED.*\[$soname\]" "$work/dynamic.txt" || fail "not linked to $soname"
check "find_package" "$work/consumer-cmake/consumer"

# 2. pkg-config and mpicc, the way the README shows.
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs mpimr)
mpicc -std=c11 -Wall -Wextra -Werror "$source_dir/tests/package/consumer.c" $flags -Wl,-rpath,"$libdir" \
  -o "$work/consumer-pc"
check "pkg-config" "$work/consumer-pc"
# 3. The Fortran module, if it was built: the example compiled from its source against the prefix.
if [ -e "$build/include/mpimr/fortran/mpimr.mod" ]; then
  [ -e "$prefix/include/mpimr/fortran/mpimr.mod" ] && [ -e "$libdir/libmpimr_fortran.a" ] ||
    fail "the Fortran module or its library is not installed"
  mpifort -std=f2008 -Wall -Werror -J "$work" "$source_dir/apps/wordcount_fortran.f90" -I"$prefix/include/mpimr/fortran" \
    -L"$libdir" -lmpimr_fortran -lmpimr -Wl,-rpath,"$libdir" -o "$work/fortran"
  rm -rf "$work/out"
  run "$np" "$work/fortran" -o "$work/out" "$work/text.txt"
  LC_ALL=C sort "$work"/out/part-* | cmp - "$work/expected" || fail "fortran: counts differ from the oracle"
  echo "ok: Fortran module"
fi
# 4. The Python package, if it was built: installed under the prefix (MPIMR_PYTHON_INSTALL_DIR,
# lib/python3.X/dist-packages by default), imported from outside the source and build trees with
# PYTHONPATH pointing there, a word count with it checked against the same kind of oracle, and
# python3 -m mpimr.wordcount (--help, and a count). Debian's interpreter, named: another python3 may
# come first on PATH.
if [ -d "$build/python/mpimr" ]; then
  python=/usr/bin/python3
  py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  py_dir=$(sed -n 's/^MPIMR_PYTHON_INSTALL_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
  default_py_dir=lib/python$py_version/dist-packages  # where Debian's python3 looks under /usr/local
  if [ -z "$py_dir" ]; then
    py_dir=$default_py_dir
  elif [ "$py_dir" != "$default_py_dir" ]; then
    echo "note: MPIMR_PYTHON_INSTALL_DIR is '$py_dir' (configured), not $default_py_dir"
  fi
  py_path=$prefix/$py_dir
  [ -d "$py_path/mpimr" ] || fail "$py_dir/mpimr not installed"
  for f in __init__.py wordcount.py; do
    [ -e "$py_path/mpimr/$f" ] || fail "$py_dir/mpimr/$f not installed"
  done
  compgen -G "$py_path/mpimr/_core.cpython-*.so" > /dev/null || fail "$py_dir/mpimr/_core*.so not installed"
  head -n 300 "$work/text.txt" > "$work/small.txt"
  tr ' ' '\n' < "$work/small.txt" | grep -v '^$' | LC_ALL=C sort | uniq -c |
    awk '{print $2 "\t" $1}' > "$work/small.expected"
  program='
import os, sys
from mpi4py import MPI
import mpimr
prefix = os.path.realpath(sys.argv[1])
for module in (mpimr, mpimr._core):
    assert os.path.realpath(module.__file__).startswith(prefix + os.sep), module.__file__
def words(block, emit):
    emit.many(bytes(block).split(), 1)
job = mpimr.Job(MPI.COMM_WORLD, inputs=[sys.argv[2]], map_block=words, reduce="sum_u64",
                output_dir=sys.argv[3])
job.run()
job.close()
MPI.COMM_WORLD.Barrier()
if MPI.COMM_WORLD.Get_rank() == 0:
    print("python: mpimr from", os.path.dirname(mpimr.__file__))
'
  (cd /tmp && PYTHONPATH=$py_path run "$np" "$python" -c "$program" "$prefix" "$work/small.txt" "$work/pyout") \
    > "$work/python.log" 2>&1 || { cat "$work/python.log"; fail "the installed Python package failed"; }
  grep -q "^python: mpimr from $py_path/mpimr\$" "$work/python.log" || { cat "$work/python.log"; fail "mpimr not imported from the prefix"; }
  [ -e "$work/pyout/_SUCCESS" ] || fail "python: no _SUCCESS"
  LC_ALL=C sort "$work"/pyout/part-* | cmp - "$work/small.expected" || fail "python: counts differ from the oracle"
  (cd /tmp && PYTHONPATH=$py_path run "$np" "$python" -m mpimr.wordcount --help) > "$work/pyhelp" 2>&1 ||
    { cat "$work/pyhelp"; fail "python3 -m mpimr.wordcount --help failed"; }
  grep -q '^SYNOPSIS' "$work/pyhelp" || { cat "$work/pyhelp"; fail "python3 -m mpimr.wordcount --help: no SYNOPSIS"; }
  (cd /tmp && PYTHONPATH=$py_path run "$np" "$python" -m mpimr.wordcount -q -o "$work/pywc" "$work/small.txt") \
    > "$work/pywc.log" 2>&1 || { cat "$work/pywc.log"; fail "python3 -m mpimr.wordcount failed"; }
  LC_ALL=C sort "$work"/pywc/part-* | cmp - "$work/small.expected" || fail "python3 -m mpimr.wordcount: counts differ"
  echo "ok: Python package"
else
  echo "skipped: the Python package (not built: no $build/python/mpimr)"
fi
echo "package_app np=$np: ok"
