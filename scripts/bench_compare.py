#!/usr/bin/env python3
"""Run `orthotune bench` and scripts/bench_torch.py side by side and tabulate.

For each round and each method the two run back to back (which one goes first
alternates by round), with the same flags; every run prints one JSON line.
The table gives, per method, the median over rounds of each side's
tokens_per_s, step_ms_median and peak_rss_mib, and the ratios.

    /usr/bin/python3 scripts/bench_compare.py --orthotune /tmp/ot --rounds 3 -- --layers 8

Arguments after `--` go to both programs; environment variables (e.g.
ORTHOTUNE_GEMM, OPENBLAS_CORETYPE) pass through. Run it with a python that has
torch (the torch side uses --python, default this interpreter).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def busy_cpu_s():
    """CPU seconds the whole machine has spent busy (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - v[3] - v[4]) / hz  # all but idle and iowait


def children_cpu_s():
    t = os.times()
    return t.children_user + t.children_system


def run_one(cmd):
    """Run cmd, return (parsed JSON of its last JSON line, seconds, foreign
    cores: the average number of cores other processes kept busy meanwhile)
    or raise."""
    b0, c0 = busy_cpu_s(), children_cpu_s()
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    el = time.perf_counter() - t
    b1, c1 = busy_cpu_s(), children_cpu_s()
    foreign = max(0.0, ((b1 - b0) - (c1 - c0)) / el) if b0 is not None and b1 is not None else float("nan")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr.strip()[-2000:]}")
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line), el, foreign
    raise RuntimeError(f"{' '.join(cmd)}: no JSON line in output:\n{p.stdout[-2000:]}")


def med(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else float("nan")


def fmt(x, nd=0):
    if x != x:  # NaN
        return "–"
    return f"{x:,.{nd}f}"


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orthotune", default="./orthotune", help="orthotune binary")
    p.add_argument("--torch-script", default=os.path.join(HERE, "bench_torch.py"))
    p.add_argument("--python", default=sys.executable, help="python with torch for the torch side")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--methods", default="oft,lora", help="comma list of oft, lora, full")
    p.add_argument("--json", metavar="FILE", help="write every raw JSON line here (one per line)")
    p.add_argument("--max-foreign", type=float, default=0.25,
                   help="rerun a run (after a pause) when other processes kept more than this many cores "
                        "busy on average during it; 0 disables")
    p.add_argument("--retries", type=int, default=3, help="reruns allowed per run for --max-foreign")
    p.add_argument("--torch-args", default="",
                   help="extra arguments for the torch side only, e.g. '--no-pin-openblas --omp-default' (stock PyTorch)")
    p.add_argument("--from-json", metavar="FILE", help="tabulate lines saved by --json instead of running")
    a = p.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if a.from_json:
        with open(a.from_json) as f:
            raw = [json.loads(line) for line in f if line.strip()]
        if not raw:
            sys.exit("no results")
        tabulate(raw, [m for m in methods if any(x["method"] == m for x in raw)], a.max_foreign)
        return
    sides = {
        "orthotune": lambda m: [a.orthotune, "bench", "--method", m] + extra,
        "torch": lambda m: [a.python, a.torch_script, "--method", m] + extra + a.torch_args.split(),
    }
    raw = []
    errors = 0
    for r in range(a.rounds):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for m in methods:
            for s in order:
                res = None
                for attempt in range(a.retries + 1):
                    try:
                        res, el, foreign = run_one(sides[s](m))
                    except (RuntimeError, OSError, json.JSONDecodeError) as e:
                        print(f"round {r + 1} {s} {m}: {e}", file=sys.stderr)
                        res = None
                        break
                    if not (a.max_foreign > 0 and foreign > a.max_foreign) or attempt == a.retries:
                        break
                    print(f"round {r + 1} {s} {m}: other processes used {foreign:.2f} cores meanwhile; "
                          f"rerunning in 20 s", file=sys.stderr, flush=True)
                    time.sleep(20)
                if res is None:
                    errors += 1
                    continue
                res = dict(res, side=s, round=r + 1, wall_s=round(el, 3), foreign_cores=round(foreign, 3),
                           load1=os.getloadavg()[0])
                raw.append(res)
                print(f"round {r + 1}/{a.rounds} {s:9s} {m:4s} {res['tokens_per_s']:8.0f} tok/s "
                      f"{res['step_ms_median']:7.1f} ms/step {res['peak_rss_mib']:6.0f} MiB "
                      f"(others {res['foreign_cores']:.2f} cores)", file=sys.stderr, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            for res in raw:
                f.write(json.dumps(res) + "\n")
    if not raw:
        sys.exit("no results")
    tabulate(raw, methods, a.max_foreign, extra)
    if errors:
        print(f"\n{errors} run(s) failed; see stderr", file=sys.stderr)
        sys.exit(1)


def tabulate(raw, methods, max_foreign, extra=()):
    """Print the markdown table for raw result lines (each with side, method,
    round and foreign_cores). Runs during which other processes kept more
    than max_foreign cores busy are left out when the same side and method
    has a clean run."""
    sides = ("orthotune", "torch")
    rounds = max((x.get("round", 1) for x in raw), default=0)
    first = raw[0]
    print(f"\nShape: {first['arch']}, {first['layers']} layers, hidden {first['hidden']}, seq {first['seq']}, "
          f"batch {first['batch']}, {first['threads']} threads, {first['steps']} measured steps; "
          f"medians over {rounds} interleaved rounds" + (f"; extra flags: {' '.join(extra)}" if extra else ""))
    for s in sides:
        g = next((x["gemm"] for x in raw if x["side"] == s), "?")
        print(f"- {s}: {g}")
    print()
    print("| method | orthotune tokens/s | torch tokens/s | orthotune/torch | orthotune step ms | torch step ms "
          "| orthotune peak RSS MiB | torch peak RSS MiB | torch/orthotune RSS | runs used (ot / torch) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    step, dropped = {}, 0
    for m in methods:
        used = {}
        for s in sides:
            rows = [x for x in raw if x["side"] == s and x["method"] == m]
            clean = [x for x in rows if not x.get("foreign_cores", 0) > max_foreign > 0]
            dropped += len(rows) - len(clean) if clean else 0
            used[s] = clean or rows
        o, t = used["orthotune"], used["torch"]
        ot_tps, t_tps = med(o, "tokens_per_s"), med(t, "tokens_per_s")
        ot_ms, t_ms = med(o, "step_ms_median"), med(t, "step_ms_median")
        ot_rss, t_rss = med(o, "peak_rss_mib"), med(t, "peak_rss_mib")
        step[m] = (ot_ms, t_ms)
        print(f"| {m} | {fmt(ot_tps)} | {fmt(t_tps)} | {fmt(ot_tps / t_tps if t_tps else float('nan'), 2)}× "
              f"| {fmt(ot_ms, 1)} | {fmt(t_ms, 1)} | {fmt(ot_rss)} | {fmt(t_rss)} "
              f"| {fmt(t_rss / ot_rss if ot_rss else float('nan'), 2)}× | {len(o)} / {len(t)} |")
    if dropped:
        print(f"\n{dropped} run(s) left out: other processes kept > {max_foreign} cores busy during them")
    noisy = [x for m in methods for s in sides for x in raw
             if x["side"] == s and x["method"] == m and x.get("foreign_cores", 0) > max_foreign > 0]
    if len(noisy) > dropped:
        print(f"\n{len(noisy) - dropped} noisy run(s) used: no clean run of that side and method")
    if "oft" in step and "lora" in step:
        (oo, to), (ol, tl) = step["oft"], step["lora"]
        print(f"\nOFT/LoRA step-time ratio: orthotune {fmt(oo / ol, 2)}×, torch {fmt(to / tl, 2)}×")
    # The host's slow spells hit whichever run is going; a run's ratio to
    # the other side's run of the same round is less exposed to them.
    for m in methods:
        by_round = {}
        for x in raw:
            if x["method"] == m:
                by_round.setdefault(x.get("round", 1), {})[x["side"]] = x["tokens_per_s"]
        ratios = sorted(r["orthotune"] / r["torch"] for r in by_round.values()
                        if r.get("torch") and r.get("orthotune"))
        if ratios:
            print(f"{m}: orthotune/torch tokens/s per round {', '.join(fmt(x, 2) + '×' for x in ratios)}; "
                  f"median {fmt(statistics.median(ratios), 2)}×")


if __name__ == "__main__":
    main()
