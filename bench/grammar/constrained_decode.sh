#!/usr/bin/env bash
# Constrained against unconstrained decoding on one model, same run, alternating:
#   bench/grammar/constrained_decode.sh MODEL [REPS] [THREADS] [TOKENS]
# Each repetition runs `ragent generate --raw` greedily for TOKENS (128) tokens twice: once free
# (--ignore-eos) and once under bench/grammar/long_array.json, a schema whose answers cannot
# end within TOKENS tokens and whose grammar fixes almost nothing (so jump-forward does not flatter
# the constrained run). Prints decode tokens/s (generation tokens after the first / generation
# time) of each run, the medians and their ratio, with the machine's model name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
model=${1:?usage: constrained_decode.sh MODEL [REPS] [THREADS]}
reps=${2:-5}
threads=${3:-2}
tokens=${4:-128}
ragent="$repo/build/ragent"
schema="$here/long_array.json"
prompt="Write a list of city names as a JSON array:"

rate() {  # the decode rate from generate's speed report on stderr
  sed -n 's/.*generation [0-9]* tokens.* in [0-9.]* ms (\([0-9.]*\) tokens\/s).*/\1/p'
}
run_free() { "$ragent" generate -m "$model" --raw -p "$prompt" -n "$tokens" --temp 0 -t "$threads" --ignore-eos 2>&1 >/dev/null | rate; }
run_constrained() { "$ragent" generate -m "$model" --raw -p "$prompt" -n "$tokens" --temp 0 -t "$threads" --json-schema "$schema" 2>&1 >/dev/null | rate; }

echo "constrained decode: $(basename "$model"), $threads threads, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u '+%Y-%m-%d %H:%M UTC')"
run_free >/dev/null  # page the model in
free=() constrained=()
for ((i = 1; i <= reps; i++)); do
  free+=("$(run_free)")
  constrained+=("$(run_constrained)")
  printf 'rep %d: free %s tokens/s, constrained %s tokens/s\n' "$i" "${free[-1]}" "${constrained[-1]}"
done
python3 - "${free[*]}" "${constrained[*]}" <<'PY'
import statistics, sys
free = [float(x) for x in sys.argv[1].split()]
con = [float(x) for x in sys.argv[2].split()]
mf, mc = statistics.median(free), statistics.median(con)
print(f"| run | median tokens/s | min | max |\n| --- | --- | --- | --- |")
print(f"| unconstrained | {mf:.2f} | {min(free):.2f} | {max(free):.2f} |")
print(f"| constrained (JSON Schema) | {mc:.2f} | {min(con):.2f} | {max(con):.2f} |")
print(f"constrained / unconstrained = {mc / mf:.3f}")
PY
