#!/usr/bin/env bash
# Prints the N most frequent words (default 10) of a word count's text
# output: the word<TAB>count lines of DIR/part-*, highest count first.
# usage: scripts/top-words.sh DIR [N]
set -euo pipefail
dir=${1:?usage: scripts/top-words.sh DIR [N]}
n=${2:-10}
parts=("$dir"/part-*)
[ -e "${parts[0]}" ] || { echo "top-words.sh: no part files in '$dir'" >&2; exit 1; }
# awk reads all of sort's output: 'head' would stop early and, under pipefail, sort's SIGPIPE
# would fail the script.
sort -t "$(printf '\t')" -k2,2nr "${parts[@]}" | awk -v n="$n" 'NR <= n'
