#!/usr/bin/env bash
# Builds or extracts, from the pinned llama.cpp source that ../shared/tools/llama-cpp-reference.sh builds its tools
# from (the llama.cpp release bundled in the node-llama-cpp npm package), what the suite compares with beyond the
# host's native build, and prints the folder that holds it:
#   avx2   llama.cpp's libraries (libggml-base, libggml-cpu, libggml, libllama) in bin/, built for x86-64 with AVX2,
#          FMA and F16C and no AVX-512 (GGML_NATIVE=OFF: ggml's "haswell" level): what llama.cpp sums like on an
#          AVX2-only CPU, checked on an AVX-512 host with DOTNET_EnableAVX512=0
#   vocab  the tokenizer test vocabularies of the source's models/ folder (ggml-vocab-*.gguf with .inp and .out)
# Usage: build/reference.sh avx2|vocab   (idempotent; the result is cached beside the native reference)
set -euo pipefail
version=3.22.1
flavour=${1:?usage: build/reference.sh avx2|vocab}
cache=${XDG_CACHE_HOME:-$HOME/.cache}
dir=$cache/first-llama-cpp-$version-$flavour

case $flavour in
  avx2) done_file=$dir/bin/libllama.so ;;
  vocab) done_file=$dir/ggml-vocab-gpt-2.gguf.out ;;
  *) echo "reference.sh: unknown flavour '$flavour' (avx2, vocab)" >&2; exit 2 ;;
esac

if [[ ! -e $done_file ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-llama-cpp@$version" >/dev/null)
  tar -xzf "$work"/node-llama-cpp-$version.tgz -C "$work"
  git init -q --bare "$work/git"
  git -C "$work/git" fetch -q "$work/package/llama/gitRelease.bundle" HEAD:refs/heads/release
  mkdir -p "$work/src"
  git -C "$work/git" archive release | tar -x -C "$work/src"
  rm -rf "$dir.tmp"
  if [[ $flavour == vocab ]]; then
    mkdir -p "$dir.tmp"
    cp "$work"/src/models/ggml-vocab-*.gguf* "$dir.tmp/"
  else
    command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake g++ >/dev/null; }
    cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
      -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF \
      -DBUILD_SHARED_LIBS=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
      -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF >/dev/null
    make -s -C "$work/build" -j"$(nproc)" llama >/dev/null
    mkdir -p "$dir.tmp/bin"
    cp -a "$work"/build/bin/lib*.so* "$dir.tmp/bin/"
  fi
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi

echo "$dir"
