#!/usr/bin/env bash
# The main job, from nothing: installs what is missing, builds mpimr in
# build/, generates a Zipf-distributed text sample (data/sample.txt, SIZE,
# default 256M), counts its words with mpimr-wordcount under mpirun on NP
# ranks (default: the number of cores) and prints the most frequent words.
# usage: scripts/demo.sh [SIZE [NP]]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-256M}
np=${2:-$(nproc)}
bash scripts/install-deps.sh
source scripts/mpi-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMPIMR_BUILD_TESTS=OFF > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
mkdir -p data
if [ ! -s "data/sample-$size.txt" ]; then
  echo "generating data/sample-$size.txt ($size, 1M-word vocabulary, Zipf 1.0)"
  mpirun -np "$np" build/bin/mpimr-gentext -o "data/sample-$size.txt" --size "$size" --vocab 1000000 --zipf 1.0 --seed 1
fi
rm -rf data/counts
mpirun -np "$np" build/bin/mpimr-wordcount -v -o data/counts "data/sample-$size.txt"
echo "most frequent words (word, count):"
bash scripts/top-words.sh data/counts 10
