#!/usr/bin/python3
"""The table of bench/peer/speed.sh from its raw outputs: /usr/bin/python3 speed.py OUT

Reads OUT/<file>-t<threads>-r<rep>-<ragent|llama>-<cell>.out (ragent bench --json lines,
llama-bench -o json, llama-batched-bench jsonl) and the /usr/bin/time -v files beside them;
prints per file, thread count and cell the median over repetitions with min-max, the ratio
ours / llama.cpp, and the decode roofline share of both sides (our bandwidth and weight bytes
per token from the same repetition). Works on an interrupted run: cells without data are left
out, and the n column says how many repetitions each side has.
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
    ("peak RSS 4K, MiB (time -v)", False),
]


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


def max_rss_mib(path):
    try:
        with open(path) as f:
            for line in f:
                if "Maximum resident set size" in line:
                    return int(line.rsplit(":", 1)[1]) / 1024.0
    except OSError:
        pass
    return None


def collect(out):
    # values[(file, t)][row][side] -> {rep: value}; roof[(file, t, rep, which)] -> tokens/s
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    roof = {}
    for name in sorted(os.listdir(out)):
        m = NAME.match(name)
        if not m:
            continue
        key, rep, side, cell = (m["file"], int(m["t"])), int(m["rep"]), m["side"], m["cell"]
        path = os.path.join(out, name)
        put = lambda row, v: values[key][row][side].__setitem__(rep, v)  # noqa: E731
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
            rss = max_rss_mib(os.path.join(out, name[: -len(".out")] + ".time"))
            if rss is not None:
                put("peak RSS 4K, MiB (time -v)", rss)
    return values, roof


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
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    values, roof = collect(out)
    meta = os.path.join(out, "meta.txt")
    if os.path.exists(meta):
        with open(meta) as f:
            print(f.read().rstrip())
        print()
    print("median (min–max) over repetitions; tokens/s unless stated; ratio = ragent / llama.cpp;")
    print("roof = decode tokens/s ÷ (read bandwidth ÷ weight bytes per token), both from ragent bench in the same rep")
    print()
    print("| file | threads | cell | ragent | llama.cpp | ratio | n | ragent roof | llama.cpp roof |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
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
            print("| %s | %d | %s | %s | %s | %s | %d/%d | %s | %s |" % (
                key[0], key[1], row, spread(list(ours.values())), spread(list(theirs.values())),
                "%.2fx" % ratio if ratio != "" else "", len(ours), len(theirs), roofs[0], roofs[1]))
            verdicts.append((key, row, ratio, roofs[0]))
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
            if row.startswith("tg64") and ours_roof:
                share = float(ours_roof.rstrip("%"))
                line += "; roofline %s vs >= 90%% %s" % (ours_roof, "met" if share >= 90 else "MISSED")
            print(line)
        elif row.startswith("peak RSS"):
            print("  %s %s: %.2fx of llama.cpp's %s" % (key[0], row, ratio, "met" if ratio <= 1.0 else "MISSED"))


if __name__ == "__main__":
    main()
