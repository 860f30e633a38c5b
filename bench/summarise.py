#!/usr/bin/env python3
"""summarise.py [--run RUN_ID | --all] [--results DIR]

Prints Markdown tables from results/throughput.tsv, results/bigzone.tsv and results/runs.tsv.
Default: the latest run id found in each file (throughput and big zone may come from different
runs; run.sh gives both the same id). --all: every run, one section per run id.

Per server and dnsperf mode: the value of every round ("a / b / c") and the mean. Ratios
("x ceiling", "x knot") are the mean of the per-round ratios, each taken against the ceiling /
Knot of the same run, round and mode (columns x_* of throughput.tsv). Spread = (max - min) / mean.
"""
import argparse
import csv
import os
import statistics as st
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["lifeline", "knot", "nsd", "gdnsd", "ceiling"]
MODES = {"max": "unlimited rate", "fixed": "fixed offered rate"}


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def vals(rows, key):
    return [num(r[key]) for r in rows]


def mean(xs):
    xs = [x for x in xs if x is not None]
    return st.mean(xs) if xs else None


def f(x, nd=0, comma=True):
    if x is None:
        return "-"
    return f"{x:,.{nd}f}" if comma else f"{x:.{nd}f}"


def per_run(xs, nd=0):
    return " / ".join(f(x, nd) for x in xs)


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2 or not st.mean(xs):
        return "-"
    return f"{(max(xs) - min(xs)) / st.mean(xs) * 100:.1f} %"


def sort_servers(names):
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def fill_ratios(rows):
    """record.py can only compare with rows already written (the ceiling's x_knot is empty, as Knot
    runs after it): fill such gaps from the same run, round and mode."""
    idx = {(r["run_id"], r["round"], r["mode"], r["server"]): r for r in rows}
    pairs = [("ceiling", "x_ceiling_qps", "qps"), ("ceiling", "x_ceiling_q_per_cpu", "q_per_cpu_s"),
             ("knot", "x_knot_qps", "qps"), ("knot", "x_knot_q_per_cpu", "q_per_cpu_s"),
             ("knot", "x_knot_user_us", "user_us_per_q")]
    for r in rows:
        for ref, col, key in pairs:
            if num(r.get(col)) is None:
                o = idx.get((r["run_id"], r["round"], r["mode"], ref))
                a, b = num(r.get(key)), num(o.get(key)) if o else None
                if a is not None and b:
                    r[col] = f"{a / b:.3f}"


def throughput_section(rows, meta):
    run_id = rows[0]["run_id"]
    secs = rows[0]["secs"]
    workers = rows[0]["workers"]
    rounds = sorted({int(r["round"]) for r in rows})
    print(f"### Throughput run {run_id}\n")
    if meta:
        print(f"{meta['utc_start']} to {meta['utc_end']} UTC; servers {meta['servers']}; "
              f"answers identical to Knot's: {meta['answers_match_knot']}; "
              f"lifeline rev {meta['lifeline_rev']}; environment: `results/{meta['environment']}`.\n")
    print(f"{workers} UDP workers per server, {len(rounds)} round(s), {secs} s per dnsperf run, "
          "servers measured one after the other in each round (all running throughout), mixed query "
          "file `queries.txt`.\n")
    by_mode = OrderedDict()
    for r in rows:
        by_mode.setdefault(r["mode"], OrderedDict()).setdefault(r["server"], []).append(r)
    for mode, by in by_mode.items():
        opts = next(iter(by.values()))[0]["dnsperf_opts"]
        names = sort_servers(by)
        print(f"#### {MODES.get(mode, mode)}: `dnsperf -d queries.txt -l {secs} {opts}`\n")
        print("| server | QPS per round | mean QPS | spread | avg latency ms per round | lost | "
              "response bytes | x ceiling QPS | x knot QPS |")
        print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
        for n in names:
            rs = by[n]
            q = vals(rs, "qps")
            print(f"| {n} | {per_run(q)} | {f(mean(q))} | {spread(q)} | "
                  f"{per_run(vals(rs, 'avg_lat_ms'), 3)} | {f(sum(x or 0 for x in vals(rs, 'lost')))} | "
                  f"{f(mean(vals(rs, 'resp_bytes')))} | {f(mean(vals(rs, 'x_ceiling_qps')), 2)} | "
                  f"{f(mean(vals(rs, 'x_knot_qps')), 2)} |")
        print()
        print("| server | server CPU % of one core | user+system CPU s per round | queries per CPU-second per round "
              "| mean q/CPU-s | x ceiling q/CPU-s | x knot q/CPU-s | user µs/query | system µs/query "
              "| x knot user µs | other processes CPU s |")
        print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for n in names:
            rs = by[n]
            us = " / ".join(f"{r['srv_user_s']}+{r['srv_sys_s']}" for r in rs)
            qc = vals(rs, "q_per_cpu_s")
            print(f"| {n} | {per_run(vals(rs, 'srv_cpu_pct'))} | {us} | {per_run(qc)} | {f(mean(qc))} | "
                  f"{f(mean(vals(rs, 'x_ceiling_q_per_cpu')), 2)} | {f(mean(vals(rs, 'x_knot_q_per_cpu')), 2)} | "
                  f"{f(mean(vals(rs, 'user_us_per_q')), 2)} | {f(mean(vals(rs, 'sys_us_per_q')), 2)} | "
                  f"{f(mean(vals(rs, 'x_knot_user_us')), 2)} | {per_run(vals(rs, 'other_cpu_s'), 2)} |")
        print()
    rc = OrderedDict()
    for r in rows:
        rc.setdefault(r["server"], set()).add(r["rcodes"])
    print("Response codes seen by dnsperf: " + "; ".join(
        f"{n}: {' | '.join(sorted(v))}" for n, v in ((n, rc[n]) for n in sort_servers(rc))) + "\n")


def bigzone_section(rows):
    run_id = rows[0]["run_id"]
    n = int(rows[0]["records"])
    print(f"### Zone with {n:,} A records, run {run_id}\n")
    print(f"Zone file {int(rows[0]['zone_bytes']) / 1e6:.1f} MB; {rows[0]['workers']} UDP workers; "
          "ready = from just before starting the server to its first correct answer for the last record "
          "(polled every 50 ms).\n")
    by = OrderedDict()
    for r in rows:
        by.setdefault(r["server"], []).append(r)
    knot = by.get("knot")
    k_ready = mean(vals(knot, "ready_s")) if knot else None
    k_rss = mean(vals(knot, "rss_settled_kb")) if knot else None
    print("| server | ready s per round | mean ready s | x knot | load CPU s (user+system) | "
          "VmRSS MiB at ready | VmRSS MiB settled | x knot | VmHWM MiB | PSS of process tree MiB |")
    print("| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |")
    mib = lambda xs: [x / 1024 if x is not None else None for x in xs]
    for s in sort_servers(by):
        rs = by[s]
        ready = vals(rs, "ready_s")
        rss = mean(vals(rs, "rss_settled_kb"))
        print(f"| {s} | {per_run(ready, 2)} | {f(mean(ready), 2)} | "
              f"{f(mean(ready) / k_ready, 2) if k_ready and mean(ready) else '-'} | "
              f"{' / '.join(r['load_user_s'] + '+' + r['load_sys_s'] for r in rs)} | "
              f"{per_run(mib(vals(rs, 'rss_ready_kb')))} | {f(rss / 1024 if rss else None)} | "
              f"{f(rss / k_rss, 2) if k_rss and rss else '-'} | {f(mean(mib(vals(rs, 'hwm_kb'))))} | "
              f"{f(mean(mib(vals(rs, 'pss_tree_kb'))))} |")
    print()
    if "nsd" in by:
        print("NSD forks its servers: its root process (xfrd) holds little of the zone, so compare PSS for it.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="run id to show (default: the latest)")
    ap.add_argument("--all", action="store_true", help="show every run")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    tp = load(os.path.join(a.results, "throughput.tsv"))
    bz = load(os.path.join(a.results, "bigzone.tsv"))
    runs = {r["run_id"]: r for r in load(os.path.join(a.results, "runs.tsv")) if r["kind"] == "throughput"}
    fill_ratios(tp)

    def ids(rows):
        return list(OrderedDict.fromkeys(r["run_id"] for r in rows))

    if a.all:
        tp_ids, bz_ids = ids(tp), ids(bz)
    elif a.run:
        tp_ids = [a.run] if a.run in ids(tp) else []
        bz_ids = [a.run] if a.run in ids(bz) else []
        if not tp_ids and not bz_ids:
            raise SystemExit(f"run id {a.run} not found in {a.results}")
    else:
        tp_ids, bz_ids = ids(tp)[-1:], ids(bz)[-1:]
    if not tp_ids and not bz_ids:
        raise SystemExit(f"no results in {a.results}")
    for i in tp_ids:
        throughput_section([r for r in tp if r["run_id"] == i], runs.get(i))
    for i in bz_ids:
        bigzone_section([r for r in bz if r["run_id"] == i])


if __name__ == "__main__":
    main()
