#!/usr/bin/env bash
# FiRST on text of two kinds (README, "Two kinds of text"): stories sampled from stories260K itself, half of them
# kept as written and half in capitals. Builds the held-out split and the training split (70/30, disjoint stories),
# trains budget routers and LoRA adapters (for the routers and, as the static comparison, for balanced middle's
# fixed set), and evaluates each at k = 1 and 2. About 10 minutes on 2 cores, most of it sampling.
# Usage: perf/first/mixed-register.sh [OUTDIR]   (after dotnet build -c Release; needs python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
first=$root/src/First.Cli/bin/Release/net10.0/first
model=$root/../shared/models/stories260K.gguf
out=${1:-$root/artifacts/mixed-register}
mkdir -p "$out"
cd "$out"

# 1400 stories of up to 100 tokens, temperature 1, one seed each, eight openings in turn.
if [[ ! -s stories.txt ]]; then
  openings=("Once upon a time" "One day" "Lily" "Tom was" "There was a" "The sun" "Once there was" "A little")
  sample() {
    for i in $(seq "$1" "$2"); do
      "$first" run -m "$model" -p "${openings[$((i % 8))]}" -n 100 --temp 1 --seed "$i" -t 1 2>/dev/null | tr '\n' ' '
      echo
    done
  }
  sample 1 700 > part1.txt & sample 701 1400 > part2.txt & wait
  cat part1.txt part2.txt > stories.txt && rm part1.txt part2.txt
fi

# Stories of more than 45 words, shuffled (seed 3) and split 70/30; every other story in capitals; the prompt is
# the first 25 words, the completion the next 20.
python3 - <<'EOF'
import json, random
stories = [l.strip() for l in open("stories.txt") if len(l.split()) > 45]
random.seed(3)
random.shuffle(stories)
cut = int(len(stories) * 0.7)
for name, part in (("train", stories[:cut]), ("heldout", stories[cut:])):
    with open(f"mixed-{name}.jsonl", "w") as f:
        for i, s in enumerate(part):
            words = s.split()[:45]
            if i % 2 == 1:
                words = [w.upper() for w in words]
            f.write(json.dumps({"prompt": " ".join(words[:25]), "completion": " " + " ".join(words[25:45])}) + "\n")
EOF

common=(-m "$model" --jsonl mixed-train.jsonl --steps 300 -t 2 --prompt-length 64 --continuation-length 32)
evaluate=(-m "$model" --jsonl mixed-heldout.jsonl --prompt-length 64 --continuation-length 32 -t 2)
"$first" train-routers "${common[@]}" --skip-budget 1 -o b1.routers.gguf
"$first" eval "${evaluate[@]}" --routers b1.routers.gguf --skip-counts 1,2 -o b1
for k in 1 2; do
  fixed=$([[ $k == 1 ]] && echo 2 || echo 1,3)   # balanced middle's set at k on the routed layers 1..3
  "$first" train-routers "${common[@]}" --skip-budget $k --routers b1.routers.gguf --lora-rank 8 -o b1-lora$k.routers.gguf
  "$first" train-routers "${common[@]}" --skip-budget $k --skip-layers $fixed --lora-rank 8 -o fixed-lora$k.routers.gguf
  "$first" eval "${evaluate[@]}" --routers b1-lora$k.routers.gguf --skip-counts $k -o b1-lora$k
  "$first" eval "${evaluate[@]}" --routers fixed-lora$k.routers.gguf --skip-counts $k -o fixed-lora$k
done
echo "results in $out: b1.md, b1-lora{1,2}.md, fixed-lora{1,2}.md"
