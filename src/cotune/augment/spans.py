"""Entity spans and label segments of an IOB2 sentence, as the NER operations see them."""

from __future__ import annotations

from cotune.data.tagging import split_tag


def entity_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of each entity, end exclusive. Tags are valid IOB2 (load_splits
    checked them), so an I- tag always continues the entity before it."""
    spans: list[tuple[int, int, str]] = []
    for i, tag in enumerate(tags):
        prefix, typ = split_tag(tag)
        if prefix == "B":
            spans.append((i, i + 1, typ))
        elif prefix == "I" and spans and spans[-1][1] == i and spans[-1][2] == typ:
            start, _, _ = spans[-1]
            spans[-1] = (start, i + 1, typ)
    return spans


def segments(tags: list[str]) -> list[tuple[int, int]]:
    """Dai & Adel's segments: each entity is one, and each maximal run of O tokens is one."""
    out: list[tuple[int, int]] = []
    starts = {s: e for s, e, _ in entity_spans(tags)}
    i = 0
    while i < len(tags):
        if i in starts:
            out.append((i, starts[i]))
            i = starts[i]
            continue
        j = i
        while j < len(tags) and tags[j] == "O":
            j += 1
        out.append((i, max(j, i + 1)))
        i = max(j, i + 1)
    return out


def mention_tags(typ: str, length: int) -> list[str]:
    return [f"B-{typ}"] + [f"I-{typ}"] * (length - 1)
