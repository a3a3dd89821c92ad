#!/usr/bin/env python3
"""Asks a running Prometheus about a proxyfleet fleet, for
scripts/compose-check.sh (the compose "monitoring" profile). Standard
library only.

Usage:
  monitoring-check.py targets URL
      prints "<node targets> <node targets up> <controller targets up>
      <alert rules loaded>" (jobs proxyfleet-node, proxyfleet-controller)
  monitoring-check.py alerts URL
      exit 0 when every alert rule is inactive (its expression selects
      nothing), else prints "<alert>=<state>" for the others and exits 1
  monitoring-check.py dashboard URL DASHBOARD_JSON
      runs every query of the dashboard (its variables replaced as
      "All" would: ".*", intervals 1m) as an instant query; exit 0 when
      every panel has data (at least one series), else prints the empty
      panels and exits 1. Panels that need controller.health, which the
      compose controller does not enable, may be empty.
URL is Prometheus' base URL, e.g. http://127.0.0.1:9090.
Exit status: 0 ok, 1 a check failed, 2 usage or Prometheus unreachable.
"""

import json
import re
import sys
import urllib.parse
import urllib.request

# Panels whose every query needs controller.health (docs/configuration.md),
# off in docker/config/controller.json.
NEEDS_HEALTH = {"Health probe latency (quantiles)"}
GRAFANA_INTERVALS = {"__rate_interval", "__interval", "__range"}


def get(base, path, params=None):
    url = base.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError("%s: %s" % (path, doc.get("error", doc.get("status"))))
    return doc["data"]


def cmd_targets(base):
    t = get(base, "/api/v1/targets", {"state": "active"})["activeTargets"]
    r = get(base, "/api/v1/rules", {"type": "alert"})["groups"]
    node = [x for x in t if x["labels"].get("job") == "proxyfleet-node"]
    ctl = [x for x in t if x["labels"].get("job") == "proxyfleet-controller" and x["health"] == "up"]
    print(len(node), sum(x["health"] == "up" for x in node), len(ctl),
          sum(len(g["rules"]) for g in r))
    return 0


def cmd_alerts(base):
    groups = get(base, "/api/v1/rules", {"type": "alert"})["groups"]
    bad = ["%s=%s" % (r["name"], r["state"]) for g in groups for r in g["rules"]
           if r["state"] != "inactive"]
    if not groups or bad:
        print(" ".join(bad) or "no alert rule loaded")
        return 1
    return 0


def substitute(expr):
    def one(m):
        name = m.group(1) or m.group(2)
        return "1m" if name in GRAFANA_INTERVALS else ".*"
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def cmd_dashboard(base, path):
    with open(path) as f:
        dash = json.load(f)
    empty, n = [], 0
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        n += 1
        series = 0
        for t in p["targets"]:
            series += len(get(base, "/api/v1/query", {"query": substitute(t["expr"])})["result"])
        if series == 0 and p["title"] not in NEEDS_HEALTH:
            empty.append(p["title"])
    if empty:
        print("panels without data: " + ", ".join(repr(t) for t in empty))
        return 1
    print("%d panels, %d allowed empty (controller.health off)" % (n, len(NEEDS_HEALTH)))
    return 0


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "targets":
            return cmd_targets(argv[2])
        if len(argv) == 3 and argv[1] == "alerts":
            return cmd_alerts(argv[2])
        if len(argv) == 4 and argv[1] == "dashboard":
            return cmd_dashboard(argv[2], argv[3])
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print("prometheus: %s" % e)
        return 2
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
