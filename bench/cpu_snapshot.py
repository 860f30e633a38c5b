#!/usr/bin/env python3
"""cpu_snapshot.py PID : print "USER SYS ALL STEAL" in seconds, where
USER / SYS = utime / stime summed over PID and all its live descendants (all threads included:
/proc/PID/stat of a process covers its threads),
ALL = utime+stime+cutime+cstime summed over every live process (a process that exits is then
counted in the cutime/cstime of the parent that reaped it, so the difference between two
snapshots is the CPU used by all processes in between, give or take processes whose parent does
not wait for them), and STEAL = the machine's steal time (first line of /proc/stat).
Take one snapshot before and one after a measurement; the differences are what was used.
Unit: 1/CLK_TCK s (0.01 s)."""
import os
import sys

TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()  # fields after "(comm)"; rest[0] is field 3 (state)
    # ppid, utime, stime, utime+stime+cutime+cstime
    return int(rest[1]), int(rest[11]), int(rest[12]), sum(int(x) for x in rest[11:15])


def main():
    root = int(sys.argv[1])
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                procs[int(d)] = proc_stat(d)
            except (OSError, ValueError, IndexError):
                pass
    if root not in procs:
        sys.exit(f"pid {root} is not running")
    children = {}
    for pid, (ppid, _, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    user = sys_ = 0
    todo = [root]
    while todo:
        p = todo.pop()
        if p in procs:
            user += procs[p][1]
            sys_ += procs[p][2]
        todo.extend(children.get(p, []))
    everything = sum(p[3] for p in procs.values())
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    steal = v[7] if len(v) > 7 else 0
    print(f"{user / TCK:.2f} {sys_ / TCK:.2f} {everything / TCK:.2f} {steal / TCK:.2f}")


if __name__ == "__main__":
    main()
