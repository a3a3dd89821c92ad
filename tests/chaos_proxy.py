"""A small chaos TCP proxy for the fault-injection tests (stdlib only).

It sits between a client and a target on loopback and misbehaves on demand:

  pass       forward both ways
  delay      forward, sleeping <delay_ms> before each chunk (both ways)
  drop       accept new connections, then close them at once (no forwarding)
  blackhole  new connections are accepted and read, never answered nor
             forwarded (the target is not even dialled); EXISTING connections
             freeze: nothing more is read or forwarded either way, as in a
             silent partition where TCP keeps retransmitting. They resume if
             the mode goes back to pass (the peers have usually given up by
             then, which is the point).
  slow       forward <slow_bps> bytes per second (default 1), both ways

and, whatever the mode:
  cut()      close every existing connection (both sides), keep listening
  stop()     stop listening (new connects are refused) and close everything
  start()    listen again on the same port

Python API (what the tests use):

    from chaos_proxy import ChaosProxy
    cp = ChaosProxy(("127.0.0.1", target_port)).start()
    cp.port                   # where clients connect
    cp.set_mode("blackhole")  # or set_mode("delay", delay_ms=200)
    cp.cut(); cp.stop(); cp.start(); cp.stats(); cp.close()

Command line (a control port speaking one JSON object per line, answered
by one JSON line):

    python3 tests/chaos_proxy.py --listen 127.0.0.1:7000 \
        --target 127.0.0.1:6379 --control 127.0.0.1:7001
    echo '{"cmd":"mode","mode":"delay","delay_ms":100}' | nc -q1 127.0.0.1 7001
    commands: mode (mode, delay_ms, slow_bps), cut, stop, start, stats, quit

Bounded by construction: every socket has a timeout or is polled with one,
every thread is a daemon that re-checks its stop flag at least every
POLL_S, stop()/close() close every connection and join the threads with a
deadline, and a proxy is one listener plus two threads per connection."""

import argparse
import json
import select
import socket
import sys
import threading
import time

MODES = ("pass", "delay", "drop", "blackhole", "slow")
POLL_S = 0.05            # longest time a thread goes without looking at its flags
CHUNK = 65536
JOIN_S = 2.0             # per-thread join deadline on stop/close
DIAL_TIMEOUT_S = 2.0     # connect to the target


class _Conn:
    """One accepted client and, unless black-holed at accept, its target."""

    def __init__(self, proxy, client, peer):
        self.proxy = proxy
        self.client = client
        self.peer = peer
        self.target = None
        self.closed = threading.Event()
        self.threads = []
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
            for s in (self.client, self.target):
                if s is None:
                    continue
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        self.proxy._forget(self)

    def _sleep(self, seconds):
        """Interruptible sleep; False when the connection closed meanwhile."""
        return not self.closed.wait(seconds)

    def sink(self):
        """Black-holed at accept: read and discard until the peer or we close."""
        try:
            while not self.closed.is_set():
                r, _, _ = select.select([self.client], [], [], POLL_S)
                if not r:
                    continue
                data = self.client.recv(CHUNK)
                if not data:
                    break
                self.proxy._count("discarded", len(data))
        except (OSError, ValueError):
            pass
        self.close()

    def pump(self, src, dst, label):
        """Copies src -> dst obeying the proxy's current mode."""
        try:
            while not self.closed.is_set():
                mode = self.proxy.mode
                if mode == "blackhole":
                    # Frozen: read nothing, so the sender's data waits in
                    # kernel buffers as it would behind a silent partition.
                    if not self._sleep(POLL_S):
                        break
                    continue
                r, _, _ = select.select([src], [], [], POLL_S)
                if not r:
                    continue
                mode = self.proxy.mode
                if mode == "blackhole":
                    continue
                if mode == "slow":
                    bps = max(1, int(self.proxy.slow_bps))
                    data = src.recv(bps)
                else:
                    data = src.recv(CHUNK)
                if not data:
                    break
                if mode == "delay" and self.proxy.delay_ms > 0:
                    if not self._sleep(self.proxy.delay_ms / 1000.0):
                        break
                if mode == "slow":
                    for i in range(len(data)):
                        dst.sendall(data[i:i + 1])
                        self.proxy._count(label, 1)
                        if not self._sleep(1.0 / max(1, int(self.proxy.slow_bps))):
                            return
                    continue
                dst.sendall(data)
                self.proxy._count(label, len(data))
        except (OSError, ValueError):
            pass
        finally:
            self.close()


class ChaosProxy:
    """See the module docstring. <target> is (host, port); <listen_port> 0
    picks a free port, kept across stop()/start()."""

    def __init__(self, target, listen_host="127.0.0.1", listen_port=0, mode="pass",
                 delay_ms=0, slow_bps=1):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        self.target = tuple(target)
        self.host = listen_host
        self.port = listen_port
        self.mode = mode
        self.delay_ms = delay_ms
        self.slow_bps = slow_bps
        self._lsock = None
        self._accept_thread = None
        self._stop_accept = threading.Event()
        self._conns = set()
        self._lock = threading.Lock()
        self._counters = {"accepted": 0, "dropped": 0, "blackholed": 0, "dial_failures": 0,
                          "cut": 0, "up": 0, "down": 0, "discarded": 0}

    # -- control ---------------------------------------------------------------

    def start(self):
        """Starts (or resumes) listening. Returns self."""
        if self._lsock is not None:
            return self
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                s.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    s.close()
                    raise
                time.sleep(0.05)
        s.listen(128)
        self.port = s.getsockname()[1]
        self._lsock = s
        self._stop_accept = threading.Event()
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(s, self._stop_accept),
                                               name="chaos-accept-%d" % self.port, daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        """Stops listening (connects are refused) and closes every connection."""
        s, self._lsock = self._lsock, None
        if s is not None:
            self._stop_accept.set()
            try:
                s.close()
            except OSError:
                pass
            if self._accept_thread is not None:
                self._accept_thread.join(JOIN_S)
        self.cut()

    close = stop

    def set_mode(self, mode, delay_ms=None, slow_bps=None):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        if delay_ms is not None:
            self.delay_ms = int(delay_ms)
        if slow_bps is not None:
            self.slow_bps = int(slow_bps)
        self.mode = mode

    def cut(self):
        """Closes every existing connection (both sides). Returns how many."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close()
        threads = [t for c in conns for t in c.threads]
        deadline = time.monotonic() + JOIN_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._count("cut", len(conns))
        return len(conns)

    def active(self):
        with self._lock:
            return len(self._conns)

    def is_listening(self):
        return self._lsock is not None

    def stats(self):
        with self._lock:
            out = dict(self._counters)
            out["active"] = len(self._conns)
        out.update(mode=self.mode, port=self.port, listening=self.is_listening(),
                   delay_ms=self.delay_ms, slow_bps=self.slow_bps)
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- internals -------------------------------------------------------------

    def _count(self, name, n=1):
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def _forget(self, conn):
        with self._lock:
            self._conns.discard(conn)

    def _accept_loop(self, lsock, stop):
        while not stop.is_set():
            try:
                r, _, _ = select.select([lsock], [], [], POLL_S)
                if not r:
                    continue
                client, peer = lsock.accept()
            except (OSError, ValueError):
                if stop.is_set():
                    return
                time.sleep(POLL_S)
                continue
            self._count("accepted")
            mode = self.mode
            if mode == "drop":
                self._count("dropped")
                try:
                    client.close()
                except OSError:
                    pass
                continue
            conn = _Conn(self, client, peer)
            with self._lock:
                self._conns.add(conn)
            if mode == "blackhole":
                self._count("blackholed")
                t = threading.Thread(target=conn.sink, daemon=True, name="chaos-sink")
                conn.threads = [t]
                t.start()
                continue
            t = threading.Thread(target=self._dial_and_pump, args=(conn,), daemon=True,
                                 name="chaos-dial")
            conn.threads = [t]
            t.start()

    def _dial_and_pump(self, conn):
        try:
            target = socket.create_connection(self.target, timeout=DIAL_TIMEOUT_S)
            target.settimeout(None)
        except OSError:
            self._count("dial_failures")
            conn.close()
            return
        with conn.lock:
            if conn.closed.is_set():
                target.close()
                return
            conn.target = target
        back = threading.Thread(target=conn.pump, args=(target, conn.client, "down"), daemon=True,
                                name="chaos-down")
        conn.threads.append(back)
        back.start()
        conn.pump(conn.client, target, "up")


# -- command line / control port ---------------------------------------------

def _hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def _handle_control(proxy, line):
    try:
        req = json.loads(line)
        cmd = req.get("cmd")
        if cmd == "mode":
            proxy.set_mode(req["mode"], req.get("delay_ms"), req.get("slow_bps"))
        elif cmd == "cut":
            return {"ok": True, "cut": proxy.cut()}
        elif cmd == "stop":
            proxy.stop()
        elif cmd == "start":
            proxy.start()
        elif cmd == "stats":
            pass
        elif cmd == "quit":
            return {"ok": True, "quit": True}
        else:
            return {"ok": False, "error": "unknown cmd %r" % (cmd,)}
        return {"ok": True, "stats": proxy.stats()}
    except (ValueError, KeyError, TypeError, OSError) as e:
        return {"ok": False, "error": str(e)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="host:port (port 0 = any)")
    ap.add_argument("--target", required=True, help="host:port")
    ap.add_argument("--control", help="host:port of the JSON control port")
    ap.add_argument("--mode", default="pass", choices=MODES)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--slow-bps", type=int, default=1)
    args = ap.parse_args(argv)
    lh, lp = _hostport(args.listen)
    proxy = ChaosProxy(_hostport(args.target), lh, lp, args.mode, args.delay_ms,
                       args.slow_bps).start()
    sys.stdout.write("chaos proxy listening on %s:%d -> %s:%d\n"
                     % (lh, proxy.port, proxy.target[0], proxy.target[1]))
    sys.stdout.flush()
    if not args.control:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            proxy.close()
        return 0
    ch, cport = _hostport(args.control)
    cs = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    cs.bind((ch, cport))
    cs.listen(8)
    try:
        while True:
            c, _ = cs.accept()
            c.settimeout(10.0)
            quit_now = False
            try:
                with c.makefile("rwb") as f:
                    for _ in range(1000):
                        line = f.readline(65536)
                        if not line.strip():
                            break
                        resp = _handle_control(proxy, line.decode(errors="replace"))
                        f.write((json.dumps(resp) + "\n").encode())
                        f.flush()
                        if resp.get("quit"):
                            quit_now = True
                            break
            except OSError:
                pass
            finally:
                c.close()
            if quit_now:
                break
    except KeyboardInterrupt:
        pass
    finally:
        cs.close()
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
