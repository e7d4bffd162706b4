#!/usr/bin/python3
"""The table of bench/peer/speed.sh from its raw outputs: /usr/bin/python3 speed.py OUT [OUT...]

Reads OUT/<file>-t<threads>-r<rep>-<ragent|llama>-<cell>.out (ragent bench --json lines,
llama-bench -o json, llama-batched-bench jsonl) and the /usr/bin/time files beside them;
prints per file, thread count and cell the median over repetitions with min-max, the ratio
ours / llama.cpp, the decode roofline share of both sides (our bandwidth and weight bytes per
token from the same repetition), and the most CPU other processes used during one of the
row's measurements (from the .cpu and .time files, when the run wrote them). Several OUT
folders (runs of different CELLS or THREADS) make one table. Works on an interrupted run:
cells without data are left out, and the n column says how many repetitions each side has.
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict

NAME = re.compile(r"^(?P<file>.+)-t(?P<t>\d+)-r(?P<rep>\d+)-(?P<side>ragent|llama)-(?P<cell>\w+)\.out$")

# (row label, higher is better); the order of the table.
ROWS = [
    ("tg64 @0", True),
    ("tg64 @4096", True),
    ("pp128", True),
    ("pp512", True),
    ("8x512 pp (S_PP)", True),
    ("8x32 tg (S_TG)", True),
    ("pp4096 (ours: prefill of the 4K cell)", True),
    ("peak RSS 4K, MiB", False),
    ("peak RSS 4K, MiB, whole process (time)", False),
]
RSS_NOTE = """peak RSS 4K: the process's maxrss at 4160 tokens of context. llama.cpp: /usr/bin/time of the
llama-bench process. ragent: the same counter (getrusage) as ragent bench reads it before it
allocates the 1 GiB arena of its bandwidth measurement; the whole-process row includes that arena."""


def json_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


def llama_bench(path):
    with open(path) as f:
        text = f.read()
    start = text.find("[")
    return json.loads(text[start:]) if start >= 0 else []


def read_time(path):
    """(wall_s, cpu_s, max_rss_mib) from /usr/bin/time -f '%e %U %S %M' or time -v; None if absent."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    if "Maximum resident set size" in text:  # time -v
        fields = dict(l.strip().rsplit(": ", 1) for l in text.splitlines() if ": " in l)
        wall = fields.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", "0")
        wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
        cpu_s = float(fields.get("User time (seconds)", 0)) + float(fields.get("System time (seconds)", 0))
        return wall_s, cpu_s, int(fields["Maximum resident set size (kbytes)"]) / 1024.0
    last = text.strip().splitlines()[-1].split() if text.strip() else []
    if len(last) != 4:
        return None
    return float(last[0]), float(last[1]) + float(last[2]), int(last[3]) / 1024.0


def others_cpu(stem):
    """Share of the machine's CPU that other processes used while this one ran (0..1), or None."""
    t = read_time(stem + ".time")
    try:
        with open(stem + ".cpu") as f:
            before, after, hz, cores = (float(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    if t is None or t[0] <= 0:
        return None
    wall_s, cpu_s, _ = t
    return max(0.0, ((after - before) / hz - cpu_s) / (wall_s * cores))


def collect(outs):
    # values[(file, t)][row][side] -> {rep: value}; roof[(file, t, rep, which)] -> tokens/s
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    others = defaultdict(lambda: defaultdict(list))  # [(file, t)][row] -> shares of all processes
    roof = {}
    for out, name in sorted((out, name) for out in outs for name in os.listdir(out)):
        m = NAME.match(name)
        if not m:
            continue
        key, rep, side, cell = (m["file"], int(m["t"])), int(m["rep"]), m["side"], m["cell"]
        path = os.path.join(out, name)
        stem = path[: -len(".out")]
        busy = others_cpu(stem)

        def put(row, v):
            values[key][row][side][rep] = v
            if busy is not None:
                others[key][row].append(busy)

        try:
            if side == "ragent":
                lines = {l["test"]: l for l in json_lines(path)}
                if "roofline" in lines:
                    r = lines["roofline"]
                    roof[(key, rep, cell)] = r["read_bandwidth_bytes_per_s"] / r["weight_bytes_per_token"]
                pp, tg = lines.get("pp"), lines.get("tg")
                if cell == "tg64" and tg:
                    put("tg64 @0", tg["tokens_per_s_mean"])
                elif cell in ("pp128", "pp512") and pp:
                    put(cell, pp["tokens_per_s_mean"])
                elif cell == "depth":
                    if pp and "peak_rss_bytes" in pp:
                        put("peak RSS 4K, MiB", pp["peak_rss_bytes"] / 1048576.0)
                    if tg:
                        put("tg64 @4096", tg["tokens_per_s_mean"])
                    if pp:
                        put("pp4096 (ours: prefill of the 4K cell)", pp["tokens_per_s_mean"])
                elif cell == "par8":
                    if pp:
                        put("8x512 pp (S_PP)", pp["tokens_per_s_mean"])
                    if tg:
                        put("8x32 tg (S_TG)", tg["tokens_per_s_mean"])
            elif cell in ("short", "depth"):
                for e in llama_bench(path):
                    if e["n_prompt"] == 0 and e["n_gen"] == 64:
                        put("tg64 @4096" if e["n_depth"] == 4096 else "tg64 @0", e["avg_ts"])
                    elif e["n_gen"] == 0 and e["n_prompt"] in (128, 512):
                        put("pp%d" % e["n_prompt"], e["avg_ts"])
            elif cell == "par8":
                for e in json_lines(path):
                    if e.get("pl") == 8:
                        put("8x512 pp (S_PP)", e["speed_pp"])
                        put("8x32 tg (S_TG)", e["speed_tg"])
        except (ValueError, KeyError, json.JSONDecodeError) as err:
            print("speed.py: cannot read %s: %s" % (name, err), file=sys.stderr)
        if cell == "depth":
            t = read_time(stem + ".time")
            if t is not None:
                put("peak RSS 4K, MiB, whole process (time)", t[2])
                if side == "llama":
                    put("peak RSS 4K, MiB", t[2])
    return values, others, roof


def spread(xs):
    if not xs:
        return "-"
    med = statistics.median(xs)
    if len(xs) == 1:
        return "%.2f" % med
    return "%.2f (%.2f–%.2f)" % (med, min(xs), max(xs))


def roofline_share(reps, key, which, roof):
    """Median over repetitions of tokens/s divided by the roofline of the same repetition."""
    shares = [v / roof[(key, rep, which)] for rep, v in reps.items() if (key, rep, which) in roof]
    return "%.0f%%" % (100 * statistics.median(shares)) if shares else ""


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outs = sys.argv[1:]
    values, others, roof = collect(outs)
    for out in outs:
        meta = os.path.join(out, "meta.txt")
        if os.path.exists(meta):
            with open(meta) as f:
                print(f.read().rstrip())
            print()
    print("median (min–max) over repetitions; tokens/s unless stated; ratio = ragent / llama.cpp;")
    print("roof = decode tokens/s ÷ (read bandwidth ÷ weight bytes per token), both from ragent bench in the same rep;")
    print("others = the most CPU that other processes took during any one measurement of the row (share of all cores)")
    print()
    print("| file | threads | cell | ragent | llama.cpp | ratio | n | ragent roof | llama.cpp roof | others |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    verdicts = []
    for key in sorted(values):
        for row, higher in ROWS:
            sides = values[key].get(row)
            if not sides:
                continue
            ours, theirs = sides.get("ragent", {}), sides.get("llama", {})
            ratio = ""
            if ours and theirs:
                ratio = statistics.median(ours.values()) / statistics.median(theirs.values())
            roofs = ("", "")
            if row in ("tg64 @0", "tg64 @4096"):
                which = "tg64" if row == "tg64 @0" else "depth"
                roofs = (roofline_share(ours, key, which, roof), roofline_share(theirs, key, which, roof))
            busy = others[key].get(row)
            print("| %s | %d | %s | %s | %s | %s | %d/%d | %s | %s | %s |" % (
                key[0], key[1], row, spread(list(ours.values())), spread(list(theirs.values())),
                "%.2fx" % ratio if ratio != "" else "", len(ours), len(theirs), roofs[0], roofs[1],
                "%.0f%%" % (100 * max(busy)) if busy else ""))
            verdicts.append((key, row, ratio, roofs[0]))
    print()
    print(RSS_NOTE)
    # Issue 12 point 3's targets, at 2 threads.
    targets = {"tg64 @0": 1.05, "tg64 @4096": 1.05, "pp128": 1.15, "pp512": 1.0, "8x32 tg (S_TG)": 1.0}
    print()
    print("issue 12 targets at 2 threads:")
    for key, row, ratio, ours_roof in verdicts:
        if key[1] != 2 or ratio == "":
            continue
        if row in targets:
            goal = targets[row]
            line = "  %s %s: %.2fx vs >= %.2fx %s" % (key[0], row, ratio, goal, "met" if ratio >= goal else "MISSED")
            if row == "tg64 @0" and ours_roof:  # at depth the KV reads are not in the roofline
                share = float(ours_roof.rstrip("%"))
                line += "; roofline %s vs >= 90%% %s" % (ours_roof, "met" if share >= 90 else "MISSED")
            print(line)
        elif row == "peak RSS 4K, MiB":
            print("  %s %s: %.2fx of llama.cpp's %s" % (key[0], row, ratio, "met" if ratio <= 1.0 else "MISSED"))


if __name__ == "__main__":
    main()
