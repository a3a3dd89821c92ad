"""Monitoring artefacts (issue 13 item 3), checked with promtool (Debian's
prometheus package):

- docs/prometheus/alerts.yml passes `promtool check rules`, and its unit
  tests tests/prometheus/alerts_test.yml pass `promtool test rules`; every
  alert of the rules has a test where it fires and one where it stays
  silent, and every alert a test names exists;
- every alert has a severity, a summary, a description and a runbook_url
  whose anchor is a heading of docs/monitoring.md;
- docs/grafana/proxyfleet.json is a dashboard Grafana can import: a
  schemaVersion, a Prometheus datasource variable every panel and target
  uses, unique ids, panels inside the 24-column grid without overlap, and
  a PromQL expr in every panel that `promtool check rules` parses (each expr
  becomes a recording rule of a generated rules file, after the dashboard's
  variables are replaced);
- every metric named in the rules and in the dashboard is a row of
  docs/metrics.md (generated from the binaries' metric tables), and every
  label they select or group by is a label of one of the metrics of that
  expression (or job, instance, le): a renamed metric or label fails here;
- docker/prometheus/prometheus.yml (the compose "monitoring" profile)
  passes `promtool check config` with the rules loaded, and discovers the
  nodes and the controllers through DNS.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from pf_harness import SOURCE_DIR, _require_tool

RULES = os.path.join(SOURCE_DIR, "docs", "prometheus", "alerts.yml")
RULE_TESTS = os.path.join(SOURCE_DIR, "tests", "prometheus", "alerts_test.yml")
DASHBOARD = os.path.join(SOURCE_DIR, "docs", "grafana", "proxyfleet.json")
METRICS_DOC = os.path.join(SOURCE_DIR, "docs", "metrics.md")
MONITORING_DOC = os.path.join(SOURCE_DIR, "docs", "monitoring.md")
PROM_CONFIG = os.path.join(SOURCE_DIR, "docker", "prometheus", "prometheus.yml")

# Labels every scraped series has (target labels), whatever its metric.
TARGET_LABELS = {"job", "instance"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
                   "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}
GRAFANA_INTERVALS = {"__rate_interval", "__interval", "__range"}


def promtool(*args):
    """(exit code, output) of promtool <args>."""
    p = subprocess.run([_require_tool("promtool")] + list(args), capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).strip()


def doc_metrics():
    """{name: (type, set of labels)} of every row of both tables of
    docs/metrics.md."""
    with open(METRICS_DOC) as f:
        text = f.read()
    out = {}
    for binary in ("node", "controller"):
        block = text.split("<!-- metrics:%s -->" % binary, 1)[1].split("<!-- end metrics:", 1)[0]
        rows = re.findall(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram) \| ([^|]+) \|",
                          block, re.M)
        if len(rows) < 20:
            raise AssertionError("docs/metrics.md: %d rows for %s" % (len(rows), binary))
        for name, mtype, labels in rows:
            out[name] = (mtype, set(re.findall(r"`([a-z_]+)`", labels)))
    return out


_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def promql_refs(expr):
    """(metric names, label names) an expression refers to: the names of its
    vector selectors, and the labels of its matchers and of its by, without,
    on, ignoring, group_left and group_right clauses."""
    labels = set()
    metrics = set()

    def selector(m):
        for lm in _MATCHER.finditer(m.group(1)):
            labels.add(lm.group(1))
        rest = _MATCHER.sub("", m.group(1)).replace(",", "").strip()
        if rest:
            raise AssertionError("unparsed matcher %r in %r" % (rest, expr))
        return " "

    e = re.sub(r"\{([^{}]*)\}", selector, expr)
    if '"' in e:
        # a string outside a selector (label_replace ...): not used here
        raise AssertionError("string literal outside a selector in %r" % expr)
    for cm in _CLAUSE.finditer(e):
        labels.update(x.strip() for x in cm.group(2).split(",") if x.strip())
    e = _CLAUSE.sub(" ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)                     # ranges, subqueries
    e = re.sub(r"\boffset\s+-?[0-9smhdwy]+", " ", e)      # offset modifiers
    e = re.sub(r"(?<![a-zA-Z_:0-9])[0-9][0-9.eE+\-]*", " ", e)  # numbers
    for im in _IDENT.finditer(e):
        name = im.group(0)
        if re.match(r"\s*\(", e[im.end():]) or name.lower() in PROMQL_KEYWORDS:
            continue                                      # function, aggregator, keyword
        metrics.add(name)
    return metrics, labels


def metric_problems(expr, known):
    """What in <expr> docs/metrics.md (<known>, from doc_metrics()) does not
    know: one string per problem, [] when all is known."""
    problems = []
    metrics, labels = promql_refs(expr)
    if not metrics:
        problems.append("no metric in %r" % expr)
    allowed = set(TARGET_LABELS)
    for name in sorted(metrics):
        base = name
        if name not in known:
            for suffix in HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and known.get(name[: -len(suffix)], ("",))[0] == "histogram":
                    base = name[: -len(suffix)]
                    if suffix == "_bucket":
                        allowed.add("le")
                    break
            else:
                problems.append("metric %s is not in docs/metrics.md" % name)
                continue
        allowed |= known[base][1]
    for label in sorted(labels - allowed):
        problems.append("label %s is not a label of %s" % (label, ", ".join(sorted(metrics))))
    return problems


def load_rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs(dash):
    """[(where, expr)] of every panel target and every query variable."""
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %d %r target %s" % (p["id"], p["title"], t.get("refId")),
                        t.get("expr", "")))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", q)
            if m is None:
                raise AssertionError("variable %s: not label_values(selector, label): %r"
                                     % (v["name"], q))
            out.append(("variable %s" % v["name"], m.group(1)))
            out.append(("variable %s label" % v["name"], "%s{%s!=\"\"}" % (m.group(1).split("{")[0], m.group(2))))
    return out


def substitute_vars(expr, names):
    """<expr> with Grafana's variables replaced as a query would see them:
    intervals by 5m, the dashboard's own variables (<names>) by ".*" (they
    select with =~ and their All value is .*). An unknown variable raises."""
    def one(m):
        name = m.group(1) or m.group(2)
        if name in GRAFANA_INTERVALS:
            return "5m"
        if name in names:
            return ".*"
        raise AssertionError("unknown variable $%s in %r" % (name, expr))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _require_tool("promtool")
        cls.known = doc_metrics()
        cls.rules = load_rules()
        with open(DASHBOARD) as f:
            cls.dash = json.load(f)

    # ---- alert rules -------------------------------------------------------
    def test_promtool_checks_the_rules(self):
        rc, out = promtool("check", "rules", RULES)
        self.assertEqual(rc, 0, out)
        alerts = [r for r in self.rules if "alert" in r]
        self.assertIn("SUCCESS: %d rules found" % len(self.rules), out)
        self.assertGreaterEqual(len(alerts), 7, "the issue names seven conditions")

    def test_promtool_unit_tests_of_the_rules_pass(self):
        rc, out = promtool("test", "rules", RULE_TESTS)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_every_alert_is_tested_firing_and_silent(self):
        with open(RULE_TESTS) as f:
            tests = yaml.safe_load(f)
        self.assertEqual([os.path.normpath(os.path.join(os.path.dirname(RULE_TESTS), p))
                          for p in tests["rule_files"]], [os.path.normpath(RULES)])
        firing, silent = set(), set()
        for t in tests["tests"]:
            for a in t.get("alert_rule_test", []):
                (firing if a.get("exp_alerts") else silent).add(a["alertname"])
        names = {r["alert"] for r in self.rules if "alert" in r}
        self.assertEqual(sorted((firing | silent) - names), [],
                         "tests name alerts the rules do not have")
        self.assertEqual(sorted(names - firing), [], "alerts never tested firing")
        self.assertEqual(sorted(names - silent), [], "alerts never tested silent")
        # the conditions issue 13 lists, each by its alert
        for name in ("PfNoLeader", "PfNodePoolVersionLagging", "PfProviderFailing",
                     "PfProviderBreakerOpen", "PfNodeNoUsableUpstream", "PfNode5xxRatioHigh",
                     "PfNodeRedisDisconnected", "PfFdsNearLimit"):
            self.assertIn(name, names)

    def test_every_alert_has_severity_and_runbook(self):
        with open(MONITORING_DOC) as f:
            anchors = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
                       for h in re.findall(r"^#+ (.*)$", f.read(), re.M)}
        for r in self.rules:
            if "alert" not in r:
                continue
            with self.subTest(alert=r["alert"]):
                self.assertIn(r["labels"]["severity"], ("critical", "warning"))
                for key in ("summary", "description", "runbook_url"):
                    self.assertTrue(r["annotations"].get(key), key)
                url = r["annotations"]["runbook_url"]
                self.assertEqual(url, "docs/monitoring.md#" + r["alert"].lower())
                self.assertIn(url.split("#", 1)[1], anchors,
                              "docs/monitoring.md has no heading for " + r["alert"])

    def test_rules_use_only_documented_metrics_and_labels(self):
        for r in self.rules:
            with self.subTest(rule=r.get("alert") or r.get("record")):
                self.assertEqual(metric_problems(r["expr"], self.known), [])

    # ---- the name and label check itself ---------------------------------
    def test_metric_check_catches_renames(self):
        k = self.known
        self.assertEqual(metric_problems(
            'sum by (job, instance, code) (rate(pf_node_errors_total{code=~"5.."}[5m]))', k), [])
        self.assertEqual(metric_problems(
            'histogram_quantile(0.9, sum by (le) (rate(pf_node_ttfb_seconds_bucket[5m])))', k), [])
        self.assertEqual(metric_problems(
            'pf_node_pool_version < on (job) group_left () max by (job) (pf_node_pool_version offset 1m)', k), [])
        self.assertEqual(metric_problems("rate(pf_node_errors_502_total[5m])", k),
                         ["metric pf_node_errors_502_total is not in docs/metrics.md"])
        self.assertEqual(metric_problems('pf_node_errors_total{status="502"}', k),
                         ["label status is not a label of pf_node_errors_total"])
        self.assertEqual(metric_problems("sum by (provider) (pf_node_requests_total)", k),
                         ["label provider is not a label of pf_node_requests_total"])
        self.assertEqual(metric_problems("rate(pf_node_requests_total_bucket[5m])", k),
                         ["metric pf_node_requests_total_bucket is not in docs/metrics.md"])
        self.assertEqual(metric_problems("sum by (le) (pf_node_ttfb_seconds_sum)", k),
                         ["label le is not a label of pf_node_ttfb_seconds_sum"])
        self.assertEqual(metric_problems("absent(pf_controller_lease_held)", k),
                         ["metric pf_controller_lease_held is not in docs/metrics.md"])

    # ---- dashboard ---------------------------------------------------------
    def test_dashboard_structure(self):
        d = self.dash
        self.assertIsInstance(d.get("schemaVersion"), int)
        self.assertGreaterEqual(d["schemaVersion"], 30)
        self.assertTrue(d.get("title"))
        self.assertRegex(d.get("uid", ""), r"^[a-zA-Z0-9_-]{1,40}$")
        self.assertNotIn("id", d, "an exported dashboard has no database id")
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = variables.get("datasource")
        self.assertIsNotNone(ds, "no datasource variable")
        self.assertEqual((ds["type"], ds["query"]), ("datasource", "prometheus"))
        ref = {"type": "prometheus", "uid": "${datasource}"}
        for v in variables.values():
            if v["type"] == "query":
                self.assertEqual(v["datasource"], ref, v["name"])
        ids = [p["id"] for p in d["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "duplicate panel ids")
        cells = {}
        graphs = 0
        for p in d["panels"]:
            g = p["gridPos"]
            self.assertTrue(0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0,
                            p["title"])
            for cx in range(g["x"], g["x"] + g["w"]):
                for cy in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((cx, cy), cells, "%r overlaps %r" % (p["title"], cells.get((cx, cy))))
                    cells[(cx, cy)] = p["title"]
            if p["type"] == "row":
                self.assertNotIn("targets", p)
                continue
            graphs += 1
            self.assertIn(p["type"], ("timeseries", "state-timeline", "stat", "gauge", "table"))
            self.assertEqual(p["datasource"], ref, p["title"])
            self.assertTrue(p["targets"], p["title"])
            refids = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refids), len(set(refids)), p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"], ref, p["title"])
                self.assertTrue(t["expr"].strip(), p["title"])
        self.assertGreaterEqual(graphs, 10)

    def test_dashboard_covers_the_issue_panels(self):
        exprs = " ".join(e for _, e in dashboard_exprs(self.dash))
        missing = [needle for needle in ("rate(pf_node_requests_total", "(instance, code) (rate(pf_node_errors_total",
                       "histogram_quantile(0.99, sum by (le) (rate(pf_node_ttfb_seconds_bucket",
                       "rate(pf_node_tunnels_total", "(state) (pf_controller_health_upstreams",
                       "rate(pf_controller_polls_total", "rate(pf_controller_poll_failures_total",
                       "pf_controller_breaker_state", "pf_node_pool_version",
                       "pf_node_redis_connected", "pf_controller_redis_connected",
                       "pf_controller_leader") if needle not in exprs]
        self.assertEqual(missing, [], "no panel queries these")

    def test_dashboard_uses_only_documented_metrics_and_labels(self):
        names = {v["name"] for v in self.dash["templating"]["list"]}
        for where, expr in dashboard_exprs(self.dash):
            with self.subTest(where=where):
                self.assertEqual(metric_problems(substitute_vars(expr, names), self.known), [])

    def test_promtool_parses_every_dashboard_expr(self):
        names = {v["name"] for v in self.dash["templating"]["list"]}
        exprs = dashboard_exprs(self.dash)
        rules = [{"record": "pf_dashboard:expr_%d" % i, "expr": substitute_vars(e, names)}
                 for i, (_, e) in enumerate(exprs)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dashboard_rules.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            rc, out = promtool("check", "rules", path)
            self.assertEqual(rc, 0, out)
            self.assertIn("SUCCESS: %d rules found" % len(rules), out)
            # the check is live: a broken expr is refused
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
                    {"record": "pf_dashboard:broken", "expr": "sum by (le (rate(x[5m]))"}]}]}, f)
            rc, out = promtool("check", "rules", path)
            self.assertNotEqual(rc, 0, out)

    # ---- Prometheus of the compose profile ------------------------------------
    def test_compose_prometheus_config(self):
        with open(PROM_CONFIG) as f:
            cfg = yaml.safe_load(f)
        self.assertEqual(cfg["rule_files"], ["/etc/prometheus/rules/alerts.yml"])
        jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
        sd = {name: jobs[name]["dns_sd_configs"] for name in ("proxyfleet-node", "proxyfleet-controller")}
        self.assertEqual(sd["proxyfleet-node"],
                         [{"names": ["node"], "type": "A", "port": 3180, "refresh_interval": "5s"}])
        self.assertEqual(sd["proxyfleet-controller"],
                         [{"names": ["controller"], "type": "A", "port": 3190, "refresh_interval": "5s"}])
        # promtool reads the rule file at the path the container mounts it;
        # here it sits next to a copy of the config.
        with tempfile.TemporaryDirectory() as tmp:
            cfg["rule_files"] = ["alerts.yml"]
            with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
                yaml.safe_dump(cfg, f)
            shutil.copy(RULES, os.path.join(tmp, "alerts.yml"))
            rc, out = promtool("check", "config", os.path.join(tmp, "prometheus.yml"))
            self.assertEqual(rc, 0, out)
            self.assertIn("SUCCESS: 1 rule files found", out)
            self.assertIn("SUCCESS: %d rules found" % len(self.rules), out)


if __name__ == "__main__":
    unittest.main()
