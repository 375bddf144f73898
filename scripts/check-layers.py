#!/usr/bin/env python3
"""check-layers.py - fail on an upward include or an include cycle in src/.

The folders of src/ are layers, lowest first (doc/design.md):

    core  pkt  vhost  policy  ports  switch  evpn  ctl  main.c

A file may include headers of its own layer or of a lower one, never of a
higher one. Within a layer, modules (foo.c with foo.h) may use each other
only without a cycle. Every quoted include must name its folder
("core/log.h"), so the folder is the layer. Exit status 1 on any finding.

Usage: scripts/check-layers.py [SRC_DIR]   (default: src next to this script)
"""

import os
import re
import sys

LAYERS = ["core", "pkt", "vhost", "policy", "ports", "switch", "evpn", "ctl"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """Layer index of a path relative to src/; main.c sits above them all."""
    top = rel.split("/")[0]
    if top in LAYERS:
        return LAYERS.index(top)
    if rel == "main.c":
        return len(LAYERS)
    return None


def module_of(rel):
    """foo.c and foo.h are one module."""
    return os.path.splitext(rel)[0]


def scan(src):
    """Map each source file (relative path) to the headers it includes."""
    graph = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith((".c", ".h")):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, src)
                with open(path, encoding="utf-8") as fh:
                    graph[rel] = INCLUDE.findall(fh.read())
    return graph


def check_edges(src, graph):
    """Upward, unqualified or dangling includes; returns the findings."""
    bad = []
    for rel, incs in sorted(graph.items()):
        me = layer_of(rel)
        if me is None:
            bad.append(f"{rel}: not in a layer folder ({', '.join(LAYERS)})")
            continue
        for inc in incs:
            if not os.path.exists(os.path.join(src, inc)):
                bad.append(f"{rel}: includes \"{inc}\", which is not src/{inc}")
                continue
            it = layer_of(inc)
            if it is None or it > me:
                bad.append(f"{rel}: includes {inc}, a higher layer "
                           f"({LAYERS[it] if it is not None else '?'} above "
                           f"{LAYERS[me] if me < len(LAYERS) else 'main'})")
    return bad


def find_cycle(graph):
    """One module-level include cycle as a list of modules, or None."""
    edges = {}
    for rel, incs in graph.items():
        a = module_of(rel)
        edges.setdefault(a, set())
        for inc in incs:
            b = module_of(inc)
            if b != a:
                edges[a].add(b)
    state = {}
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    graph = scan(src)
    bad = check_edges(src, graph)
    cycle = find_cycle(graph)
    if cycle:
        bad.append("include cycle: " + " -> ".join(cycle))
    for b in bad:
        print(f"check-layers: {b}")
    print(f"check-layers: {len(graph)} files, {len(bad)} findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
