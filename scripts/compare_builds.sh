#!/usr/bin/env bash
# Trains the same nine runs with two orthotune binaries and compares what
# they write byte for byte: OFT (default targets; all-linear with COFT,
# block sharing, block dropout, exact Cayley, evaluation and checkpoints;
# r instead of a block size; other series terms), LoRA (rsLoRA with
# dropout on one replica; bf16 base with checkpointing), full fine-tuning,
# a --config file, and regex targets with accumulation and packing.
#
#   scripts/compare_builds.sh OLD_BINARY NEW_BINARY MODEL_DIR TRAIN.jsonl EVAL.jsonl
#
# MODEL_DIR needs a tokenizer (the demo's cached base model will do).
set -u
old=$1 new=$2 model=$3 data=$4 evald=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"method":"lora","lora_r":4,"target_modules":["q_proj","v_proj"],"lora_dropout":0.05,"use_rslora":true,"max_steps":6}' > "$work/cfg.json"
runs=(
  "oft_default|"
  "oft_all|--target-modules all-linear --coft --block-share --module-dropout 0.1 --exact-cayley --eval-data $evald --eval-steps 5 --save-steps 5"
  "oft_r|--oft-r 4 --use-cayley-neumann=false --num-cayley-neumann-terms 3 --target-modules q_proj,k_proj,down_proj"
  "oft_terms|--oft-block-size 16 --num-cayley-neumann-terms 7 --eps 1e-3 --coft --validation-split 0.2"
  "lora_all|--method lora --target-modules all-linear --lora-r 4 --lora-alpha 8 --lora-dropout 0.1 --use-rslora --replicas 1"
  "lora_bf16|--method lora --base-dtype bf16 --gradient-checkpointing --lr-scheduler-type cosine --warmup-steps 2"
  "full|--method full --max-steps 4 --weight-decay 0.01"
  "cfg|--config $work/cfg.json"
  "regex|--target-modules .*layers\.[01]\..*(q|v)_proj --gradient-accumulation-steps 2 --packing"
)
fail=0
for r in "${runs[@]}"; do
  name=${r%%|*} extra=${r#*|}
  for b in old new; do
    bin=$old; [ $b = new ] && bin=$new
    # shellcheck disable=SC2086
    "$bin" train --model "$model" --data "$data" --max-steps 12 --per-device-train-batch-size 4 --seed 5 --learning-rate 3e-3 \
      --max-seq-length 64 --output-dir "$work/$b/$name" $extra >/dev/null 2>"$work/$b-$name.err" || { echo "$name: $b failed: $(tail -1 "$work/$b-$name.err")"; fail=1; }
  done
  for f in adapter_model.safetensors adapter_config.json model.safetensors; do
    [ -e "$work/old/$name/$f" ] || continue
    if cmp -s "$work/old/$name/$f" "$work/new/$name/$f"; then echo "$name/$f identical"; else echo "$name/$f DIFFERS"; fail=1; fi
  done
done
exit $fail
