#!/usr/bin/env bash
# Build llama.cpp as a yardstick, outside the project: CPU backend, Release, native ISA,
# no web UI, no server, no curl/OpenSSL, no tests or examples. Only the tools the peer
# benches use are built. Nothing of llama.cpp is linked into or copied into ragent.
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp bench/peer/llama_cpp.sh
#
# Environment:
#   LLAMA_CPP_SRC    llama.cpp source tree (required): a git checkout, or an exported tree
#                    with a COMMIT file holding the commit id (see bench/peer/README.md)
#   LLAMA_CPP_BUILD  build folder (default /tmp/ragent-peer/llama.cpp-build); must be
#                    outside this repository
#   JOBS             parallel compile jobs (default 2)
#
# Prints "llama.cpp commit: <id>" and "llama.cpp bin: <folder>" on success. Idempotent: when
# the build folder holds all tools built from the same commit and options, and no source
# file is newer than that build, it builds nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

: "${LLAMA_CPP_SRC:?set LLAMA_CPP_SRC to a llama.cpp source tree (see bench/peer/README.md)}"
[ -d "$LLAMA_CPP_SRC" ] || { echo "llama_cpp.sh: LLAMA_CPP_SRC=$LLAMA_CPP_SRC is not a folder" >&2; exit 2; }
src="$(cd "$LLAMA_CPP_SRC" && pwd)"
build="${LLAMA_CPP_BUILD:-/tmp/ragent-peer/llama.cpp-build}"
jobs="${JOBS:-2}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"

case "$build/" in "$repo"/*) echo "llama_cpp.sh: build folder $build is inside the project; pick one outside" >&2; exit 2 ;; esac
case "$src/" in "$repo"/*) echo "llama_cpp.sh: source tree $src is inside the project; keep llama.cpp outside" >&2; exit 2 ;; esac
if [ ! -f "$src/CMakeLists.txt" ] || [ ! -d "$src/ggml" ]; then
  echo "llama_cpp.sh: $src does not look like a llama.cpp source tree" >&2; exit 2
fi

# The commit: a git checkout answers itself; an exported tree carries a COMMIT file.
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1 && [ "$(git -C "$src" rev-parse --show-toplevel)" = "$src" ]; then
  commit="$(git -C "$src" rev-parse HEAD)"
  if [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
elif [ -f "$src/COMMIT" ]; then
  commit="$(tr -d ' \n\r\t' < "$src/COMMIT")"
else
  commit="unknown"
fi

targets=(llama-cli llama-completion llama-bench llama-quantize llama-batched-bench llama-perplexity llama-tokenize)
cmake_args=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=ON          # -march=native: the ISA of this machine
  -DGGML_CPU=ON
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENCL=OFF -DGGML_SYCL=OFF -DGGML_HIP=OFF
  -DGGML_BACKEND_DL=OFF -DGGML_RPC=OFF
  -DBUILD_SHARED_LIBS=OFF   # self-contained binaries in bin/
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=OFF  # no server, no web UI, no llama-cli (it lives beside the server)
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_LLGUIDANCE=OFF
)
# llama-cli is part of the server build in recent trees; we build llama-completion instead
# (the same one-shot generation) and keep llama-cli only if the tree defines it without the server.
stamp="$build/ragent-peer.stamp"
want="commit=$commit
args=${cmake_args[*]}"

have_all() {
  local t
  for t in llama-completion llama-bench llama-quantize llama-batched-bench llama-perplexity llama-tokenize; do
    [ -x "$build/bin/$t" ] || return 1
  done
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && have_all &&
   [ -z "$(find "$src" -newer "$stamp" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' -o -name 'CMakeLists.txt' -o -name '*.cmake' \) -print -quit)" ]; then
  echo "llama_cpp.sh: up to date in $build, nothing to build" >&2
else
  command -v ninja >/dev/null || { echo "llama_cpp.sh: ninja not found" >&2; exit 2; }
  rm -f "$stamp"
  cmake -S "$src" -B "$build" "${cmake_args[@]}" >"$build/configure.log" 2>&1 ||
    { tail -30 "$build/configure.log" >&2; echo "llama_cpp.sh: configure failed (log: $build/configure.log)" >&2; exit 1; }
  # Build only the tools that exist in this tree (llama-cli needs the server build).
  avail=()
  all_targets="$(cmake --build "$build" --target help 2>/dev/null || true)"
  for t in "${targets[@]}"; do
    if grep -q "^$t:" <<<"$all_targets"; then avail+=("$t"); fi
  done
  echo "llama_cpp.sh: building ${avail[*]} from $src (commit $commit) in $build with $jobs jobs" >&2
  nice cmake --build "$build" -j "$jobs" --target "${avail[@]}"
  have_all || { echo "llama_cpp.sh: build finished but some tools are missing from $build/bin" >&2; exit 1; }
  printf '%s' "$want" > "$stamp"
fi

echo "llama.cpp commit: $commit"
echo "llama.cpp bin: $build/bin"
