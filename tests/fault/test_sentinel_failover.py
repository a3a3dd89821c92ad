"""Redis Sentinel failover under client traffic (issue 11 item 1), with real
processes only: a redis-server master, one replica and three
redis-sentinel (down-after-milliseconds 1000, failover-timeout 5000) on
free loopback ports; two controllers (a leader and a standby) and two pool
nodes configured with redis.sentinels; two real upstream proxies (direct
nodes) to the test origin; the provider is the fake provider API.

While traffic flows through both nodes, the master is SIGKILLed.
Expected, and asserted:
  * 0 failed client requests (the nodes serve their cache meanwhile);
  * the controllers and both nodes on the new master within 10 s of the
    sentinels' +switch-master (read from their own "connected" log lines);
  * heartbeats (node hashes, the controller hash) and pool notices (a
    provider change published after the failover reaches both nodes)
    flowing again on the new master;
  * when the failover lost the snapshot (second test: deleted on the
    replica before the kill), a republish under a new epoch that both
    nodes converge on;
  * no write from a fenced or stale leader: the epochs published (the
    controllers' "pool published" lines) and served (the nodes' "pool
    reloaded" lines) never go back to an older term, the standby never
    publishes while the leader holds the lease, and pool:meta ends under
    the lease holder's epoch.

Each test prints a FIGURES line; docs/reliability.md quotes them."""

import calendar
import json
import re
import time
import unittest

from fault_util import FaultTestCase, Traffic, proxy_get
from pf_harness import wait_until

MASTER = "pfmaster"
REDIS_TIMEOUT_MS = 500
LEASE_MS = 6000
REPORT_MS = 300
SWITCH_BOUND_S = 10.0

STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")


def wall_of(line):
    """Wall-clock seconds of a binary's log line (UTC ISO stamp with ms)."""
    m = STAMP_RE.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1e3


def lines_after(proc, t_wall, needle):
    """(wall, line) of <proc>'s log lines holding <needle> at or after <t_wall>."""
    out = []
    for line in proc.log_text().splitlines():
        if needle in line:
            w = wall_of(line)
            if w is not None and w >= t_wall - 0.001:
                out.append((w, line))
    return out


class TestSentinelFailover(FaultTestCase):
    # -- the world ------------------------------------------------------------

    def world(self):
        f = self.fleet
        self.master = f.start_redis(name="master")
        self.replica = f.start_replica(self.master, name="replica",
                                       args=["--replica-read-only", "no"])
        self.sentinels = f.start_sentinels(self.master, 3, master_name=MASTER, down_after_ms=1000,
                                           failover_timeout_ms=5000)
        self.origin = f.start_origin()
        self.ups = [f.direct_upstream_node(name="up%d" % i) for i in range(3)]
        self.provider = f.start_fake_provider()
        self.set_upstreams(2)
        cfg = f.sentinel_redis_config(self.sentinels, MASTER, connect_timeout_ms=REDIS_TIMEOUT_MS,
                                      command_timeout_ms=REDIS_TIMEOUT_MS)
        self.ctls = [f.start_controller({"redis": cfg, "controller": {
            "lease_ms": LEASE_MS, "heartbeat_interval_ms": 500, "providers": [{
                "name": "api", "type": "api", "format": "lines",
                "url": self.provider.url("/list"), "interval_ms": 300, "timeout_ms": 2000,
                "connect_timeout_ms": 1000, "ttl_s": 300, "allow_private": True}]}},
            name=n) for n in ("ctl-a", "ctl-b")]
        self.nodes = [f.start_node({"redis": cfg, "node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 1000,
            "report_interval_ms": REPORT_MS}}, name=n) for n in ("node-a", "node-b")]
        for n in self.nodes:
            wait_until(lambda n=n: n.metric("pf_node_pool_size") == 2, 20,
                       "%s to serve the 2 upstreams" % n.name)
        self.leader = wait_until(lambda: self.lease_holder(self.master), 10, "a leader")

    def set_upstreams(self, n):
        self.provider.set("/list", scenario="good_text",
                          upstreams=["127.0.0.1:%d" % u.port for u in self.ups[:n]])

    def lease_holder(self, redis):
        """The controller whose token holds the lease in <redis>, or None."""
        tok = redis.cmd("GET", self.k.controller_lease)
        for c in self.ctls:
            if tok and tok.startswith(c.id + ":"):
                return c
        return None

    def target_of(self, b):
        st = json.loads(b.admin("/status" if b.kind == "controller" else "/stats")[1])
        return bool(st["redis_connected"]), st["redis_target"]

    def traffic(self):
        return [Traffic(n.port, self.origin.url("/failover-%s" % n.name), interval_s=0.05,
                        timeout=10).start() for n in self.nodes]

    # -- the drill ------------------------------------------------------------

    def failover(self, before_kill=None):
        """SIGKILLs the master under traffic; returns the figures dict and
        the traffic results. <before_kill> runs right before the kill."""
        new = "127.0.0.1:%d" % self.replica.port
        watches = [s.subscribe_switch() for s in self.sentinels]
        traffic = self.traffic()
        try:
            time.sleep(0.5)
            if before_kill:
                before_kill()
            t_kill, t_kill_wall = time.monotonic(), time.time()
            self.master.kill()
            watches[0].wait(30)
            # Every sentinel announces the switch when it adopts it; the
            # first announcement is the switch.
            for w in watches:
                w.wait(10)
            t_switch, t_switch_wall, payload = min(w.events[0] for w in watches)
            for w in watches:
                p = w.events[0][2]
                self.assertTrue(p.startswith(MASTER + " ") and
                                p.endswith(" 127.0.0.1 %d" % self.replica.port), p)
            binaries = self.ctls + self.nodes
            for b in binaries:
                wait_until(lambda b=b: self.target_of(b) == (True, new), SWITCH_BOUND_S,
                           "%s on the new master %s" % (b.name, new))
            time.sleep(1.0)
        finally:
            results = [t.stop() for t in traffic]
        # When each binary was on the new master, from its own log line.
        on_new = {}
        for b in binaries:
            needle = ("redis 127.0.0.1:%d: connected (master)" % self.replica.port
                      if b.kind == "controller" else
                      "redis: connected to 127.0.0.1:%d (master)" % self.replica.port)
            got = lines_after(b, t_kill_wall, needle)
            self.assertTrue(got, "%s never logged %r" % (b.name, needle))
            on_new[b.name] = round(got[0][0] - t_switch_wall, 3)
            self.assertLess(on_new[b.name], SWITCH_BOUND_S, (b.name, on_new))
            # The notice, the ROLE check and the reconnect all happened.
            self.assertTrue(lines_after(b, t_kill_wall, "+switch-master: master %s is now at "
                                        "127.0.0.1:%d" % (MASTER, self.replica.port)), b.name)
            self.assertGreaterEqual(b.metric("pf_%s_redis_master_moves_total" % b.kind), 1)
        flat = [x for r in results for x in r]
        failures = [x for x in flat if x[1] != 200]
        outage = [x for x in flat if t_kill <= x[0] <= t_switch + max(on_new.values())]
        figures = {
            "switch_after_kill_s": round(t_switch - t_kill, 3),
            "sentinels_switched_within_s": round(max(w.events[0][0] for w in watches) - t_switch,
                                                 3),
            "on_new_master_after_switch_s": on_new,
            "requests": len(flat), "requests_during_outage": len(outage),
            "failed": len(failures),
            "max_latency_s": round(max(x[2] for x in flat), 3),
        }
        self.assertEqual(failures, [], figures)
        self.assertGreaterEqual(len(outage), 20, figures)   # traffic really flowed meanwhile
        return figures, t_kill_wall

    def assert_flowing_again(self, t_kill_wall, figures):
        r = self.replica
        # Heartbeats: every node's hash and the controller's, rewritten.
        t_hb = time.monotonic()
        for n in self.nodes:
            u0 = int(r.hgetall(self.k.node(n.id)).get("updated_at_ms") or 0)
            wait_until(lambda n=n, u0=u0: int(r.hgetall(self.k.node(n.id)).get("updated_at_ms")
                                              or 0) > u0
                       and r.hgetall(self.k.node(n.id)).get("redis_connected") == "1",
                       5, "%s's heartbeat on the new master" % n.name)
        h0 = int(r.hgetall(self.k.controller).get("heartbeat_at_ms") or 0)
        wait_until(lambda: int(r.hgetall(self.k.controller).get("heartbeat_at_ms") or 0) > h0, 5,
                   "the controller heartbeat on the new master")
        figures["heartbeats_seen_s"] = round(time.monotonic() - t_hb, 3)
        # Pool notices: a provider change reaches both nodes through the new master.
        notices0 = [n.metric("pf_node_redis_notices_total") for n in self.nodes]
        t0 = time.monotonic()
        self.set_upstreams(3)
        for n in self.nodes:
            wait_until(lambda n=n: n.metric("pf_node_pool_size") == 3, 10,
                       "%s to get the change as a notice" % n.name)
        figures["notice_to_both_nodes_s"] = round(time.monotonic() - t0, 3)
        for n, before in zip(self.nodes, notices0):
            self.assertGreater(n.metric("pf_node_redis_notices_total"), before)
        # Requests go through the upstream the change added, too.
        third = self.ups[2]
        before = third.metric("pf_node_requests_total")
        for n in self.nodes:
            for i in range(6):
                status, _, _ = proxy_get(n.port, self.origin.url("/after-%d" % i))
                self.assertEqual(status, 200)
        self.assertGreater(third.metric("pf_node_requests_total"), before)
        self.assert_no_stale_writes(t_kill_wall)

    def assert_no_stale_writes(self, t_kill_wall):
        """The epochs published and served never go back to an older term;
        only the lease holder publishes; pool:meta ends under its epoch."""
        pub_re = re.compile(r"pool published: version (\d+) epoch (\S+),")
        # A term starts with an epoch; a leader that finds the snapshot gone
        # moves on to a new epoch within its term (publish.c).
        term_re = re.compile(r"(?:leader: epoch|snapshot missing .*, new epoch) ([0-9a-f]+)")
        events = []      # (wall, controller, line number, kind, epoch)
        for c in self.ctls:
            for i, line in enumerate(c.log_text().splitlines()):
                w = wall_of(line)
                m = pub_re.search(line)
                if m:
                    events.append((w, c.name, i, "pub", m.group(2)))
                m = term_re.search(line)
                if m:
                    events.append((w, c.name, i, "term", m.group(1)))
        # By time; lines of one controller stamped in the same millisecond
        # keep their log order.
        events.sort()
        terms = [e[4] for e in events if e[3] == "term"]
        self.assertEqual(len(terms), len(set(terms)), "an epoch used twice: %s" % terms)
        order = {ep: i for i, ep in enumerate(terms)}
        last = -1
        current = {}     # controller -> epoch of its latest term
        for w, name, _, kind, ep in events:
            if kind == "term":
                current[name] = ep
                continue
            self.assertEqual(current.get(name), ep,
                             "%s published outside its term's epoch" % name)
            self.assertGreaterEqual(order[ep], last, "a publish under an older term: %s" % (events,))
            last = order[ep]
        reload_re = re.compile(r"pool reloaded: version (\d+) \(was -?\d+\) epoch (\S+),")
        for n in self.nodes:
            seen = [reload_re.search(l).group(2) for l in n.log_text().splitlines()
                    if reload_re.search(l)]
            idx = [order[e] for e in seen if e in order]
            self.assertEqual(len(idx), len(seen), "%s served an epoch no term had" % n.name)
            self.assertEqual(idx, sorted(idx), "%s went back to an older epoch: %s" % (n.name, seen))
        holder = wait_until(lambda: self.lease_holder(self.replica), 10, "a lease holder")
        meta = self.replica.hgetall(self.k.pool_meta)
        self.assertEqual(meta.get("controller_id"), holder.id)
        self.assertEqual(meta.get("epoch"), json.loads(holder.admin("/status")[1])["epoch"])

    # -- scenarios ------------------------------------------------------------

    def test_master_sigkill_under_traffic(self):
        self.world()
        meta0 = self.master.hgetall(self.k.pool_meta)
        figures, t_kill_wall = self.failover()
        self.assert_flowing_again(t_kill_wall, figures)
        # The snapshot survived (replicated) and the leader kept its lease
        # (6 s, longer than the failover): no new term, no new epoch needed.
        meta = self.replica.hgetall(self.k.pool_meta)
        figures["epoch_changed"] = meta.get("epoch") != meta0.get("epoch")
        figures["leader_changed"] = self.lease_holder(self.replica) is not self.leader
        self.figures.update(figures)

    def test_snapshot_lost_in_failover_republished_under_new_epoch(self):
        self.world()
        meta0 = self.master.hgetall(self.k.pool_meta)

        def lose_snapshot():
            # The replica (read-only off) drops the snapshot: the failover
            # promotes a Redis without it.
            for key in (self.k.pool_meta, self.k.pool_upstreams, self.k.pool_expiry):
                self.replica.cmd("DEL", key)
            self.assertEqual(self.replica.cmd("EXISTS", self.k.pool_meta), 0)
        figures, t_kill_wall = self.failover(lose_snapshot)
        meta = wait_until(lambda: (lambda m: m if m.get("epoch") not in (None, meta0["epoch"])
                                   and m.get("count") == "2" else None)(
            self.replica.hgetall(self.k.pool_meta)), 10, "a republish under a new epoch")
        for n in self.nodes:
            wait_until(lambda n=n: self.replica.hgetall(self.k.node(n.id)).get("pool_epoch")
                       == meta["epoch"], 10, "%s to serve the new epoch" % n.name)
        figures["republished_epoch_changed"] = True
        self.assert_flowing_again(t_kill_wall, figures)
        self.figures.update(figures)


if __name__ == "__main__":
    unittest.main()
