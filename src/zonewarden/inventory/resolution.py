"""An asset's attributes from its evidence: conflicting statements kept, the best-supported one shown.

Two rules, in this order:

1. A statement is superseded when the same source (protocol, or ``behaviour`` for roles and levels) later
   stated another value for the attribute with at least its confidence: the device changed (a firmware
   upgrade, a station that now polls instead of serving). It stays in the evidence as history.
2. Among the values still current, the highest confidence wins, then the one most sources state, then
   the earliest. A later statement from another source does not overwrite an earlier one of equal weight
   (an S7 PLC's SZL module name against its PROFINET station type): nothing is decided by whoever spoke last.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from zonewarden.model.assets import SCALAR_ATTRIBUTES, Asset, Evidence

_SCALAR = frozenset(SCALAR_ATTRIBUTES)


def resolve(asset: Asset) -> None:
    """Set each attribute of ``asset`` to its best-supported current value (rules in the module docstring)."""
    scores = _scores(asset.evidence)
    for attribute, candidates in scores.items():
        if attribute in _SCALAR:
            _choose(asset, attribute, candidates)
    names = scores.get("name")
    if names:
        asset.hostnames = sorted({str(v[3]) for v in names.values()} | set(asset.hostnames))


def resolve_attribute(asset: Asset, attribute: str) -> None:
    """``resolve`` for one scalar attribute: what the other attributes resolve to cannot change when only its
    evidence did (the builder states the Purdue level after everything else)."""
    candidates = _scores([ev for ev in asset.evidence if ev.attribute == attribute]).get(attribute)
    if candidates:
        _choose(asset, attribute, candidates)


def _scores(evidence: list[Evidence]) -> dict[str, dict[str, list[Any]]]:
    """attribute -> repr(value) -> [best confidence, count, earliest, value]"""
    scores: dict[str, dict[str, list[Any]]] = {}
    for ev in evidence:
        by_value = scores.get(ev.attribute)
        if by_value is None:
            by_value = scores[ev.attribute] = {}
        key, confidence, ts = repr(ev.value), ev.confidence, ev.ts
        score = by_value.get(key)
        if score is None:
            by_value[key] = [confidence if confidence > 0.0 else 0.0, 1, ts, ev.value]
        else:
            score[0] = confidence if confidence > score[0] else score[0]
            score[1] += 1
            score[2] = ts if ts < score[2] else score[2]
    return scores


def _choose(asset: Asset, attribute: str, candidates: dict[str, list[Any]]) -> None:
    if len(candidates) == 1:
        best = next(iter(candidates.values()))
    else:
        current = current_values([ev for ev in asset.evidence if ev.attribute == attribute])
        best = max((c for k, c in candidates.items() if k in current), key=lambda c: (c[0], c[1], -c[2]))
    setattr(asset, attribute, best[3])


def current_values(evidence: list[Evidence]) -> set[str]:
    """repr() of the values of one attribute's ``evidence`` that no later statement of the same source
    superseded. Never empty for non-empty evidence: the latest statement of all stands."""
    by_source: dict[str, list[Evidence]] = defaultdict(list)
    for ev in evidence:
        by_source[ev.proto].append(ev)
    current: set[str] = set()
    for statements in by_source.values():
        statements.sort(key=lambda ev: -ev.ts)
        # The two strongest later statements with different values: (confidence, value repr).
        first: tuple[float, str] | None = None
        second: float | None = None
        i = 0
        while i < len(statements):
            same_time = [statements[i]]
            while i + len(same_time) < len(statements) and statements[i + len(same_time)].ts == statements[i].ts:
                same_time.append(statements[i + len(same_time)])
            for ev in same_time:
                value = repr(ev.value)
                rival = second if first is not None and first[1] == value else (first[0] if first else None)
                if rival is None or rival < ev.confidence:
                    current.add(value)
            for ev in same_time:  # then they count as later statements for the earlier ones
                value = repr(ev.value)
                if first is None or ev.confidence > first[0]:
                    if first is not None and first[1] != value:
                        second = first[0] if second is None else max(second, first[0])
                    first = (ev.confidence, value)
                elif first[1] != value:
                    second = ev.confidence if second is None else max(second, ev.confidence)
            i += len(same_time)
    return current
