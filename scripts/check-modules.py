#!/usr/bin/env python3
"""Checks the crate's module graph and file sizes (run by scripts/test.sh).

Every module file under src/ is a node, named by its module path (`master::stream`). An edge
A -> B means A's code names something of B: a `use` of, or a path through, `crate::b::...`,
`super::...` or a child module. Two kinds of lines are not edges: `mod x;` declarations and
`pub use` re-exports (a facade that lists its children's types is not a dependency of its
code). A path resolves to the longest module path it starts with, so `crate::ops::Op` is an edge
to `ops` and `crate::video::plan::plan_chunks` one to `video::plan`. Test modules
(`#[cfg(test)] mod tests { ... }` and files under a `tests/` folder of src) are left out:
tests may reach anything.

Fails when:
- the graph has a cycle (it prints the cycle);
- a source file (src/, tests/, examples/) is over MAX_LINES lines, except the op registry's data;
- `too_many_arguments` is allowed anywhere.
"""

import re
import sys
from pathlib import Path

MAX_LINES = 500
# The op registry is data: one entry per op, each with its parameters and help.
EXEMPT = {"src/ops/registry.rs"}

root = Path(__file__).resolve().parent.parent
src = root / "src"


def module_of(path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts) or "crate"


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod name { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out)


def use_paths(stmt: str):
    """Expands a `use` tree into its paths: `a::{b, c::d}` -> a::b, a::c::d."""
    stmt = re.sub(r"\s+", "", stmt)

    def expand(prefix, tree):
        if not tree.endswith("}") or "{" not in tree:
            yield prefix + tree
            return
        head, body = tree.split("{", 1)
        body = body[:-1]
        depth, part, parts = 0, "", []
        for ch in body:
            if ch == "," and depth == 0:
                parts.append(part)
                part = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            part += ch
        parts.append(part)
        for p in parts:
            if p:
                yield from expand(prefix + head, p)

    yield from expand("", stmt)


def main() -> int:
    files = [p for p in sorted(src.rglob("*.rs")) if "tests" not in p.relative_to(src).parts[:-1]]
    files = [p for p in files if p.stem != "tests" or p.parent == src]
    modules = {module_of(p): p for p in files}
    names = set(modules)
    graph = {m: set() for m in names}

    def resolve(current: str, path: str):
        parts = [p for p in path.split("::") if p]
        if not parts:
            return None
        base = current.split("::") if current != "crate" else []
        if parts[0] == "crate":
            base, parts = [], parts[1:]
        elif parts[0] in ("super", "self"):
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
        else:
            # A path from the current module: only its own children count.
            if "::".join(base + parts[:1]) not in names:
                return None
        best = None
        for k in range(len(parts) + 1):
            cand = "::".join(base + parts[:k]) or "crate"
            if cand in names:
                best = cand
        return best

    for mod, path in modules.items():
        text = strip_tests(path.read_text())
        refs = []
        for m in re.finditer(r"(?<![\w:])(pub(\([^)]*\))?\s+)?use\s+([^;]+);", text):
            if m.group(1):
                continue  # a re-export
            refs.extend(use_paths(m.group(3)))
        body = re.sub(r"(?<![\w:])(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", text)
        refs.extend(re.findall(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", body))
        # Paths through a child module: `stream::Collector` in `master`.
        prefix = "" if mod == "crate" else mod + "::"
        children = {n[len(prefix) :].split("::")[0] for n in names if n.startswith(prefix) and n != mod}
        for child in children:
            refs.extend(re.findall(rf"(?<![\w:])({child}(?:::\w+)+)", body))
        for r in refs:
            target = resolve(mod, r)
            if target and target != mod and target != "crate":
                graph[mod].add(target)

    problems = []
    # Cycles: depth-first search with colours.
    colour, stack = {}, []

    def visit(n):
        colour[n] = 1
        stack.append(n)
        for t in sorted(graph[n]):
            if colour.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                problems.append("cycle: " + " -> ".join(cycle))
            elif t not in colour:
                visit(t)
        stack.pop()
        colour[n] = 2

    for n in sorted(graph):
        if n not in colour:
            visit(n)

    for folder in ("src", "tests", "examples"):
        for p in sorted((root / folder).rglob("*.rs")):
            rel = p.relative_to(root).as_posix()
            lines = p.read_text().count("\n")
            if lines > MAX_LINES and rel not in EXEMPT:
                problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
            if "too_many_arguments" in p.read_text():
                problems.append(f"{rel}: allows clippy::too_many_arguments (take an options struct)")

    if "--graph" in sys.argv:
        for n in sorted(graph):
            print(f"{n} -> {', '.join(sorted(graph[n]))}")
    for p in problems:
        print(f"check-modules: {p}", file=sys.stderr)
    if not problems:
        edges = sum(len(v) for v in graph.values())
        print(f"check-modules: {len(graph)} modules, {edges} edges, no cycle; every file within {MAX_LINES} lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
