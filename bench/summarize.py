#!/usr/bin/env python3
"""Summarize bench/run.sh raw lines: medians per proxy and scenario, then the
issue's targets with a verdict each. Every ratio is taken inside one
proxy-bench.sh invocation (vs its own `direct` run) or inside one repetition
(node vs best anchor of the same repetition); medians are over repetitions.

Usage: summarize.py RAW_FILE [NODE_LABEL] [TWO_HOP_LABEL]

Targets labelled "base" and "base>base" (bench/run.sh with PF_NODE_BIN_BASE)
are not anchors: they get their own A/B table, node / base per repetition.
"""
import collections
import statistics
import sys

raw = sys.argv[1]
NODE = sys.argv[2] if len(sys.argv) > 2 else "pf-node"
NODE2 = sys.argv[3] if len(sys.argv) > 3 else "pf-node>pf-node"
CHAINS_PREFIX = ">"  # labels containing '>' are two-hop chains

runs = collections.defaultdict(dict)   # (rep, proxy) -> scenario -> kv
order = []
for line in open(raw):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "proxy" not in kv or "scenario" not in kv:
        continue
    key = (kv.get("rep", "1"), kv["proxy"])
    runs[key][kv["scenario"]] = kv
    if kv["proxy"] not in order:
        order.append(kv["proxy"])
reps = sorted({r for r, _ in runs}, key=int)


def num(kv, k):
    try:
        return float(kv[k])
    except (KeyError, ValueError, TypeError):
        return float("nan")


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def metrics(sc):
    """Per-invocation figures of one proxy."""
    d, f = sc.get("direct", {}), sc.get("http-forward", {})
    m = {
        "fwd": num(f, "ratio"),
        "fwd_p99x": num(f, "p99_ms") / num(d, "p99_ms") if num(d, "p99_ms") > 0 else float("nan"),
        "tun": num(sc.get("connect-tunnel", {}), "ratio"),
        "setup": num(sc.get("connect-setup", {}), "rps"),
        "setup_ratio": num(sc.get("connect-setup", {}), "ratio"),
        # new tunnels/s over the no-proxy cycle rate of the same invocation
        "setup_ceiling": num(sc.get("connect-setup", {}), "rps") / num(sc.get("setup-direct", {}), "rps")
        if num(sc.get("setup-direct", {}), "rps") > 0 else float("nan"),
        "bulk_c": num(sc.get("bulk-connect", {}), "MBps_ratio"),
        "bulk_f": num(sc.get("bulk-forward", {}), "MBps_ratio"),
        # requests per CPU-second of the proxy's process (PROXY_PID)
        "fwd_cpu": num(f, "per_cpu_s"),
        "tun_cpu": num(sc.get("connect-tunnel", {}), "per_cpu_s"),
        "setup_cpu": num(sc.get("connect-setup", {}), "per_cpu_s"),
        "errors": sum(num(kv, "errors") for s, kv in sc.items() if s not in ("direct", "bulk-direct")),
    }
    return m


# 1. medians per proxy and scenario
print(f"# medians over {len(reps)} repetition(s)")
print(f"| proxy | scenario | rps | ratio | p50_ms | p99_ms | MBps | per CPU-s | errors (sum) |")
print(f"|---|---|---:|---:|---:|---:|---:|---:|---:|")
scen_order = ["direct", "http-forward", "connect-tunnel", "connect-setup", "setup-direct", "bulk-direct", "bulk-forward", "bulk-connect"]
for p in order:
    for s in scen_order:
        vs = [runs[(r, p)][s] for r in reps if s in runs.get((r, p), {})]
        if not vs:
            continue
        ratio = med([num(v, "MBps_ratio" if s.startswith("bulk-") and s != "bulk-direct" else "ratio") for v in vs])
        mb = f"{med([num(v, 'MBps') for v in vs]):.0f}" if s.startswith("bulk") else ""
        errs = sum(num(v, "errors") for v in vs)
        rs = "" if ratio != ratio else f"{ratio:.3f}"
        pc = med([num(v, "per_cpu_s") for v in vs])
        pcs = "" if pc != pc else f"{pc:.0f}"
        print(f"| {p} | {s} | {med([num(v, 'rps') for v in vs]):.0f} | {rs} | "
              f"{med([num(v, 'p50_ms') for v in vs]):.2f} | {med([num(v, 'p99_ms') for v in vs]):.2f} | {mb} | {pcs} | {errs:.0f} |")

# 2. targets
BASE, BASE2 = "base", "base>base"
LB, LB_PLAIN = "pf-lb>pf-node", "pf-auth>pf-node"     # bench/run.sh LABELS_BANS=1
NOT_ANCHORS = (NODE, NODE2, BASE, BASE2, LB, LB_PLAIN)
anchors1 = [p for p in order if p not in NOT_ANCHORS and CHAINS_PREFIX not in p]
anchors2 = [p for p in order if p not in NOT_ANCHORS and CHAINS_PREFIX in p]
per = {(r, p): metrics(runs[(r, p)]) for (r, p) in runs}
# haproxy does not tunnel CONNECT: its CONNECT figures are not an anchor's
for (r, p), m in per.items():
    if p == "haproxy":
        for k in ("tun", "setup", "setup_ratio", "setup_ceiling", "bulk_c", "errors"):
            m[k] = float("nan")


def series(p, k):
    return [per[(r, p)][k] for r in reps if (r, p) in per]


def best(ps, k, r, higher=True):
    xs = [per[(r, p)][k] for p in ps if (r, p) in per and per[(r, p)][k] == per[(r, p)][k]]
    return (max(xs) if higher else min(xs)) if xs else float("nan")


def best_name(ps, k, higher=True):
    meds = {p: med(series(p, k)) for p in ps}
    meds = {p: v for p, v in meds.items() if v == v}
    return (max if higher else min)(meds, key=meds.get) if meds else "-"


def verdict(v, target, higher=True):
    if v != v:
        return "not measured"
    if higher:
        return "meets" if v >= target else f"misses by {target - v:.3g} ({(target - v) / target * 100:.0f} %)"
    return "meets" if v <= target else f"misses by {v - target:.3g} ({(v - target) / target * 100:.0f} %)"


rows = []


def row(name, node_label, k, target, anchor_set, relative=False, higher=True, fmt="{:.3f}"):
    if not any((r, node_label) in per for r in reps):
        rows.append((name, "not run", "", "", "not measured"))
        return
    if relative:  # node / best anchor of the same repetition
        xs = [per[(r, node_label)][k] / best(anchor_set, k, r) for r in reps
              if (r, node_label) in per and best(anchor_set, k, r) > 0]
        v = med(xs)
        node_abs = med(series(node_label, k))
        anc = med([best(anchor_set, k, r) for r in reps])
        shown = f"{node_abs:.0f}/s = {v:.2f}x"
        anc_s = f"{anc:.0f}/s ({best_name(anchor_set, k)})" if anc == anc else "-"
    else:
        v = med(series(node_label, k))
        shown = fmt.format(v)
        anc = med([best(anchor_set, k, r, higher) for r in reps])
        anc_s = f"{fmt.format(anc)} ({best_name(anchor_set, k, higher)})" if anc == anc and anchor_set else "-"
    tgt = (">= " if higher else "<= ") + (f"{target}x" if relative else str(target))
    rows.append((name, shown, anc_s, tgt, verdict(v, target, higher)))


def info(name, node_label, k, anchor_set):
    """A figure without a target: node and best anchor, for reading the others."""
    if not any((r, node_label) in per for r in reps):
        return
    anc = med([best(anchor_set, k, r) for r in reps])
    anc_s = f"{anc:.3f} ({best_name(anchor_set, k)})" if anc == anc else "-"
    rows.append((name, f"{med(series(node_label, k)):.3f}", anc_s, "(no target)", "for reading"))


row("one hop: http-forward rps / direct", NODE, "fwd", 0.50, anchors1)
row("one hop: http-forward p99 / direct p99", NODE, "fwd_p99x", 2.0, anchors1, higher=False, fmt="{:.2f}")
row("one hop: CONNECT tunnel rps / direct", NODE, "tun", 0.80, anchors1)
row("one hop: new tunnels/s vs best anchor", NODE, "setup", 2.5, anchors1, relative=True)
info("one hop: new tunnels/s / no-proxy cycles/s (setup-direct)", NODE, "setup_ceiling", anchors1)
row("one hop: 1 MiB via CONNECT MB/s / direct", NODE, "bulk_c", 0.90, anchors1)
row("one hop: 1 MiB absolute-form MB/s / direct", NODE, "bulk_f", 0.90, anchors1)
if "haproxy" in order:
    row("one hop: http-forward requests per CPU-second vs haproxy", NODE, "fwd_cpu", 1.0, ["haproxy"],
        relative=True)
else:
    info("one hop: http-forward requests per CPU-second", NODE, "fwd_cpu", anchors1)
row("one hop: errors (sum of scenarios, median)", NODE, "errors", 0, [], higher=False, fmt="{:.0f}")
row("two hops: http-forward rps / direct", NODE2, "fwd", 0.15, anchors2)
row("two hops: CONNECT tunnel rps / direct", NODE2, "tun", 0.45, anchors2)
row("two hops: new tunnels/s vs best chain", NODE2, "setup", 3.0, anchors2, relative=True)
info("two hops: new tunnels/s / no-proxy cycles/s (setup-direct)", NODE2, "setup_ceiling", anchors2)
row("two hops: 1 MiB via CONNECT MB/s / direct", NODE2, "bulk_c", 0.70, anchors2)
row("two hops: 1 MiB absolute-form MB/s / direct", NODE2, "bulk_f", 0.70, anchors2)
row("two hops: errors (sum of scenarios, median)", NODE2, "errors", 0, [], higher=False, fmt="{:.0f}")

print()
print(f"# targets (node medians over {len(reps)} repetition(s); anchor column = best anchor, median)")
print("| target | node | best anchor | target | verdict |")
print("|---|---:|---:|---:|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")

# per-repetition detail of the key ratios, to show the spread
print()
print("# per repetition (node): fwd, fwd_p99x, tun, setup/s, bulk_c, errors | two-hop: fwd, tun, setup/s, bulk_c, errors")
for r in reps:
    a, b = per.get((r, NODE)), per.get((r, NODE2))
    s = f"rep {r}: "
    if a:
        s += f"{a['fwd']:.3f} {a['fwd_p99x']:.2f} {a['tun']:.3f} {a['setup']:.0f} {a['bulk_c']:.3f} {a['errors']:.0f}"
    if b:
        s += f" | {b['fwd']:.3f} {b['tun']:.3f} {b['setup']:.0f} {b['bulk_c']:.3f} {b['errors']:.0f}"
    print(s)

# A/B: this node against the base binary of the same run (PF_NODE_BIN_BASE)
if any((r, BASE) in per for r in reps):
    print()
    print("# A/B: node / base, same run (median of the per-repetition quotients, min..max)")
    print("| hops | figure | node | base | node / base | range |")
    print("|---|---|---:|---:|---:|---|")
    figs = [("fwd", "http-forward rps / direct"), ("fwd_p99x", "http-forward p99 / direct p99"),
            ("tun", "CONNECT tunnel rps / direct"), ("setup", "new tunnels/s"),
            ("bulk_c", "1 MiB via CONNECT / direct"), ("bulk_f", "1 MiB absolute-form / direct")]
    for hops, a, b in (("1", NODE, BASE), ("2", NODE2, BASE2)):
        for k, name in figs:
            qs = [per[(r, a)][k] / per[(r, b)][k] for r in reps
                  if (r, a) in per and (r, b) in per and per[(r, b)][k] > 0]
            qs = [q for q in qs if q == q]
            if not qs:
                continue
            print(f"| {hops} | {name} | {med(series(a, k)):.3f} | {med(series(b, k)):.3f} | "
                  f"{med(qs):.3f} | {min(qs):.3f}..{max(qs):.3f} |")

# labels and bans against none, same run (bench/run.sh LABELS_BANS=1)
if any((r, LB) in per for r in reps):
    print()
    print(f"# {LB} (10,000 labelled upstreams, 1,000 bans, user-name labels) / "
          f"{LB_PLAIN} (one upstream, no bans, plain user), same run")
    print("| figure | with | without | with / without | range |")
    print("|---|---:|---:|---:|---|")
    for k, name in (("fwd", "http-forward rps / direct"), ("tun", "CONNECT tunnel rps / direct"),
                    ("setup", "new tunnels/s"), ("bulk_c", "1 MiB via CONNECT / direct"),
                    ("fwd_cpu", "http-forward requests per CPU-second (first hop)"),
                    ("tun_cpu", "requests in CONNECT tunnels per CPU-second (first hop)"),
                    ("setup_cpu", "new tunnels per CPU-second (first hop)")):
        qs = [per[(r, LB)][k] / per[(r, LB_PLAIN)][k] for r in reps
              if (r, LB) in per and (r, LB_PLAIN) in per and per[(r, LB_PLAIN)][k] > 0]
        qs = [q for q in qs if q == q]
        if qs:
            print(f"| {name} | {med(series(LB, k)):.3f} | {med(series(LB_PLAIN, k)):.3f} | "
                  f"{med(qs):.3f} | {min(qs):.3f}..{max(qs):.3f} |")
