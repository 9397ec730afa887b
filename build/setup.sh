#!/usr/bin/env bash
# Installs what building, testing and publishing First need on a fresh Debian machine, and does
# nothing that is already done: Debian packages for the linux-arm64 cross build and qemu, and
# llama.cpp (the reference engine) from the npm registry via ../shared/tools/llama-cpp-reference.sh.
# Usage: build/setup.sh   (root, or sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=$(cd ../shared && pwd)

packages=(clang lld libc6-dev-arm64-cross libgcc-12-dev-arm64-cross libstdc++6-arm64-cross qemu-user-static)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The arm64 test executables run under qemu and need an arm64 libssl beside them (xunit hashes test ids).
ssl=${XDG_CACHE_HOME:-$HOME/.cache}/first-arm64-libssl
if [[ ! -e $ssl/libssl.so.3 ]]; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  dpkg --print-foreign-architectures | grep -qx arm64 || { $sudo dpkg --add-architecture arm64; $sudo apt-get update -qq; }
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq libssl3:arm64 2>/dev/null || { $sudo apt-get update -qq && apt-get download -qq libssl3:arm64; })
  dpkg -x "$work"/libssl3_*_arm64.deb "$work/x"
  mkdir -p "$ssl"
  cp "$work"/x/usr/lib/aarch64-linux-gnu/libssl.so.3 "$work"/x/usr/lib/aarch64-linux-gnu/libcrypto.so.3 "$ssl/"
  rm -rf "$work"
fi

# The reference: prebuilt libraries always, command-line tools (built from source, ~3 minutes) once.
log=$(mktemp)
if ! ref=$(bash "$shared/tools/llama-cpp-reference.sh" --tools 2>"$log"); then
  cat "$log" >&2
  echo "setup: installing the llama.cpp reference failed" >&2
  exit 1
fi
rm -f "$log"
echo "setup: llama.cpp reference in $ref"

reference() { # flavour, what it is: build/reference.sh FLAVOUR, its folder printed or its errors and exit 1
  local log dir
  log=$(mktemp)
  if ! dir=$(bash build/reference.sh "$1" 2>"$log"); then
    cat "$log" >&2
    echo "setup: making llama.cpp's $2 failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "setup: llama.cpp's $2 in $dir"
}

# The tokenizer test vocabularies of the same llama.cpp source (more families than ../shared/vocab).
reference vocab "tokenizer test vocabularies"

# On an AVX-512 CPU the native reference sums in the AVX-512 build's order; the engine's AVX2 order (what llama.cpp
# computes on an AVX2-only CPU) is checked against llama.cpp built at the AVX2 level (~2 minutes, once).
if grep -qw avx512f /proc/cpuinfo; then
  reference avx2 "AVX2-level libraries"
fi
