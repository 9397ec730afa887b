#!/usr/bin/env bash
# Builds llama.cpp's libraries (libggml-base, libggml-cpu, libggml, libllama) from the pinned source that
# ../shared/tools/llama-cpp-reference.sh builds its tools from (the llama.cpp release bundled in the
# node-llama-cpp npm package), for one instruction-set level other than the host's native one, and prints
# the folder that holds them. The suite compares each arithmetic order the engine follows with the ggml build
# that sums in that order:
#   avx2       x86-64 with AVX2, FMA and F16C, no AVX-512 (GGML_NATIVE=OFF: ggml's "haswell" level); what
#              llama.cpp sums like on an AVX2-only CPU, checked on an AVX-512 host with DOTNET_EnableAVX512=0
# Usage: build/reference.sh avx2   (idempotent; the result is cached beside the native reference)
set -euo pipefail
version=3.22.1
flavour=${1:?usage: build/reference.sh avx2}
cache=${XDG_CACHE_HOME:-$HOME/.cache}
dir=$cache/first-llama-cpp-$version-$flavour

case $flavour in
  avx2) flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
               -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF) ;;
  *) echo "reference.sh: unknown flavour '$flavour' (avx2)" >&2; exit 2 ;;
esac

if [[ ! -e $dir/bin/libllama.so ]]; then
  command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake g++ >/dev/null; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-llama-cpp@$version" >/dev/null)
  tar -xzf "$work"/node-llama-cpp-$version.tgz -C "$work"
  git init -q --bare "$work/git"
  git -C "$work/git" fetch -q "$work/package/llama/gitRelease.bundle" HEAD:refs/heads/release
  mkdir -p "$work/src"
  git -C "$work/git" archive release | tar -x -C "$work/src"
  cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release "${flags[@]}" \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF >/dev/null
  make -s -C "$work/build" -j"$(nproc)" llama >/dev/null
  mkdir -p "$dir.tmp/bin"
  cp -a "$work"/build/bin/lib*.so* "$dir.tmp/bin/"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi

echo "$dir"
