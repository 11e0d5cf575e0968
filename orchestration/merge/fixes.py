"""Fix ranking: the seats' proposed fixes for one merged finding, grouped into distinct fixes and ranked.

Seats often propose the same fix in different whitespace; fixes for the same lines whose
replacements are identical or near-identical (`SAME_FIX`) after whitespace normalization
count as one, represented by the heaviest seat's text. `orchestration.merge.consensus` calls
`rank_fixes` for each merged finding; the explain pipeline calls it for proposed rewrites.
"""

from __future__ import annotations

from collections.abc import Mapping

from rapidfuzz import fuzz

from orchestration.types.findings import Fix, RankedFix

SAME_FIX = 95.0
"""`fuzz.ratio` above which two whitespace-normalized replacements for one range count as one fix."""


def _fix_text(replacement: str) -> str:
    """A replacement with whitespace runs collapsed and blank lines dropped."""
    return "\n".join(" ".join(line.split()) for line in replacement.splitlines() if line.strip())


def _same_fix(first: tuple[int, int, str], second: tuple[int, int, str]) -> bool:
    """Whether two (start line, end line, normalized replacement) describe one fix."""
    return first == second or (
        first[:2] == second[:2] and bool(fuzz.ratio(first[2], second[2], score_cutoff=SAME_FIX))
    )


def rank_fixes(proposals: Mapping[str, Fix], weights: Mapping[str, float] | None = None) -> list[RankedFix]:
    """Group each seat's proposed fix into distinct fixes, ranked by votes, then summed weight, then name.

    `proposals` maps seat → its fix; `weights` default to 1.0 per seat. Within a group the
    seats are ordered heaviest first (then by name), and the first one's fix represents it.
    """
    weights = weights or {}
    identical: dict[tuple[int, int, str], list[str]] = {}
    for seat, fix in proposals.items():
        identical.setdefault((fix.start_line, fix.end_line, fix.replacement), []).append(seat)
    groups: list[tuple[tuple[int, int, str], list[str]]] = []  # (normalized fix, its seats)
    for (start, end, replacement), seats in identical.items():
        text = _fix_text(replacement) if len(identical) > 1 else replacement
        normalized = (start, end, text)
        group_seats = next((found for key, found in groups if _same_fix(normalized, key)), None)
        if group_seats is None:
            groups.append((normalized, list(seats)))
        else:
            group_seats.extend(seats)
    ranked = []
    for _, seats in groups:
        seats.sort(key=lambda name: (-weights.get(name, 1.0), name))
        ranked.append(RankedFix(fix=proposals[seats[0]], votes=len(seats), models=seats))
    ranked.sort(
        key=lambda item: (-item.votes, -sum(weights.get(name, 1.0) for name in item.models), item.models)
    )
    return ranked
