#!/usr/bin/env python3
"""Helpers of bench/fleet_scale.sh (no third-party modules).

  fleet_scale.py drive FILE PORT N STEPS EVERY_S PCT OUT
      Writes the file provider's list of N upstreams, all on 127.0.0.1:PORT
      with distinct user names (distinct upstream ids), then, STEPS times
      every EVERY_S seconds, renames the users of PCT % of them (at least
      one: PCT 0.01 of 10,000 is one upstream a change) (the next
      window of indexes: one removed and one added id each) and replaces the
      file atomically. With STEPS 0 only the initial file is written. Prints
      one line "step <k> <wall_ms>" per change to OUT.

  fleet_scale.py report RUN NNODES CHANGE_START_MS CHANGE_END_MS
      Reads the controller's log ("pool published: version V") and every
      node's log ("pool reloaded: version V" / "pool updated: version V") and
      prints the notice-to-applied latency of the versions published in
      [CHANGE_START_MS, CHANGE_END_MS + 1 s]: over every (node, version)
      pair and, per version, until the last of the nodes applied it.

  fleet_scale.py resync RUN NNODES EPOCH UP_MS SAMPLES
      Time from UP_MS (Redis back) until each node logged a pool of EPOCH;
      Redis's peak connections and CPU from SAMPLES ("<ms> <ticks> <clients>"
      lines, CLK_TCK ticks of utime+stime).
"""
import os
import re
import sys
import time
from datetime import datetime, timezone

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")
PUBLISHED = re.compile(r"pool published: version (\d+) epoch (\S+),")
APPLIED = re.compile(r"pool (?:reloaded|updated): version (\d+) .*?epoch ([A-Za-z0-9_.-]+)")


def stamp_ms(line):
    m = STAMP.match(line)
    if m is None:
        return None
    dt = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def drive(path, port, n, steps, every_s, pct, out):
    gen = [0] * n
    per_step = max(1, int(n * pct / 100))

    def write():
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for i in range(n):
                f.write(f"127.0.0.1:{port}:u{i}g{gen[i]}:p\n")
        os.rename(tmp, path)

    write()
    with open(out, "a") as log:
        t0 = time.monotonic()
        for k in range(1, steps + 1):
            delay = t0 + k * every_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            base = ((k - 1) * per_step) % n
            for j in range(per_step):
                gen[(base + j) % n] = k
            write()
            log.write(f"step {k} {int(time.time() * 1000)}\n")
            log.flush()


def node_logs(run, nnodes):
    for i in range(1, nnodes + 1):
        yield i, os.path.join(run, f"node-{i}", "node.log")


def applied_lines(path):
    """[(ms, version, epoch)] in log order."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = APPLIED.search(line)
                if m is None:
                    continue
                ms = stamp_ms(line)
                if ms is not None:
                    out.append((ms, int(m.group(1)), m.group(2)))
    except FileNotFoundError:
        pass
    return out


def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def report(run, nnodes, start_ms, end_ms):
    pubs = {}
    epoch = None
    with open(os.path.join(run, "controller", "controller.log"), errors="replace") as f:
        for line in f:
            m = PUBLISHED.search(line)
            ms = stamp_ms(line) if m else None
            if ms is not None and start_ms <= ms <= end_ms + 1000:
                pubs[int(m.group(1))] = ms
                epoch = m.group(2)
    if not pubs:
        print("latency: no version published during the change phase")
        return
    pairs, per_version_max, missing = [], {}, 0
    for _, path in node_logs(run, nnodes):
        lines = [x for x in applied_lines(path) if x[2] == epoch]
        for v, pub_ms in pubs.items():
            hit = next((ms for ms, ver, _ in lines if ver >= v), None)
            if hit is None:
                missing += 1
                continue
            lat = hit - pub_ms
            pairs.append(lat)
            per_version_max[v] = max(per_version_max.get(v, lat), lat)
    pairs.sort()
    allv = sorted(per_version_max.values())
    print(f"versions published in the change phase: {len(pubs)} "
          f"({min(pubs)}..{max(pubs)}), node x version pairs: {len(pairs)}, never applied: {missing}")
    print(f"notice-to-applied (node, version) ms: p50={pct(pairs, .5)} p99={pct(pairs, .99)} "
          f"max={pairs[-1] if pairs else 'nan'}")
    print(f"publish-to-all-{nnodes}-applied per version ms: p50={pct(allv, .5)} "
          f"p99={pct(allv, .99)} max={allv[-1] if allv else 'nan'}")
    print(f"VERSIONS={len(pubs)}")


def resync(run, nnodes, epoch, up_ms, samples):
    firsts = []
    for _, path in node_logs(run, nnodes):
        hit = next((ms for ms, _, ep in applied_lines(path) if ep == epoch and ms >= up_ms), None)
        if hit is not None:
            firsts.append(hit - up_ms)
    firsts.sort()
    print(f"resynced nodes: {len(firsts)}/{nnodes}; ms after Redis was back: "
          f"first={firsts[0] if firsts else 'nan'} p50={pct(firsts, .5)} "
          f"last={firsts[-1] if firsts else 'nan'}")
    rows = []
    with open(samples) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and all(x.lstrip("-").isdigit() for x in p):
                rows.append(tuple(int(x) for x in p))
    if len(rows) < 2:
        print("redis samples: too few")
        return
    hz = os.sysconf("SC_CLK_TCK")
    peak_clients = max(r[2] for r in rows)
    end_ms = up_ms + (firsts[-1] if firsts else rows[-1][0] - up_ms)
    win = [r for r in rows if r[0] <= end_ms + 200] or rows
    cpu = (win[-1][1] - win[0][1]) / hz
    wall = max(1e-3, (win[-1][0] - win[0][0]) / 1000)
    peak = 0.0
    for i in range(len(rows)):   # busiest 500 ms window
        j = i
        while j + 1 < len(rows) and rows[j][0] - rows[i][0] < 500:
            j += 1
        if rows[j][0] > rows[i][0]:
            peak = max(peak, (rows[j][1] - rows[i][1]) / hz / ((rows[j][0] - rows[i][0]) / 1000))
    print(f"redis during resync: peak connections {peak_clients}, CPU {cpu:.2f} s over "
          f"{wall:.2f} s = {100 * cpu / wall:.0f}% of one core, busiest 0.5 s {100 * peak:.0f}%")
    if len(firsts) == nnodes:
        print(f"RESYNC_MS={firsts[-1]}")


def main(argv):
    if len(argv) >= 2 and argv[1] == "drive" and len(argv) == 9:
        drive(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), float(argv[6]), float(argv[7]),
              argv[8])
    elif len(argv) == 6 and argv[1] == "report":
        report(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif len(argv) == 7 and argv[1] == "resync":
        resync(argv[2], int(argv[3]), argv[4], int(argv[5]), argv[6])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
