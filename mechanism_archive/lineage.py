"""Graph walks over parent links: ancestors, descendants, and generations for drawing.

Links come from the index, which a tampered archive may have bent into a cycle: every walk keeps a
visited set, so a bad archive draws oddly instead of hanging (and `verify` names the cycle).
"""

from __future__ import annotations

from collections.abc import Mapping

from bilevel_evolve.mechanism_archive.models import Lineage, MechanismSummary


def children_map(summaries: Mapping[str, MechanismSummary]) -> dict[str, tuple[str, ...]]:
    """Children of each mechanism in archive order (summaries' order), only links between known ids."""
    out: dict[str, list[str]] = {mid: [] for mid in summaries}
    for mid, summary in summaries.items():
        for parent in dict.fromkeys(summary.parents):
            if parent in out and parent != mid:
                out[parent].append(mid)
    return {k: tuple(v) for k, v in out.items()}


def _walk(start: str, step: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    frontier = list(step.get(start, ()))
    while frontier:
        node = frontier.pop(0)
        if node in seen or node == start:
            continue
        seen[node] = None
        frontier.extend(step.get(node, ()))
    return tuple(seen)


def build_lineage(focus: str, summaries: Mapping[str, MechanismSummary]) -> Lineage:
    parents = {mid: tuple(p for p in s.parents if p in summaries) for mid, s in summaries.items()}
    children = children_map(summaries)
    ancestors = _walk(focus, parents)
    descendants = _walk(focus, children)
    members = {focus, *ancestors, *descendants}
    return Lineage(
        focus=focus, ancestors=ancestors, descendants=descendants,
        nodes={mid: summaries[mid] for mid in summaries if mid in members},
        parents={mid: tuple(p for p in parents[mid] if p in members) for mid in members},
        children={mid: tuple(c for c in children[mid] if c in members) for mid in members},
    )


def generations(summaries: Mapping[str, MechanismSummary]) -> dict[str, int]:
    """Generation of each mechanism: 0 for roots, else one more than its deepest known parent."""
    gen: dict[str, int] = {}
    for mid in summaries:  # archive order is a topological order: parents exist before children
        known = [gen[p] for p in summaries[mid].parents if p in gen]
        gen[mid] = 1 + max(known) if known else 0
    return gen


def depths(parents: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """Generation of each mechanism from parent links alone (any order): 0 for a root, else one more than
    its deepest parent. A link that closes a cycle (a tampered index) is not followed."""
    depth: dict[str, int] = {}
    for root in parents:
        stack, on_path = [root], {root}
        while stack:
            node = stack[-1]
            todo = [p for p in parents.get(node, ()) if p not in depth and p not in on_path]
            if todo:
                stack.append(todo[0])
                on_path.add(todo[0])
                continue
            known = [depth[p] for p in parents.get(node, ()) if p in depth]
            depth[node] = 1 + max(known) if known else 0
            stack.pop()
            on_path.discard(node)
    return depth


def find_cycle(parents: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle among parent links (ids in order), or None. Only a tampered index can hold one."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in parents:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            links = parents.get(node, ())
            if i < len(links):
                stack.append((node, i + 1))
                nxt = links[i]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt):], nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None
