#!/usr/bin/env bash
# Kills `orthotune train` (checkpointing every step) and `orthotune merge`
# with SIGKILL at random moments until KILLS of the kills have landed
# before the process finished, resumes or reruns each, and checks that
# every final adapter and merged model is byte-identical to an
# uninterrupted run's and that no unfinished (*.tmp-*) directory is left.
#
#   scripts/kill_resume.sh ORTHOTUNE_BINARY MODEL_DIR DATA.jsonl [KILLS]
#
# MODEL_DIR needs a tokenizer (the demo's cached base model will do:
# ~/.cache/orthotune/demo-base-v2 after `orthotune demo`).
set -u
bin=$1 model=$2 data=$3 kills=${4:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(--model "$model" --data "$data" --max-steps 40 --per-device-train-batch-size 4 --seed 3 --learning-rate 3e-3
  --max-seq-length 64 --target-modules all-linear --module-dropout 0.1 --save-steps 1 --save-total-limit 3 --validation-split 0)
"$bin" train "${args[@]}" --output-dir "$work/ref" >/dev/null 2>&1 || { echo "reference run failed"; exit 1; }
"$bin" merge --model "$model" --adapter "$work/ref" --out "$work/ref-merged" >/dev/null 2>&1 || { echo "reference merge failed"; exit 1; }
fail=0 hit=0 ckpt=0
i=0
while (( hit < kills )); do
  i=$((i + 1))
  if (( i % 3 == 0 )); then # a merge
    out="$work/merged-$i"
    "$bin" merge --model "$model" --adapter "$work/ref" --out "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "0.0$(( RANDOM % 6 ))$(( RANDOM % 10 ))"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    if [ ! -e "$out/model.safetensors" ]; then hit=$((hit + 1)); rm -rf "$out"; "$bin" merge --model "$model" --adapter "$work/ref" --out "$out" >/dev/null 2>&1 || { echo "kill $i: merge rerun failed"; fail=1; }; fi
    cmp -s "$out/model.safetensors" "$work/ref-merged/model.safetensors" || { echo "kill $i: merged model differs"; fail=1; }
  else # a training run
    out="$work/run-$i"
    "$bin" train "${args[@]}" --output-dir "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    if [ ! -e "$out/adapter_model.safetensors" ]; then
      hit=$((hit + 1)); ls -d "$out"/checkpoint-* >/dev/null 2>&1 && ckpt=$((ckpt + 1))
      resume=(); ls -d "$out"/checkpoint-* >/dev/null 2>&1 && resume=(--resume)
      "$bin" train "${args[@]}" --output-dir "$out" "${resume[@]}" >/dev/null 2>"$work/err-$i" || { echo "kill $i: rerun failed: $(tail -1 "$work/err-$i")"; fail=1; }
    fi
    cmp -s "$out/adapter_model.safetensors" "$work/ref/adapter_model.safetensors" || { echo "kill $i: adapter differs"; fail=1; }
  fi
done
left=$(find "$work" -name '*.tmp-*' | wc -l)
echo "$i kills, $hit before the process finished ($ckpt of them in training after a checkpoint): $( ((fail)) && echo FAILURES || echo 'every result byte-identical'); unfinished directories left: $left"
(( fail == 0 && left == 0 ))
