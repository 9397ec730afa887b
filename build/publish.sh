#!/usr/bin/env bash
# Publishes the first binary with NativeAOT: one self-contained executable per runtime.
#   build/publish.sh                 -> artifacts/bin/linux-x64/first and artifacts/bin/linux-arm64/first
#   build/publish.sh linux-x64       -> only that one
# linux-x64 is built for x86-64-v3 (AVX2/FMA; see First.Cli.csproj); IlcInstructionSet=x86-64-v4
# gives an AVX-512 build. linux-arm64 is cross-compiled with clang/lld against Debian's arm64 libc
# (build/setup.sh installs it); run it with qemu-aarch64-static -L /usr/aarch64-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
rids=("$@")
((${#rids[@]})) || rids=(linux-x64 linux-arm64)

for rid in "${rids[@]}"; do
  extra=()
  if [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]]; then
    # A sysroot whose usual paths point into Debian's cross libc.
    sysroot=$PWD/artifacts/sysroot-arm64
    if [[ ! -e $sysroot/usr/include ]]; then
      mkdir -p "$sysroot/usr"
      ln -sfn /usr/aarch64-linux-gnu "$sysroot/usr/aarch64-linux-gnu"
      ln -sfn /usr/aarch64-linux-gnu/lib "$sysroot/lib"
      ln -sfn /usr/aarch64-linux-gnu/lib "$sysroot/usr/lib"
      ln -sfn /usr/aarch64-linux-gnu/include "$sysroot/usr/include"
    fi
    extra=(-p:SysRoot="$sysroot" -p:LinkerFlavor=lld)
  fi
  dotnet publish src/First.Cli -c Release -r "$rid" -o "artifacts/publish/$rid" --nologo -v quiet "${extra[@]}"
  mkdir -p "artifacts/bin/$rid"
  cp "artifacts/publish/$rid/first" "artifacts/bin/$rid/first"
  echo "publish: artifacts/bin/$rid/first ($(stat -c %s "artifacts/bin/$rid/first") bytes)"
done
