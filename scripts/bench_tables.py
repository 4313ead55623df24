#!/usr/bin/env python3
"""The orthotune-only tables of BENCHMARKS.md: thread scaling, step time as
the hidden size doubles, and the SmolLM2-135M-shaped run.

    go build -o /tmp/ot ./cmd/orthotune
    python3 scripts/bench_tables.py --orthotune /tmp/ot --rounds 3 scaling hidden smollm

Every figure is the median over --rounds runs of `orthotune bench` (each run
prints one JSON line; its own median step is taken). Runs of a table are
interleaved round by round, so slow spells of a shared machine spread over
all its rows. Environment variables (ORTHOTUNE_GEMM, ...) pass through.
"""

import argparse
import json
import statistics
import subprocess
import sys

LLAMA = ["--layers", "4", "--hidden", "256", "--heads", "4", "--intermediate", "704",
         "--vocab", "4096", "--seq", "128", "--batch", "8"]


def bench(ot, args):
    p = subprocess.run([ot, "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"orthotune bench {' '.join(args)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def medians(ot, rows, rounds):
    """rows: {label: args}; returns {label: [json per round]}."""
    out = {k: [] for k in rows}
    for r in range(rounds):
        for label, args in rows.items():
            out[label].append(bench(ot, args))
            print(f"  round {r + 1} {label}: {out[label][-1]['tokens_per_s_median_step']:.0f} tok/s",
                  file=sys.stderr)
    return out


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def scaling(ot, rounds, steps):
    print("\n### Thread scaling (Llama shape, " + " ".join(LLAMA) + ")\n")
    print("| method | 1 thread tok/s | 2 threads tok/s | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for method in ["oft", "lora"]:
        rows = {t: LLAMA + ["--method", method, "--threads", str(t), "--steps", str(steps)] for t in ("1", "2")}
        res = medians(ot, rows, rounds)
        one, two = med(res["1"], "tokens_per_s_median_step"), med(res["2"], "tokens_per_s_median_step")
        print(f"| {method} | {one:.0f} | {two:.0f} | {two / one:.2f}× |")


def hidden(ot, rounds, steps):
    print("\n### Step time as the hidden size doubles (4 layers, intermediate = 2.75 × hidden, "
          "head dim 64, vocab 4096, seq 128, batch 8, 2 threads)\n")
    print("| hidden | method | step ms | tok/s | ratio to previous | peak RSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for method in ["oft", "lora"]:
        rows = {}
        for h in (256, 512, 1024):
            rows[h] = ["--layers", "4", "--hidden", str(h), "--heads", str(h // 64),
                       "--intermediate", str(h * 11 // 4), "--vocab", "4096", "--seq", "128", "--batch", "8",
                       "--method", method, "--steps", str(steps)]
        res = medians(ot, rows, rounds)
        prev = None
        for h in (256, 512, 1024):
            ms = med(res[h], "step_ms_median")
            ratio = f"{ms / prev:.2f}×" if prev else ""
            print(f"| {h} | {method} | {ms:.0f} | {med(res[h], 'tokens_per_s_median_step'):.0f} | {ratio} | "
                  f"{med(res[h], 'peak_rss_mib'):.0f} |")
            prev = ms


def smollm(ot, rounds, steps):
    shape = ["--layers", "30", "--hidden", "576", "--heads", "9", "--kv-heads", "3", "--intermediate", "1536",
             "--vocab", "49152", "--seq", "512", "--method", "oft", "--warmup", "1", "--steps", str(steps)]
    print("\n### SmolLM2-135M shape (30 layers, hidden 576, 9 heads / 3 kv heads, intermediate 1536, "
          "vocab 49152, seq 512), OFT block 32 on every linear layer\n")
    print("| batch | options | tok/s | step s | peak RSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: |")
    variants = {
        "8 plain": ["--batch", "8"],
        "8 --gradient-checkpointing": ["--batch", "8", "--gradient-checkpointing"],
        "8 --gradient-checkpointing --base-dtype bf16": ["--batch", "8", "--gradient-checkpointing", "--base-dtype", "bf16"],
    }
    res = medians(ot, {k: shape + v for k, v in variants.items()}, rounds)
    for k in variants:
        batch, _, opts = k.partition(" ")
        print(f"| {batch} | {opts or '—'} | {med(res[k], 'tokens_per_s'):.1f} | "
              f"{med(res[k], 'step_ms_median') / 1000:.1f} | {med(res[k], 'peak_rss_mib'):.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orthotune", default="./orthotune", help="the orthotune binary")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="measured steps per run (SmolLM: a quarter)")
    p.add_argument("tables", nargs="+", choices=["scaling", "hidden", "smollm"])
    a = p.parse_args()
    for t in a.tables:
        if t == "smollm":
            smollm(a.orthotune, a.rounds, max(1, a.steps // 4))
        else:
            globals()[t](a.orthotune, a.rounds, a.steps)


if __name__ == "__main__":
    main()
