#!/usr/bin/env bash
# Captures real programs into virtsim traces: each runs under Valgrind's lackey with every
# child process traced (one log per process), and `virtsim trace convert` serializes the
# processes into one trace (docs/trace-format.md, "Converting lackey logs").
#
# Needs these Debian packages (this script installs nothing; scripts/setup lists them):
#   valgrind, util-linux (setarch), coreutils (sort, seq), gzip, sqlite3, python3, gcc
#
# Usage: workloads/capture/capture.sh [-o DIR] [--limit N] [--limit-per-process N]
#                                     [--keep-logs] [--virtsim PATH] [RECIPE...]
#   -o DIR                 where the traces go (default: captures/, not committed)
#   --limit N              cut each trace at N memory records (closed properly)
#   --limit-per-process N  keep at most N memory records of each process (all process records kept)
#   --keep-logs            keep the lackey logs (in DIR/logs/RECIPE/); they are large
#   RECIPE                 any of: gzip sort sqlite python gcc pipeline (default: all)
#
# Deterministic (up to a few stack loads, see workloads/samples/README.md): address-space
# randomization off (setarch -R), an empty environment but
# PATH and LC_ALL, fixed inputs (generated here or shipped in inputs/), a fixed scratch
# directory (/tmp/virtsim-capture: one capture.sh at a time), processes renumbered 1, 2, 3...
# Output: DIR/RECIPE.vst, and `virtsim trace info` of each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=captures
limit=()
keep_logs=false
virtsim=${VIRTSIM_BIN:-$repo/build/apps/virtsim}
recipes=()
while (($#)); do
  case $1 in
    -o) out=$2; shift 2 ;;
    --limit) limit+=(--limit "$2"); shift 2 ;;
    --limit-per-process) limit+=(--limit-per-process "$2"); shift 2 ;;
    --keep-logs) keep_logs=true; shift ;;
    --virtsim) virtsim=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "capture.sh: unknown option $1" >&2; exit 2 ;;
    *) recipes+=("$1"); shift ;;
  esac
done
((${#recipes[@]})) || recipes=(gzip sort sqlite python gcc pipeline)
for tool in valgrind setarch; do
  command -v "$tool" >/dev/null || { echo "capture.sh: $tool not found (see the packages above)" >&2; exit 1; }
done
[[ -x $virtsim ]] || { echo "capture.sh: $virtsim not built (scripts/setup default)" >&2; exit 1; }

# The command of each recipe, run in its working directory, stdout to RECIPE.stdout.
recipe_command() {
  case $1 in
    gzip)     command=(gzip -9 -c text.txt) ;;
    sort)     command=(sort --parallel=1 -k2,2n -k1,1 numbers.txt) ;;
    sqlite)   command=(sqlite3 -batch :memory: ".read inventory.sql") ;;
    python)   command=(env PYTHONHASHSEED=0 python3 -I -S wordfreq.py) ;;   # env execs python: one image
    gcc)      command=(gcc -pipe -O1 -c hello.c -o hello.o) ;;   # the driver forks cc1 and as
    pipeline) command=(sh -c 'seq 1 300 | sort -rn | head -n 3') ;;   # sh forks three children
    *) echo "capture.sh: unknown recipe '$1' (gzip sort sqlite python gcc pipeline)" >&2; exit 2 ;;
  esac
}

# Fixed inputs: generated text and numbers, and the shipped SQL, Python and C files.
prepare_inputs() {
  local dir=$1
  awk 'BEGIN { x = 7; for (i = 1; i <= 1500; i++) { x = (x * 16807) % 2147483647;
               printf "line %d: the walker reads entry %d of table %d\n", i, x % 512, x % 97 } }' >"$dir/text.txt"
  awk 'BEGIN { x = 11; for (i = 1; i <= 2000; i++) { x = (x * 48271) % 2147483647;
               printf "key%05d %d\n", x % 100000, x % 1000 } }' >"$dir/numbers.txt"
  cp "$here/inputs/inventory.sql" "$here/inputs/wordfreq.py" "$here/inputs/hello.c" "$dir/"
}

for recipe in "${recipes[@]}"; do recipe_command "$recipe"; done  # unknown names fail before anything runs
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The working directory and the log names end up in the traced programs' memory (the cwd,
# Valgrind's options kept for its children), so they are the same whatever -o says.
scratch=/tmp/virtsim-capture
for recipe in "${recipes[@]}"; do
  recipe_command "$recipe"
  work=$scratch/$recipe
  logs=$scratch/$recipe.logs
  rm -rf "$work" "$logs"
  mkdir -p "$work" "$logs"
  prepare_inputs "$work"
  echo "capture.sh: $recipe: ${command[*]}"
  (cd "$work" && env -i PATH=/usr/bin:/bin LC_ALL=C setarch -R \
     valgrind --tool=lackey --trace-mem=yes --trace-children=yes --trace-syscalls=yes \
     --log-file="$logs/$recipe.%p" "${command[@]}" >"$recipe.stdout")
  "$virtsim" trace convert "$logs" -o "$out/$recipe.vst" --force --renumber-pids "${limit[@]}"  # a re-capture replaces it
  "$virtsim" trace info "$out/$recipe.vst"
  if $keep_logs; then
    rm -rf "$out/logs/$recipe" && mkdir -p "$out/logs" && mv "$logs" "$out/logs/$recipe"
  fi
  rm -rf "$logs" "$work"
done
rmdir "$scratch" 2>/dev/null || true
