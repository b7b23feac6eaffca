#!/usr/bin/env python3
"""Fails when modules of a workspace crate import each other in a cycle.

Usage: scripts/check-cycles.py [CRATE_DIR ...]   (default: every member)

How it reads the code:
- A module is a file under `src/` (`a/b.rs` or `a/b/mod.rs` is `a::b`;
  `lib.rs` and `main.rs` are each the root of their own crate, and so is
  every file under `src/bin/`).
- A reference is a `use` path or a path in the code that starts with
  `crate::`, `super::`, `self::`, a child module or a module brought in by a
  `use`. It points at the longest module prefix of the path. `mod x;`
  declarations and `pub use` re-exports of a module's own children are not
  references: they publish, they do not depend.
- Unit tests (`#[cfg(test)] mod tests { ... }`) are left out: they may use
  anything of their crate.
- Modules are compared as siblings: a reference from `a::x::y` to `b::z`
  counts as `a -> b` under their common parent, and a reference between a
  module and its own descendant as one between the module's own file
  (`a (self)`) and the child that holds the descendant. A cycle among the
  siblings of one parent is reported with one reference for each step.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def members():
    text = open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8").read()
    found = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    return [m for m in re.findall(r'"([^"]+)"', found.group(1))] if found else []


def strip_comments_and_strings(src):
    """Blanks out comments and string literals, keeping line numbers."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * src.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 40]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            end = src.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * src.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i + 12]):
            m = re.match(r"'(\\[^']*|[^\\'])'", src[i:i + 12])
            out.append("' '")
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_unit_tests(src):
    """Cuts `#[cfg(test)] mod name { ... }` blocks out of stripped source."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src)
        if not m:
            return src
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        src = src[:m.start()] + "\n" * src.count("\n", m.start(), j) + src[j:]


def parse_use_tree(text):
    """`a::{b, c::d as e, f::*}` -> [(path segments, bound name or None)]."""
    pos = 0

    def tree(prefix):
        nonlocal pos
        results = []
        segs = list(prefix)
        while True:
            m = re.compile(r"\s*(\{|\*|[A-Za-z_][A-Za-z0-9_]*)").match(text, pos)
            if not m:
                return results
            tok = m.group(1)
            pos = m.end()
            if tok == "{":
                while True:
                    results += tree(segs)
                    m2 = re.compile(r"\s*([,}])").match(text, pos)
                    if not m2:
                        return results
                    pos = m2.end()
                    if m2.group(1) == "}":
                        break
                    if re.compile(r"\s*\}").match(text, pos):
                        pos = re.compile(r"\s*\}").match(text, pos).end()
                        break
                return results
            if tok == "*":
                results.append((segs, None))
                return results
            if tok == "self" and segs:
                results.append((segs, segs[-1]))
                return results
            segs = segs + [tok]
            sep = re.compile(r"\s*::").match(text, pos)
            if sep:
                pos = sep.end()
                continue
            alias = re.compile(r"\s+as\s+([A-Za-z_][A-Za-z0-9_]*)").match(text, pos)
            if alias:
                pos = alias.end()
                results.append((segs, alias.group(1)))
            else:
                results.append((segs, segs[-1]))
            return results

    return tree([])


class Crate:
    def __init__(self, name, root_file, files):
        self.name = name
        self.root_file = root_file
        self.modules = {}  # tuple(path) -> file
        self.reexports = {}  # module -> {name: absolute path it re-exports}
        self.add(root_file, ())
        for f in files:
            self.add(f, None)

    def add(self, f, path):
        self.modules[path] = f

    def resolve(self, segs, depth=0):
        """The module that defines what `segs` (a tuple of names) points at:
        the longest module prefix, followed through `pub use` re-exports of
        that module (`crate::Price` is `crate::decimal` when the root
        re-exports `decimal::Price`)."""
        for k in range(len(segs), -1, -1):
            module = tuple(segs[:k])
            if module in self.modules:
                rest = tuple(segs[k:])
                target = self.reexports.get(module, {}).get(rest[0]) if rest else None
                if target is not None and depth < 8 and target != module:
                    return self.resolve(target + rest[1:], depth + 1)
                return module
        return ()


def crates_of(member):
    src = os.path.join(ROOT, member, "src")
    if not os.path.isdir(src):
        return []
    found = []
    for root_name in ("lib.rs", "main.rs"):
        root_file = os.path.join(src, root_name)
        if os.path.exists(root_file):
            found.append((root_file, src))
    bins = os.path.join(src, "bin")
    if os.path.isdir(bins):
        for f in sorted(os.listdir(bins)):
            if f.endswith(".rs"):
                found.append((os.path.join(bins, f), None))
    crates = []
    for root_file, tree in found:
        crate = Crate(member, root_file, [])
        declared = [(root_file, ())]
        while declared:
            f, path = declared.pop()
            crate.modules[path] = f
            text = drop_unit_tests(strip_comments_and_strings(open(f, encoding="utf-8").read()))
            base = os.path.dirname(f) if os.path.basename(f) in ("lib.rs", "main.rs", "mod.rs") or path == () else os.path.splitext(f)[0]
            for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)\s*;", text, re.M):
                name = m.group(1)
                for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                    if os.path.exists(cand):
                        declared.append((cand, path + (name,)))
                        break
        collect_reexports(crate)
        crates.append(crate)
    return crates


def collect_reexports(crate):
    """Each module's `pub use` items that name something of this crate."""
    for path, f in crate.modules.items():
        text = drop_unit_tests(strip_comments_and_strings(open(f, encoding="utf-8").read()))
        table = {}
        for m in re.finditer(r"^[ \t]*pub(?:\([^)]*\))?\s+use\s+([^;]*);", text, re.M):
            for segs, name in parse_use_tree(m.group(1)):
                if not segs or not name:
                    continue
                head = segs[0]
                if head in ("crate", "$crate"):
                    target = tuple(segs[1:])
                elif head == "self":
                    target = path + tuple(segs[1:])
                elif head == "super":
                    up, rest = path, list(segs)
                    while rest and rest[0] == "super":
                        up, rest = up[:-1], rest[1:]
                    target = up + tuple(rest)
                elif path + (head,) in crate.modules:
                    target = path + tuple(segs)
                else:
                    continue
                # A re-exported module stays that module; an item points at
                # the module path before its last name.
                table[name] = target if target in crate.modules else target
        crate.reexports[path] = table


def references(crate):
    """[(from module, to module, file, line)] of one crate."""
    refs = []
    for path, f in crate.modules.items():
        text = drop_unit_tests(strip_comments_and_strings(open(f, encoding="utf-8").read()))
        children = {p[-1] for p in crate.modules if len(p) == len(path) + 1 and p[:-1] == path}
        bound = {c: path + (c,) for c in children}

        def absolute(segs):
            head = segs[0]
            if head in ("crate", "$crate"):
                return tuple(segs[1:])
            if head == "self":
                return path + tuple(segs[1:])
            if head == "super":
                up = path
                rest = list(segs)
                while rest and rest[0] == "super":
                    up = up[:-1]
                    rest = rest[1:]
                return up + tuple(rest)
            if head in bound:
                return bound[head] + tuple(segs[1:])
            return None

        uses = []
        for m in re.finditer(r"^[ \t]*(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);", text, re.M):
            public = bool(m.group(1))
            line = text.count("\n", 0, m.start()) + 1
            for segs, name in parse_use_tree(m.group(2)):
                if not segs:
                    continue
                target = absolute(segs)
                if target is None:
                    continue
                module = crate.resolve(target)
                if name:
                    # A name bound to a module (or an item of one) lets later
                    # paths start with it.
                    if tuple(target) in crate.modules:
                        bound[name] = tuple(target)
                # A module re-exporting its own descendants publishes them.
                if public and module[: len(path)] == path:
                    continue
                uses.append((module, line))
        # Paths in the code itself.
        code = re.sub(r"^[ \t]*(pub(?:\([^)]*\))?\s+)?use\s+[^;]*;", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.M)
        for m in re.finditer(r"(?<![\w:])(\$?[A-Za-z_]\w*)((?:\s*::\s*[A-Za-z_]\w*)+)", code):
            segs = [m.group(1)] + re.findall(r"[A-Za-z_]\w*", m.group(2))
            target = absolute(segs)
            if target is None:
                continue
            uses.append((crate.resolve(target), code.count("\n", 0, m.start()) + 1))
        for module, line in uses:
            if module != path:
                refs.append((path, module, f, line))
    return refs


def lift(a, b):
    """The sibling pair (parent, from, to) a reference a -> b counts as."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    parent = a[:k]
    side = lambda p: p[k] if len(p) > k else "(self)"
    return parent, side(a), side(b)


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(argv):
    targets = argv or members()
    failures = 0
    checked = 0
    for member in targets:
        for crate in crates_of(member):
            checked += len(crate.modules)
            by_parent = defaultdict(lambda: defaultdict(set))
            evidence = {}
            for a, b, f, line in references(crate):
                parent, x, y = lift(a, b)
                if x == y:
                    continue
                by_parent[parent][x].add(y)
                evidence.setdefault((parent, x, y), (os.path.relpath(f, ROOT), line, "::".join(b) or "crate"))
            root = os.path.relpath(crate.root_file, ROOT)
            for parent, edges in sorted(by_parent.items()):
                for comp in cycles(edges):
                    failures += 1
                    where = "::".join(parent) or "crate root"
                    print(f"cycle in {root} under {where}: {' <-> '.join(comp)}")
                    members_ = set(comp)
                    for x in comp:
                        for y in sorted(edges[x] & members_):
                            f, line, target = evidence[(parent, x, y)]
                            print(f"    {x} -> {y}: {f}:{line} uses {target}")
    if failures:
        print(f"{failures} import cycle(s) found")
        return 1
    print(f"no import cycles ({checked} modules in {len(targets)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
