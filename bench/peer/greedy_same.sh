#!/usr/bin/env bash
# Same greedy continuations (issue 12, point 4): each prompt continued for N tokens by greedy
# decoding on llama.cpp and on ragent, from the same file, and the token ids compared.
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp bench/peer/greedy_same.sh MODEL.gguf [PROMPTS]
#
# PROMPTS: one prompt per line (default bench/peer/greedy_prompts.txt, 10 prompts). Each is
# tokenized by `ragent tokenize -m MODEL` (BOS as the model asks; the script checks that
# llama-tokenize gives the same ids), then continued by build/dump_logits --greedy N (one
# forward pass per token on our CPU backend) and by bench/peer/llama_logits.cpp with GREEDY = N
# (one llama_decode per token), both taking the argmax with the lowest id among equal maxima.
# The issue asks this of the trained default model (issue 5, models/ragent-tiny); any GGUF
# both runtimes read works, and a random-weight file shows the plumbing.
#
# Environment:
#   LLAMA_CPP_SRC    llama.cpp source tree (required; built by llama_cpp.sh if needed)
#   LLAMA_CPP_BUILD  its build folder (default /tmp/ragent-peer/llama.cpp-build)
#   RAGENT_BUILD     our configured build folder (default ./build)
#   N                tokens per continuation (default 128)
#   THREADS          threads on both sides (default 2)
#   KV               KV cache type on both sides, f16 (default) or f32
#   FLASH            llama.cpp's flash attention: auto (default), on or off
#   WORK             scratch folder (default /tmp/ragent-peer/greedy)
#
# Output: one line per prompt, "identical" or the first position where the ids differ with
# both ids there; exit status 0 when every continuation is identical, 1 otherwise, 2 on a
# setup error.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${RAGENT_BUILD:-$repo/build}"
work="${WORK:-/tmp/ragent-peer/greedy}"
n="${N:-128}"
threads="${THREADS:-2}"
kv="${KV:-f16}"
flash="${FLASH:-auto}"

die() { echo "greedy_same: $*" >&2; exit 2; }
[ $# -ge 1 ] || die "usage: bench/peer/greedy_same.sh MODEL.gguf [PROMPTS]"
model="$1"
prompts="${2:-$here/greedy_prompts.txt}"
[ -f "$model" ] || die "model $model missing"
[ -f "$prompts" ] || die "prompts $prompts missing"
case "$kv" in f16|f32) ;; *) die "KV=$kv: expected f16 or f32" ;; esac
case "$flash" in auto|on|off) ;; *) die "FLASH=$flash: expected auto, on or off" ;; esac
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N=$n: expected a positive number"
mkdir -p "$work" || die "cannot create $work"
[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] ||
  die "$build is not a configured build folder: cmake -S $repo -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release"
cmake --build "$build" --target ragent dump_logits >"$work/build-ragent.log" 2>&1 ||
  { tail -20 "$work/build-ragent.log" >&2; die "building ragent dump_logits in $build failed"; }

. "$here/peer_logits.sh"

our_commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "model: $model"
echo "ragent $our_commit; llama.cpp $peer_commit; $n greedy tokens per prompt; $threads threads; $kv KV; flash attention $flash"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')"

identical=0
total=0
while IFS= read -r prompt || [ -n "$prompt" ]; do
  [ -n "$prompt" ] || continue
  total=$((total + 1))
  tokens="$work/prompt-$total.ids"
  "$build/ragent" tokenize -m "$model" "$prompt" >"$tokens" 2>"$work/tokenize-$total.err" ||
    { echo "prompt $total: ragent tokenize failed: $(tail -1 "$work/tokenize-$total.err")"; continue; }
  theirs_ids="$("$llama_bin/llama-tokenize" -m "$model" -p "$prompt" --ids --log-disable 2>/dev/null | tail -1)"
  if [ "$(tr -cs '0-9' ' ' <"$tokens" | xargs)" != "$(tr -cs '0-9' ' ' <<<"$theirs_ids" | xargs)" ]; then
    echo "prompt $total: the tokenizations differ (ours $(cat "$tokens"), llama-tokenize $theirs_ids)"
    continue
  fi
  ours="$work/ours-$total.txt"
  theirs="$work/theirs-$total.txt"
  "$build/dump_logits" "$model" "$tokens" "$ours" -t "$threads" --kv "$kv" --greedy "$n" 2>"$work/ours-$total.log" ||
    { echo "prompt $total: dump_logits failed: $(tail -1 "$work/ours-$total.log")"; continue; }
  "$llama_logits" "$model" "$tokens" "$theirs" "$threads" "$kv" "$flash" "$n" 2>"$work/theirs-$total.log" ||
    { echo "prompt $total: llama_logits failed: $(tail -1 "$work/theirs-$total.log")"; continue; }
  read -r -a a <"$ours"
  read -r -a b <"$theirs"
  first=-1
  for ((i = 0; i < n; i++)); do
    if [ "${a[i]:-}" != "${b[i]:-}" ]; then first=$i; break; fi
  done
  if [ $first -lt 0 ]; then
    identical=$((identical + 1))
    echo "prompt $total: identical ($n tokens)"
  else
    echo "prompt $total: differ from token $first (ours ${a[first]:-none}, llama.cpp ${b[first]:-none})"
  fi
done <"$prompts"
echo "identical continuations: $identical of $total"
[ "$identical" -eq "$total" ] && [ "$total" -gt 0 ]
