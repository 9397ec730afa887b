#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. installs what is missing (build/setup.sh: cross toolchain, qemu, llama.cpp references)
#   2. builds everything with warnings as errors
#   3. runs every test once; then the classes that exercise per-ISA code (trait Isa=kernels) again with
#      AVX-512, AVX2 and all hardware intrinsics switched off. On an AVX-512 host the AVX-512-off run
#      also takes the classes that compare with llama.cpp (Isa=order): the engine then follows the AVX2
#      build's order and is compared with llama.cpp built at the AVX2 level
#   4. runs the Isa=kernels classes on linux-arm64 under qemu as a Cortex-A72 (Raspberry Pi 4) and a
#      Cortex-A76 (Raspberry Pi 5)
#   5. publishes the NativeAOT binaries and checks them: linux-x64 natively, linux-arm64 under qemu
# and ends with the time of each stage and one line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p artifacts/logs

stages=()
stage_start=$SECONDS
stage() { # name: closes the running stage and starts the next
  stages+=("$(printf '%-28s %4d s' "$current_stage" $((SECONDS - stage_start)))")
  current_stage=$1 stage_start=$SECONDS
}
current_stage=setup

bash build/setup.sh || exit 1
stage build
export FIRST_REQUIRE_REFERENCE=1   # in the suite, a missing llama.cpp reference is a failure, not a skip
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "== build (Release, warnings as errors)"
if ! dotnet build First.sln -c Release --nologo -v quiet -warnaserror > artifacts/logs/build.log 2>&1; then
  grep -E "error|warn" artifacts/logs/build.log | sort -u | head -50
  echo "tests: 0 passed, 1 failed, 0 skipped"
  exit 1
fi

passed=0 failed=0 skipped=0
count() { # adds the totals of a dotnet test log
  local p f s
  p=$(awk '/^[[:space:]]*succeeded:/ {n+=$2} END {print n+0}' "$1")
  f=$(awk '/^[[:space:]]*failed:/ {n+=$2} END {print n+0}' "$1")
  s=$(awk '/^[[:space:]]*skipped:/ {n+=$2} END {print n+0}' "$1")
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  echo "   $p passed, $f failed, $s skipped"
}

run_suite() { # name, test arguments ("--solution First.sln" or "--project DIR" and filters), then VAR=value pairs
  local name=$1 selection=$2; shift 2
  local log=artifacts/logs/test-$name.log
  stage "tests $name"
  echo "== tests ($name${*:+: $*})"
  # shellcheck disable=SC2086 # the selection is a list of words
  env "$@" dotnet test $selection -c Release --no-build > "$log" 2>&1
  local rc=$?
  grep -E "^(failed|skipped) " "$log" | head -40
  grep -A12 -E "^failed " "$log" | grep -vE "^(skipped|passed) " | head -60   # why they failed
  count "$log"
  if [[ $rc -ne 0 ]] && ! grep -qE "^[[:space:]]*failed: [1-9]" "$log"; then
    tail -20 "$log"; failed=$((failed + 1))   # the run broke without reporting a failed test
  fi
}

kernels="--project tests/First.Cpu.Tests --filter-trait Isa=kernels"
run_suite default "--solution First.sln"
if grep -qw avx512f /proc/cpuinfo; then
  # .NET 10 ignores DOTNET_EnableAVX512F; DOTNET_EnableAVX512 is the switch that takes AVX-512 away.
  run_suite no-avx512 "$kernels --filter-trait Isa=order" DOTNET_EnableAVX512F=0 DOTNET_EnableAVX512=0
fi
run_suite no-avx2 "$kernels" DOTNET_EnableAVX2=0
run_suite scalar "$kernels" DOTNET_EnableHWIntrinsic=0

# The kernel tests on arm64, under qemu: a Cortex-A72 (NEON, a Raspberry Pi 4) and a Cortex-A76 (NEON
# with sdot, a Raspberry Pi 5). The x86 and reference-library tests report themselves skipped there.
stage "tests arm64 (qemu)"
echo "== kernel tests on linux-arm64 (qemu)"
armtests=$root/artifacts/arm64-tests/First.Cpu.Tests
if dotnet publish tests/First.Cpu.Tests -c Release -r linux-arm64 --self-contained -p:InvariantGlobalization=true \
    -o "$armtests" --nologo -v quiet > artifacts/logs/publish-arm64-tests.log 2>&1; then
  cp "${XDG_CACHE_HOME:-$HOME/.cache}"/first-arm64-libssl/lib*.so.3 "$armtests/"
  # W^X off: .NET writes JIT code through a second, writable mapping of the executable pages, and
  # qemu-user does not see writes through that alias, so it may run a stale translation of recompiled
  # code: "Illegal instruction" a theory after the four-token K-quant tests, reproducibly, and passes
  # with DOTNET_EnableWriteXorExecute=0 (the runtime then writes code in place). This is most likely also
  # why all classes in one process were seen to crash qemu-user (SIGSEGV) or to corrupt xunit's theory
  # data; one qemu process per test class stays as a second guard.
  # The classes that exercise per-ISA code (trait Isa=kernels), as the x64 build of the same tests lists them.
  classes=$(tests/First.Cpu.Tests/bin/Release/net10.0/First.Cpu.Tests -list classes -trait Isa=kernels | grep -E "^First\." | sed 's/^First\.Cpu\.Tests\.//' | sort)
  [[ -n $classes ]] || { echo "   no class has the trait Isa=kernels"; failed=$((failed + 1)); }
  qemu_classes() { # cpu: runs every class under qemu as that CPU, and writes "passed failed skipped" to its summary file
    local cpu=$1 cpu_total=0 cpu_failed=0 cpu_skipped=0 class log rc summary t total errors fails skips
    for class in $classes; do
      log=artifacts/logs/test-arm64-$cpu-$class.log
      QEMU_CPU=$cpu qemu-aarch64-static -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH="$armtests" \
        -E DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 -E DOTNET_EnableWriteXorExecute=0 \
        "$armtests/First.Cpu.Tests" -noColor -class "First.Cpu.Tests.$class" > "$log" 2>&1
      rc=$?
      summary=$(grep -E "Total: [0-9]+" "$log" | tail -1)
      t=$(sed -nE 's/.*Total: ([0-9]+), Errors: ([0-9]+), Failed: ([0-9]+), Skipped: ([0-9]+).*/\1 \2 \3 \4/p' <<< "$summary")
      read -r total errors fails skips <<< "${t:-0 1 0 0}"
      [[ $rc -ne 0 && $errors -eq 0 && $fails -eq 0 ]] && { echo "   $class on $cpu exited $rc" >> "$log"; errors=1; }
      cpu_total=$((cpu_total + total)) cpu_failed=$((cpu_failed + errors + fails)) cpu_skipped=$((cpu_skipped + skips))
    done
    echo "$((cpu_total - cpu_failed - cpu_skipped)) $cpu_failed $cpu_skipped" > "artifacts/logs/arm64-$cpu.summary"
  }

  # A class runs in one thread under qemu, so the two CPUs run side by side, one core each.
  rm -f artifacts/logs/arm64-*.summary artifacts/logs/test-arm64-*.log
  qemu_classes cortex-a72 & qemu_classes cortex-a76 & wait
  for cpu in cortex-a72 cortex-a76; do
    grep -hE "\[FAIL\]| exited [0-9]+$" artifacts/logs/test-arm64-$cpu-*.log | head -20
    read -r p f k < "artifacts/logs/arm64-$cpu.summary" || { p=0 f=1 k=0; }
    echo "   $cpu: $p passed, $f failed, $k skipped"
    grep -ohE "it offers [a-z ]+" artifacts/logs/test-arm64-$cpu-*.log | sort -u | sed 's/^/   paths: /' | head -1
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
  done
else
  tail -20 artifacts/logs/publish-arm64-tests.log; failed=$((failed + 1))
fi

check() { # description, command...: one pass or fail
  local what=$1; shift
  if "$@" > artifacts/logs/check.log 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "failed $what"; tail -5 artifacts/logs/check.log
  fi
}

stage "NativeAOT binaries"
echo "== NativeAOT binaries"
if bash build/publish.sh > artifacts/logs/publish.log 2>&1; then
  cat artifacts/logs/publish.log
  x64=$root/artifacts/bin/linux-x64/first
  arm=$root/artifacts/bin/linux-arm64/first
  for f in ../shared/models/*.gguf ../shared/vocab/*.gguf; do
    check "linux-x64 inspect $f" "$x64" inspect "$f"
    "$x64" inspect "$f" > "artifacts/logs/inspect-x64-$(basename "$f").txt"
    for cpu in cortex-a72 cortex-a76; do
      check "linux-arm64 ($cpu) inspect $f is the same as linux-x64's" \
        bash -c "QEMU_CPU=$cpu qemu-aarch64-static -L /usr/aarch64-linux-gnu '$arm' inspect '$f' | cmp - 'artifacts/logs/inspect-x64-$(basename "$f").txt'"
    done
  done
  head -c 5000 ../shared/models/stories260K.gguf > artifacts/logs/truncated.gguf
  check "linux-x64 inspect of a truncated file fails with one line" \
    bash -c "! '$x64' inspect artifacts/logs/truncated.gguf 2> artifacts/logs/err.txt && [[ \$(wc -l < artifacts/logs/err.txt) == 1 ]]"
  grep -h "^format\|^architecture\|^layers" artifacts/logs/inspect-x64-stories260K.gguf.txt
  # Generation in the AOT binaries: llama.cpp's golden text (shared/models/README.md), x64 and arm64.
  golden="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it,"
  for m in stories260K stories260K-Q8_0; do
    check "linux-x64 run $m gives the golden text" bash -c "[[ \"\$('$x64' run -m ../shared/models/$m.gguf -p 'Once upon a time' -n 48 --temp 0 -t 2 2>/dev/null | head -1)\" == '$golden' ]]"
    for cpu in cortex-a72 cortex-a76; do
      check "linux-arm64 ($cpu) run $m gives the golden text" bash -c "[[ \"\$(QEMU_CPU=$cpu qemu-aarch64-static -L /usr/aarch64-linux-gnu '$arm' run -m ../shared/models/$m.gguf -p 'Once upon a time' -n 48 --temp 0 -t 2 2>/dev/null | head -1)\" == '$golden' ]]"
    done
  done
  # Q4_0: its own golden texts, including the one that used to leave llama.cpp's at token 55 on a near tie.
  for pair in "Once upon a time|Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. One day, she went to the park with her mommy and daddy. They" \
              "The little dog was sad because|The little dog was sad because he loved to play with his toys. One day, he saw a big, red ball in the park. The ball was very small and had a big, red ball. The"; do
    prompt=${pair%%|*} text=${pair#*|}
    check "linux-x64 run stories260K-Q4_0 '$prompt' gives the golden text" bash -c "[[ \"\$('$x64' run -m ../shared/models/stories260K-Q4_0.gguf -p '$prompt' -n 48 --temp 0 -t 2 2>/dev/null | head -1)\" == '$text' ]]"
    for cpu in cortex-a72 cortex-a76; do
      check "linux-arm64 ($cpu) run stories260K-Q4_0 '$prompt' gives the golden text" bash -c "[[ \"\$(QEMU_CPU=$cpu qemu-aarch64-static -L /usr/aarch64-linux-gnu '$arm' run -m ../shared/models/stories260K-Q4_0.gguf -p '$prompt' -n 48 --temp 0 -t 2 2>/dev/null | head -1)\" == '$text' ]]"
    done
  done
  check "linux-x64 run with a prompt longer than the context fails with one line" \
    bash -c "! '$x64' run -m ../shared/models/stories260K.gguf -c 8 -p 'Once upon a time there was a little girl' 2> artifacts/logs/err.txt >/dev/null && [[ \$(wc -l < artifacts/logs/err.txt) == 1 ]]"
  for cpu in cortex-a72 cortex-a76; do
    echo "   first kernels on linux-arm64 ($cpu):"
    QEMU_CPU=$cpu qemu-aarch64-static -L /usr/aarch64-linux-gnu "$arm" kernels | grep -E "^(cpu paths|q4_0|q8_0)" | sed 's/^/     /'
  done
  echo "   first kernels on linux-x64 (x86-64-v3 build):"
  "$x64" kernels | grep -E "^(cpu paths|q4_0|q8_0)" | sed 's/^/     /'
else
  cat artifacts/logs/publish.log; failed=$((failed + 1))
fi

stage end
echo "== time per stage"
printf '   %s\n' "${stages[@]}"
echo "   total                        $SECONDS s"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
