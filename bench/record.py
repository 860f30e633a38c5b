#!/usr/bin/env python3
"""record.py: turn one dnsperf run into a row of the throughput TSV (called by measure.sh).

  record.py --tsv FILE --raw DNSPERF_OUTPUT --run-id ID --round N --mode MODE --server NAME
            --port P --workers W --secs S --opts "DNSPERF OPTIONS" --wall WALL_S
            --cpu0 "U S ALL STEAL" --cpu1 "U S ALL STEAL" --dnsperf-cpu "U S"

--cpu0/--cpu1 are cpu_snapshot.py outputs taken right before and right after dnsperf.
Ratios (x_ceiling_*, x_knot_*) compare this row with the ceiling / knot rows of the same run id,
round and mode already in the TSV (so those two are measured first in every round); "-" when absent.
Prints a one-line summary of the row.
"""
import argparse
import csv
import datetime
import os
import re
import sys

COLUMNS = [
    "run_id", "utc", "round", "mode", "server", "port", "workers", "secs", "dnsperf_opts",
    "qps", "completed", "lost", "avg_lat_ms", "lat_sd_ms", "max_lat_ms", "req_bytes", "resp_bytes",
    "rcodes", "srv_user_s", "srv_sys_s", "srv_cpu_s", "srv_cpu_pct", "q_per_cpu_s",
    "user_us_per_q", "sys_us_per_q", "cpu_us_per_q", "dnsperf_cpu_s", "all_cpu_s", "other_cpu_s",
    "steal_s", "x_ceiling_qps", "x_ceiling_q_per_cpu", "x_knot_qps", "x_knot_q_per_cpu",
    "x_knot_user_us", "raw",
]


def parse_dnsperf(text):
    def grab(pattern, conv=float, default=None):
        m = re.search(pattern, text, re.M)
        return conv(m.group(1)) if m else default

    d = {
        "completed": grab(r"^\s*Queries completed:\s+(\d+)", int),
        "lost": grab(r"^\s*Queries lost:\s+(\d+)", int),
        "qps": grab(r"^\s*Queries per second:\s+([\d.]+)"),
        "runtime": grab(r"^\s*Run time \(s\):\s+([\d.]+)"),
        "avg_lat": grab(r"^\s*Average Latency \(s\):\s+([\d.]+)"),
        "max_lat": grab(r"^\s*Average Latency \(s\):.*max ([\d.]+)\)"),
        "lat_sd": grab(r"^\s*Latency StdDev \(s\):\s+([\d.]+)"),
        "req": grab(r"^\s*Average packet size:\s+request (\d+)", int),
        "resp": grab(r"^\s*Average packet size:.*response (\d+)", int),
        "rcodes": grab(r"^\s*Response codes:\s+(.*)$", str, ""),
    }
    if d["qps"] is None or d["completed"] is None:
        raise ValueError("no 'Queries per second' / 'Queries completed' in dnsperf output")
    # "NOERROR 237653 (90.00%), NXDOMAIN 26406 (10.00%)" -> "NOERROR 90.00%, NXDOMAIN 10.00%"
    d["rcodes"] = ", ".join(f"{c} {p}" for c, p in re.findall(r"(\w+) \d+ \(([\d.]+%)\)", d["rcodes"]))
    return d


def fmt(x, nd):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    for a in ("tsv", "raw", "run-id", "round", "mode", "server", "port", "workers", "secs", "opts",
              "wall", "cpu0", "cpu1", "dnsperf-cpu"):
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args()

    with open(a.raw) as f:
        d = parse_dnsperf(f.read())
    u0, s0, b0, st0 = map(float, a.cpu0.split())
    u1, s1, b1, st1 = map(float, a.cpu1.split())
    pu, ps = map(float, a.dnsperf_cpu.split())
    wall = float(a.wall)
    user, sys_ = u1 - u0, s1 - s0
    cpu = user + sys_
    allcpu, steal = b1 - b0, st1 - st0
    n = d["completed"]  # = QPS x run time
    qcpu = n / cpu if cpu > 0 else None
    us = lambda secs: secs * 1e6 / n if n else None

    row = {
        "run_id": a.run_id,
        "utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "round": a.round, "mode": a.mode, "server": a.server, "port": a.port,
        "workers": a.workers, "secs": a.secs, "dnsperf_opts": a.opts,
        "qps": fmt(d["qps"], 0), "completed": n, "lost": d["lost"],
        "avg_lat_ms": fmt(d["avg_lat"] * 1e3 if d["avg_lat"] is not None else None, 3),
        "lat_sd_ms": fmt(d["lat_sd"] * 1e3 if d["lat_sd"] is not None else None, 3),
        "max_lat_ms": fmt(d["max_lat"] * 1e3 if d["max_lat"] is not None else None, 3),
        "req_bytes": d["req"], "resp_bytes": d["resp"], "rcodes": d["rcodes"],
        "srv_user_s": fmt(user, 2), "srv_sys_s": fmt(sys_, 2), "srv_cpu_s": fmt(cpu, 2),
        "srv_cpu_pct": fmt(100 * cpu / wall, 1), "q_per_cpu_s": fmt(qcpu, 0),
        "user_us_per_q": fmt(us(user), 3), "sys_us_per_q": fmt(us(sys_), 3),
        "cpu_us_per_q": fmt(us(cpu), 3), "dnsperf_cpu_s": fmt(pu + ps, 2),
        "all_cpu_s": fmt(allcpu, 2), "other_cpu_s": fmt(allcpu - cpu - (pu + ps), 2),
        "steal_s": fmt(steal, 2), "raw": a.raw,
    }
    if os.path.isabs(row["raw"]):
        here = os.path.dirname(os.path.abspath(a.tsv))
        row["raw"] = os.path.relpath(row["raw"], here)

    existing = []
    if os.path.exists(a.tsv) and os.path.getsize(a.tsv) > 0:
        with open(a.tsv) as f:
            rd = csv.DictReader(f, delimiter="\t")
            existing = list(rd)
            if rd.fieldnames != COLUMNS:
                sys.exit(f"{a.tsv} has other columns than this record.py writes; move it aside first")

    def ref(name):
        for r in existing:
            if (r["run_id"], r["round"], r["mode"], r["server"]) == (a.run_id, a.round, a.mode, name):
                return r
        return row if name == a.server else None

    def ratio(mine, r, key):
        try:
            return f"{float(mine) / float(r[key]):.3f}" if r else "-"
        except (ValueError, ZeroDivisionError):
            return "-"

    c, k = ref("ceiling"), ref("knot")
    row["x_ceiling_qps"] = ratio(row["qps"], c, "qps")
    row["x_ceiling_q_per_cpu"] = ratio(row["q_per_cpu_s"], c, "q_per_cpu_s")
    row["x_knot_qps"] = ratio(row["qps"], k, "qps")
    row["x_knot_q_per_cpu"] = ratio(row["q_per_cpu_s"], k, "q_per_cpu_s")
    row["x_knot_user_us"] = ratio(row["user_us_per_q"], k, "user_us_per_q")

    new = not existing and not (os.path.exists(a.tsv) and os.path.getsize(a.tsv) > 0)
    with open(a.tsv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        if new:
            w.writeheader()
        w.writerow(row)

    print(f"  {a.server:<8} {a.mode:<5} r{a.round}  QPS {row['qps']:>7}  lat {row['avg_lat_ms']} ms  "
          f"lost {row['lost']}  cpu {row['srv_user_s']}u+{row['srv_sys_s']}s ({row['srv_cpu_pct']}%)  "
          f"q/cpu-s {row['q_per_cpu_s']}  user {row['user_us_per_q']} us/q  "
          f"x ceiling {row['x_ceiling_q_per_cpu']}  x knot {row['x_knot_q_per_cpu']}  "
          f"resp {row['resp_bytes']} B  other {row['other_cpu_s']} s", flush=True)
    other = allcpu - cpu - (pu + ps)
    if other > 0.1 * float(a.secs):
        print(f"  NOTE: other processes used {other:.2f} CPU-s during this {a.secs} s run "
              "(the machine was not quiet)", file=sys.stderr)
    if d["lost"]:
        print(f"  WARNING: {a.server} lost {d['lost']} queries", file=sys.stderr)


if __name__ == "__main__":
    main()
