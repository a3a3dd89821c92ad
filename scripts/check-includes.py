#!/usr/bin/env python3
"""Include-graph check of the C tree: no cycles among modules, no include
from common/ up into a binary's folder.

A module is X.c together with X.h in one folder (node/conn.c + node/conn.h
is the module node/conn; a header alone, such as common/upstream-t.h, is a
module too). Module A depends on module B when A.c or A.h has
`#include "B.h"`. An include resolves as the compiler sees it: the
including file's own folder first, then common/ (the one include folder
every target shares).

Fails (exit 1) on
  - any cycle: a strongly connected set of two or more modules; each is
    printed with one concrete loop through it;
  - any file in common/ whose include resolves into node/ or controller/,
    or names a header that exists only there (common/ is the library below
    both binaries).

Usage:
  scripts/check-includes.py [--root DIR] [--only GLOB ...]
  scripts/check-includes.py --self-test

--only keeps the modules whose name (e.g. "node/conn") matches one of the
globs and reports the cycles among them alone. --self-test runs the check
on the fixture trees in tests/includes/ and fails unless it finds the cycle
and the upward include planted there and passes the clean tree.
"""

import argparse
import fnmatch
import os
import re
import sys

FOLDERS = ("common", "redis_client", "fleet", "node", "controller", "ctl")
BINARIES = ("node", "controller", "ctl")
# The include folders each folder's target sees after its own, as CMake
# links them: common/ below everything; redis_client/ (the blocking Redis
# client) and fleet/ (the fleet status model) below the controller and ctl.
SEARCH = {
    "common": (),
    "redis_client": ("common",),
    "fleet": ("redis_client", "common"),
    "node": ("common",),
    "controller": ("fleet", "redis_client", "common"),
    "ctl": ("fleet", "redis_client", "common"),
}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(folder, filename):
    """"node/conn" for node/conn.c or node/conn.h; None for other files."""
    base, ext = os.path.splitext(filename)
    if ext not in (".c", ".h"):
        return None
    return folder + "/" + base


def resolve(root, folder, name):
    """The tree-relative path "folder/file.h" that #include "name" in a file
    of <folder> opens, or None when it is not a file of the tree (a system
    or generated header)."""
    for d in (folder,) + SEARCH.get(folder, ("common",)):
        path = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, path)):
            return path.replace(os.sep, "/")
    return None


def scan(root):
    """Returns (deps, upward): deps maps each module to the set of modules
    it includes; upward lists (file, include, where it lands) of common/
    files reaching into a binary's folder."""
    deps = {}
    upward = []
    for folder in FOLDERS:
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            continue
        for filename in sorted(os.listdir(d)):
            mod = module_of(folder, filename)
            if mod is None:
                continue
            deps.setdefault(mod, set())
            with open(os.path.join(d, filename), encoding="utf-8", errors="replace") as f:
                text = f.read()
            for name in INCLUDE_RE.findall(text):
                target = resolve(root, folder, name)
                if folder == "common":
                    lands = target
                    if target is None:   # a name only a binary's folder has
                        for b in BINARIES:
                            if os.path.isfile(os.path.join(root, b, name)):
                                lands = b + "/" + name
                    if lands is not None and lands.split("/")[0] in BINARIES:
                        upward.append((folder + "/" + filename, name, lands))
                        continue
                if target is None:
                    continue
                tfolder, tfile = target.rsplit("/", 1)
                tmod = module_of(tfolder, tfile)
                if tmod is not None and tmod != mod:
                    deps[mod].add(tmod)
    return deps, upward


def strongly_connected(deps):
    """Tarjan's algorithm, iterative. Returns the components of two or more
    modules, each sorted, in a stable order."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(deps):
        if start in index:
            continue
        work = [(start, iter(sorted(deps[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in deps:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(deps[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def loop_in(comp, deps):
    """One concrete loop through the first module of <comp>, as a list
    ending where it started (breadth-first: a shortest one)."""
    members = set(comp)
    start = comp[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(deps[v] & members):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp + [start]


def check(root, only=None, out=sys.stdout):
    """Runs the check on <root>; prints findings. Returns (cycles, upward)."""
    deps, upward = scan(root)
    if only:
        keep = {m for m in deps if any(fnmatch.fnmatch(m, g) for g in only)}
        deps = {m: deps[m] & keep for m in keep}
        upward = [u for u in upward
                  if any(fnmatch.fnmatch(module_of(*u[0].split("/")), g) for g in only)]
    cycles = strongly_connected(deps)
    for comp in cycles:
        print("check-includes: cycle among %s: %s" % (
            ", ".join(comp), " -> ".join(loop_in(comp, deps))), file=out)
    for f, name, lands in upward:
        print('check-includes: %s includes "%s" (%s): common/ must not include a '
              "binary's header" % (f, name, lands), file=out)
    print("check-includes: %d modules, %d cycles, %d upward includes" % (
        len(deps), len(cycles), len(upward)), file=out)
    return cycles, upward


def self_test(repo):
    """Checks the checker on tests/includes/: returns 0 when it finds what
    each fixture plants, 1 otherwise."""
    import io
    base = os.path.join(repo, "tests", "includes")
    failures = []

    def run(name):
        buf = io.StringIO()
        cycles, upward = check(os.path.join(base, name), out=buf)
        return cycles, upward, buf.getvalue()

    cycles, upward, text = run("clean")
    if cycles or upward:
        failures.append("clean tree reported findings:\n" + text)
    cycles, upward, text = run("cycle")
    want = [["node/a", "node/b", "node/c"]]
    if cycles != want or upward:
        failures.append("cycle tree: want cycles %r, got:\n%s" % (want, text))
    if "node/a -> node/b -> node/c -> node/a" not in text:
        failures.append("cycle tree: the loop is not printed:\n" + text)
    cycles, upward, text = run("upward")
    got = sorted((f, lands) for f, _, lands in upward)
    want_up = [("common/lib.c", "node/shell.h"), ("common/lib.h", "controller/ctl.h")]
    if cycles or got != want_up:
        failures.append("upward tree: want %r, got:\n%s" % (want_up, text))
    # --only narrows the graph: the same cycle tree is clean without node/c
    buf = io.StringIO()
    cycles, _ = check(os.path.join(base, "cycle"), only=["node/a", "node/b"], out=buf)
    if cycles:
        failures.append("--only node/a node/b still reports:\n" + buf.getvalue())
    for f in failures:
        print("check-includes self-test FAILED: " + f)
    if not failures:
        print("check-includes self-test: ok (clean, cycle, upward, --only)")
    return 1 if failures else 0


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=repo, help="tree to check (default: this repository)")
    ap.add_argument("--only", nargs="+", metavar="GLOB",
                    help='check only modules matching these globs, e.g. "node/conn*"')
    ap.add_argument("--self-test", action="store_true",
                    help="run the checker on the fixtures in tests/includes/")
    args = ap.parse_args()
    if args.self_test:
        return self_test(repo)
    cycles, upward = check(args.root, args.only)
    return 1 if cycles or upward else 0


if __name__ == "__main__":
    sys.exit(main())
