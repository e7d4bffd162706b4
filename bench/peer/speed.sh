#!/usr/bin/env bash
# Speed, same run (issue 12, point 3): ragent and llama.cpp side by side on the same files,
# alternating the two runtimes, then one table of medians, spreads, ratios and roofline shares
# (bench/peer/speed.py).
#
#   bench/peer/speed.sh [MODEL.gguf ...]
#
# Per model file, per thread count, per repetition (the runtime that goes first alternates
# from one repetition to the next), each cell one process per runtime:
#   tg64 @0     decode 64 tokens at an empty context
#               ragent bench -p 1 -n 64 -r 1        | llama-bench -n 64 (tg64, depth 0)
#   pp128       ragent bench -p 128 -n 1 -b 512 -r 1 | llama-bench -p 128 -b 512
#   pp512       ragent bench -p 512 -n 1 -b 512 -r 1 | llama-bench -p 512 -b 512
#               (llama-bench runs pp128, pp512 and tg64 in one process: -p 128,512 -n 64)
#   tg64 @4096  decode 64 tokens after a 4096-token prompt; its peak RSS (/usr/bin/time %M, as
#               time -v's "Maximum resident set size") is the 4K-context RSS of both sides
#               ragent bench -p 4096 -n 64 -b 512 -r 1 (its pp is the 4K prefill)
#               | llama-bench -p 0 -n 64 -d 4096 -b 512 -r 1 (depth prefill not timed)
#   8 x 512     aggregate throughput of 8 sequences with their own 512-token prompts
#               ragent bench -p 512 -n 32 -b 512 --parallel 8 -r 1
#               | llama-batched-bench -npp 512 -ntg 32 -npl 8 -c 4352 -b 2048 -ub 512
# Our decode roofline (read bandwidth measured by ragent bench in the same process, divided by
# the weight bytes one decode step reads) is applied to llama.cpp's decode of the same rep.
#
# Environment:
#   MODELS           model files (default: the ragent-quantized Q8_0 and Q4_K_M files that
#                    files_both_ways.sh leaves in WORK with KEEP=1; made with it when missing
#                    and LLAMA_CPP_SRC is set)
#   THREADS          thread counts (default "1 2")
#   REPS             repetitions per cell (default 3)
#   REPS_DEPTH       repetitions of the 4096-token cell (default REPS)
#   REPS_PARALLEL    repetitions of the 8-sequence cell (default REPS)
#   CELLS            cells to run (default "short depth parallel")
#   LLAMA_CPP_SRC    llama.cpp source tree: built or found up to date by llama_cpp.sh. Unset:
#                    the tools already in LLAMA_CPP_BUILD are used, commit from its stamp
#   LLAMA_CPP_BUILD  its build folder (default /tmp/ragent-peer/llama.cpp-build)
#   RAGENT_BUILD     our build folder with ragent (default ./build); the commit printed is
#                    that of the source tree its CMakeCache.txt names, unless RAGENT_COMMIT
#                    says otherwise (for a binary copied out of a tree that has moved on)
#   WORK             model files (default /tmp/ragent-peer/files)
#   OUT              raw outputs (default WORK/speed-<UTC time>); bench/peer/speed.py OUT
#                    prints the table again, also from an interrupted run
#
# Every process runs under /usr/bin/time; the CPU that other processes used meanwhile is
# recorded and shown per cell (the machine is assumed idle; this says when it was not).
#
# Page cache: both runtimes must see the same one (bench/README.md: a file read back from disk
# is cached in 2 MiB folios and mapped with huge pages). As root the caches are dropped once and
# each file is read in full before measuring; otherwise a note says the state is unknown.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${RAGENT_BUILD:-$repo/build}"
work="${WORK:-/tmp/ragent-peer/files}"
threads_list="${THREADS:-1 2}"
reps="${REPS:-3}"
reps_depth="${REPS_DEPTH:-$reps}"
reps_parallel="${REPS_PARALLEL:-$reps}"
cells="${CELLS:-short depth parallel}"
llama_build="${LLAMA_CPP_BUILD:-/tmp/ragent-peer/llama.cpp-build}"

die() { echo "speed: $*" >&2; exit 2; }
[ -x "$build/ragent" ] || die "$build/ragent missing: cmake --build $build --target ragent (or set RAGENT_BUILD)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (GNU time, for peak RSS): apt-get install time"

# The peer: built (or found up to date) by llama_cpp.sh, or taken as built.
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  peer_out="$("$here/llama_cpp.sh")" || die "llama.cpp build failed"
  peer_commit="$(sed -n 's/^llama.cpp commit: //p' <<<"$peer_out")"
  llama_bin="$(sed -n 's/^llama.cpp bin: //p' <<<"$peer_out")"
else
  llama_bin="$llama_build/bin"
  peer_commit="$(sed -n 's/^commit=//p' "$llama_build/ragent-peer.stamp" 2>/dev/null)"
  peer_commit="${peer_commit:-unknown} (as built in $llama_build; LLAMA_CPP_SRC unset)"
fi
for t in llama-bench llama-batched-bench; do
  [ -x "$llama_bin/$t" ] || die "$llama_bin/$t missing: run bench/peer/llama_cpp.sh"
done

# Our commit: the source tree the build folder was configured from.
if [ -n "${RAGENT_COMMIT:-}" ]; then our_commit="$RAGENT_COMMIT"; else
src="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)"
src="${src:-$repo}"
our_commit="$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ] && our_commit="$our_commit-dirty"
fi

# The files.
if [ $# -gt 0 ]; then
  models=("$@")
elif [ -n "${MODELS:-}" ]; then
  read -r -a models <<<"$MODELS"
else
  models=("$work/ragent-q8_0.gguf" "$work/ragent-q4_k_m.gguf")
  if { [ ! -f "${models[0]}" ] || [ ! -f "${models[1]}" ]; } && [ -n "${LLAMA_CPP_SRC:-}" ]; then
    echo "speed: making the model files with files_both_ways.sh (KEEP=1 REUSE=1)" >&2
    KEEP=1 REUSE=1 WORK="$work" "$here/files_both_ways.sh" >/dev/null || die "files_both_ways.sh failed"
  fi
fi
for m in "${models[@]}"; do
  [ -f "$m" ] || die "$m missing: pass model files, set MODELS, or run KEEP=1 bench/peer/files_both_ways.sh"
done

out="${OUT:-$work/speed-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out" || die "cannot create $out"
case "$(cd "$out" && pwd)/" in "$repo"/*) die "OUT=$out is inside the project; pick a folder outside" ;; esac

# Same page cache for both: drop it, then read every file once (2 MiB folios).
if [ "$(id -u)" = 0 ] && sync && echo 1 2>/dev/null >/proc/sys/vm/drop_caches; then
  cache_note="page cache dropped, then each file read once (cat) before measuring"
else
  cache_note="not root (or drop_caches refused): page cache NOT reset, files read once (cat)"
fi
for m in "${models[@]}"; do cat "$m" >/dev/null; done

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  isa="$(grep -o -w -E 'avx2|avx_vnni|avx512f|avx512_vnni|avx512_bf16|amx_tile' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores (${isa% })"
  echo "ragent commit: $our_commit ($build/ragent, sha256 $(sha256sum "$build/ragent" | cut -c1-16))"
  echo "llama.cpp commit: $peer_commit"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "page cache: $cache_note"
  echo "threads: $threads_list; reps: $reps (4096-token cell $reps_depth, 8-sequence cell $reps_parallel); cells: $cells"
} >"$out/meta.txt"
echo "speed: raw outputs in $out" >&2

# One measurement: NAME COMMAND...; stdout to NAME.out, stderr to NAME.err, and under
# /usr/bin/time: NAME.time = "wall user sys maxrss_kb" of the process. NAME.cpu = the whole
# machine's busy CPU ticks (/proc/stat: user nice system irq softirq) before and after, tick
# rate, cores: speed.py subtracts the process's own CPU time and reports what others used.
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
run() {
  local name="$1" before; shift
  before="$(busy)"
  if ! /usr/bin/time -f '%e %U %S %M' -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err"; then
    echo "speed: FAILED $name: $*" >&2
    tail -n 3 "$out/$name.err" | sed 's/^/    /' >&2
  fi
  echo "$before $(busy) $(getconf CLK_TCK) $(nproc)" >"$out/$name.cpu"
  echo "$*" >"$out/$name.cmd"
}

ragent_cell() {  # CELL MODEL THREADS REP PREFIX
  local cell="$1" m="$2" t="$3" p="$5" r=(bench -m "$2" -t "$3" -r 1 -b 512 --json)
  case "$cell" in
    short)
      run "$p-ragent-tg64" "$build/ragent" "${r[@]}" -p 1 -n 64
      run "$p-ragent-pp128" "$build/ragent" "${r[@]}" -p 128 -n 1
      run "$p-ragent-pp512" "$build/ragent" "${r[@]}" -p 512 -n 1 ;;
    depth) run "$p-ragent-depth" "$build/ragent" "${r[@]}" -p 4096 -n 64 ;;
    parallel) run "$p-ragent-par8" "$build/ragent" "${r[@]}" -p 512 -n 32 --parallel 8 ;;
  esac
}
llama_cell() {  # CELL MODEL THREADS REP PREFIX
  local cell="$1" m="$2" t="$3" p="$5" l=(-m "$2" -t "$3" -r 1 -b 512 -o json)
  case "$cell" in
    short) run "$p-llama-short" "$llama_bin/llama-bench" "${l[@]}" -p 128,512 -n 64 ;;
    depth) run "$p-llama-depth" "$llama_bin/llama-bench" "${l[@]}" -p 0 -n 64 -d 4096 ;;
    parallel) run "$p-llama-par8" "$llama_bin/llama-batched-bench" -m "$m" -t "$t" -npp 512 -ntg 32 -npl 8 \
                -c 4352 -b 2048 -ub 512 --output-format jsonl ;;
  esac
}

for t in $threads_list; do
  for m in "${models[@]}"; do
    base="$(basename "$m" .gguf)"
    for cell in $cells; do
      n="$reps"
      [ "$cell" = depth ] && n="$reps_depth"
      [ "$cell" = parallel ] && n="$reps_parallel"
      for ((i = 1; i <= n; i++)); do
        p="$base-t$t-r$i"
        echo "$(date -u +%H:%M:%S) $base threads $t $cell rep $i/$n (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        if ((i % 2 == 1)); then
          ragent_cell "$cell" "$m" "$t" "$i" "$p"; llama_cell "$cell" "$m" "$t" "$i" "$p"
        else
          llama_cell "$cell" "$m" "$t" "$i" "$p"; ragent_cell "$cell" "$m" "$t" "$i" "$p"
        fi
      done
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
echo "date at end: $(date -u '+%Y-%m-%d %H:%M UTC')" >>"$out/meta.txt"
/usr/bin/python3 "$here/speed.py" "$out"
