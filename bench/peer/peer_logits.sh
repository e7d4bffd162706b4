# Sourced by same_numbers.sh and greedy_same.sh (with `die` and `here` defined): builds the
# llama.cpp peer through llama_cpp.sh (LLAMA_CPP_SRC) and compiles bench/peer/llama_logits.cpp
# against it, again whenever the source or a library is newer than the binary. Sets
# peer_commit, llama_bin, llama_build, llama_src and llama_logits.
peer_out="$("$here/llama_cpp.sh")" || die "llama.cpp build failed"
peer_commit="$(sed -n 's/^llama.cpp commit: //p' <<<"$peer_out")"
llama_bin="$(sed -n 's/^llama.cpp bin: //p' <<<"$peer_out")"
llama_build="$(dirname "$llama_bin")"
llama_src="$(cd "$LLAMA_CPP_SRC" && pwd)"
llama_logits="$llama_build/ragent-peer/llama_logits"
libs=("$llama_build/src/libllama.a" "$llama_build/ggml/src/libggml.a" "$llama_build/ggml/src/libggml-cpu.a"
      "$llama_build/ggml/src/libggml-base.a")
for lib in "${libs[@]}"; do [ -f "$lib" ] || die "$lib missing: llama_cpp.sh builds it with the tools"; done
stale=0
[ -x "$llama_logits" ] || stale=1
for dep in "$here/llama_logits.cpp" "${libs[@]}"; do [ "$dep" -nt "$llama_logits" ] && stale=1; done
if [ $stale = 1 ]; then
  openmp=()
  grep -q '^GGML_OPENMP:BOOL=ON' "$llama_build/CMakeCache.txt" 2>/dev/null && openmp=(-fopenmp)
  mkdir -p "$(dirname "$llama_logits")"
  c++ -std=c++17 -O2 -march=native -Wall -Wextra -I"$llama_src/include" -I"$llama_src/ggml/include" \
    "$here/llama_logits.cpp" -o "$llama_logits" "${libs[0]}" "${libs[1]}" -ldl "${libs[2]}" "${libs[3]}" -lm \
    "${openmp[@]}" -lpthread || die "compiling $here/llama_logits.cpp against $llama_build failed"
fi
