"""The learning benchmark's world: generated review cases, planted models, and the truth to judge by.

A **case** is a generated Python file of `LINES` lines whose first line names it (`# review case
c000042`), so the fake model host can tell from a prompt which case it is asked about. Each case has
`TRUE_ISSUES` real problems (line, category, message) and `DECOYS` decoys: lines that look like a
problem but are not one, the plausible false positives several models fall for together. Every
site (issue or decoy) is at least `SITE_GAP` lines from every other, so findings on different sites
never merge; every line carries the case id, so no two cases share a fingerprint.

A **planted model** answers a case the way its planted quality says (`answer_findings`): each true
issue with probability `recall`; then false findings, as many as make its expected precision the
planted one (a Poisson count of mean recall·K·(1 − precision)/precision), each on a decoy with
probability `DECOY_SHARE` (without repeats), else on a line of its own. A flaky model fails
(`failure`: HTTP 503 or a hang past its timeout) with its planted rates. Everything is drawn from a
`random.Random` seeded by (seed, case, model), so a model gives the same answer to the same case in
every run and in both simulated worlds.

`judge(finding, case)` is the simulated user's view: a merged finding is true when it covers an
unclaimed true issue's line with its category (the first finding to claim an issue takes it).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

LINES: Final = 48
TRUE_ISSUES: Final = 5
DECOYS: Final = 6
SITE_GAP: Final = 3
DECOY_SHARE: Final = 0.7
"""Share of a model's false findings that land on a case's decoys (the rest are its own inventions)."""
FIRST_SITE: Final = 3

Failure = Literal["error", "timeout"]

KINDS: Final = (
    ("bug", "Division by zero when `{name}` is empty: len({name}) may be 0."),
    ("bug", "Off-by-one: the loop over `{name}` stops one element short and skips the last item."),
    ("security", "SQL injection: `{name}` is formatted straight into the query string."),
    ("bug", "`{name}` may be None here, and the attribute access raises AttributeError."),
    ("performance", "Quadratic time: `{name}` is searched linearly inside a loop over it."),
    ("bug", "The file handle `{name}` is never closed when an exception is raised."),
    ("security", "Path traversal: `{name}` comes from the request and is joined into a file path."),
    ("maintainability", "`{name}` is mutated while it is being iterated over."),
)
"""(category, message template) of the problems cases contain, true or decoy."""
INVENTED: Final = (
    ("bug", "Possible race condition on `{name}` between the read and the write."),
    ("style", "`{name}` shadows a builtin name and should be renamed."),
    ("performance", "`{name}` is recomputed on every call and could be cached."),
    ("bug", "Integer overflow: `{name}` can exceed the range of a 32-bit value."),
)
"""What a model's own inventions (false findings off the decoys) say."""


@dataclass(frozen=True, slots=True)
class Site:
    """A place in a case that looks like a problem: a true issue or a decoy."""

    line: int
    category: str
    message: str


@dataclass(frozen=True, slots=True)
class Case:
    """One generated file with its known true issues and decoys."""

    index: int
    text: str
    issues: tuple[Site, ...]
    decoys: tuple[Site, ...]
    free: tuple[int, ...]
    """Lines at least two away from every site: where a model's inventions land."""

    @property
    def path(self) -> str:
        """The file's path in the review request."""
        return f"case_{self.index:06d}.py"


@dataclass(frozen=True, slots=True)
class PlantedModel:
    """A fake model of known quality, latency and price."""

    name: str
    precision: float
    recall: float
    latency_s: float
    input_cost_per_mtok: float
    output_cost_per_mtok: float
    error_rate: float = 0.0
    """Share of requests answered with HTTP 503."""
    timeout_rate: float = 0.0
    """Share of requests that hang past the seat's timeout."""
    timeout_s: float = 10.0
    """The seat's timeout."""


PLANTED: Final = (
    PlantedModel("sharp", 0.9, 0.6, 0.06, 3.0, 12.0),
    PlantedModel("eager", 0.6, 0.8, 0.05, 2.0, 8.0),
    PlantedModel("sloppy", 0.3, 0.3, 0.04, 1.0, 4.0),
    PlantedModel("flaky", 0.75, 0.7, 0.01, 0.5, 2.0, error_rate=0.2, timeout_rate=0.1, timeout_s=0.5),
)
"""The issue's panel: precise 0.9/0.6, eager 0.6/0.8, poor 0.3/0.3, and fast but flaky (30 % of its
calls fail: 20 % HTTP 503, 10 % hang past its 0.5 s timeout), priced on a ladder (USD per million
tokens in/out) that follows quality, the fast one cheapest."""


def _name(case: int, line: int) -> str:
    return f"items_{case}_{line}"


def _code_line(case: int, line: int) -> str:
    name = _name(case, line)
    return f"    {name} = load_{case}(source, {line})  # step {line} of case {case}"


def _pick_sites(rng: random.Random, count: int) -> list[int]:
    """`count` lines in FIRST_SITE..LINES, each at least SITE_GAP from the others."""
    slots = list(range(FIRST_SITE, LINES + 1, SITE_GAP))
    return sorted(rng.sample(slots, count))


def make_case(index: int, seed: int = 0) -> Case:
    """Case `index`: its text, its true issues and decoys (the same for the same index and seed)."""
    rng = random.Random(f"case:{seed}:{index}")
    sites = _pick_sites(rng, TRUE_ISSUES + DECOYS)
    rng.shuffle(sites)
    made = []
    for line in sites:
        category, template = rng.choice(KINDS)
        made.append(Site(line, category, template.format(name=_name(index, line))))
    issues = tuple(sorted(made[:TRUE_ISSUES], key=lambda site: site.line))
    decoys = tuple(sorted(made[TRUE_ISSUES:], key=lambda site: site.line))
    lines = [f"# review case c{index:06d} (generated)", f"def step_{index}(source):"]
    lines += [_code_line(index, line) for line in range(3, LINES + 1)]
    taken = {site.line + offset for site in made for offset in (-1, 0, 1)}
    free = tuple(line for line in range(FIRST_SITE, LINES + 1) if line not in taken)
    return Case(index, "\n".join(lines) + "\n", issues, decoys, free)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _finding(site: Site, severity: str = "warning") -> dict[str, object]:
    return {
        "start_line": site.line,
        "end_line": site.line,
        "severity": severity,
        "category": site.category,
        "message": site.message,
        "fix": None,
    }


def failure(model: PlantedModel, case: Case, seed: int = 0) -> Failure | None:
    """How `model` fails on `case`, if it does (drawn apart from its answer)."""
    draw = random.Random(f"fail:{seed}:{case.index}:{model.name}").random()
    if draw < model.error_rate:
        return "error"
    if draw < model.error_rate + model.timeout_rate:
        return "timeout"
    return None


def answer_findings(model: PlantedModel, case: Case, seed: int = 0) -> list[dict[str, object]]:
    """The findings `model` reports on `case` (see the module docstring)."""
    rng = random.Random(f"answer:{seed}:{case.index}:{model.name}")
    found = [_finding(site) for site in case.issues if rng.random() < model.recall]
    mean_false = model.recall * len(case.issues) * (1 - model.precision) / model.precision
    decoys = list(case.decoys)
    rng.shuffle(decoys)
    free = list(case.free)
    rng.shuffle(free)
    for _ in range(_poisson(rng, mean_false)):
        if decoys and (rng.random() < DECOY_SHARE or not free):
            found.append(_finding(decoys.pop()))
        elif free:
            line = free.pop()
            category, template = rng.choice(INVENTED)
            found.append(_finding(Site(line, category, template.format(name=_name(case.index, line)))))
    found.sort(key=lambda item: int(str(item["start_line"])))
    return found


def answer_text(model: PlantedModel, case: Case, seed: int = 0) -> str:
    """The model's answer as the review contract's JSON."""
    return json.dumps({"findings": answer_findings(model, case, seed)})


class Located(Protocol):
    """What the judge needs of a finding (a `Finding` or a `MergedFinding`): its lines and category."""

    @property
    def start_line(self) -> int: ...

    @property
    def end_line(self) -> int: ...

    @property
    def category(self) -> str: ...


def judge(findings: Iterable[Located], case: Case) -> list[bool]:
    """For each finding in order, whether it is true: it covers an unclaimed true issue of its category."""
    unclaimed = {(site.line, site.category) for site in case.issues}
    verdicts = []
    for finding in findings:
        hit = next(
            (
                (line, category)
                for line, category in sorted(unclaimed)
                if finding.start_line <= line <= finding.end_line and category == finding.category
            ),
            None,
        )
        if hit is not None:
            unclaimed.discard(hit)
        verdicts.append(hit is not None)
    return verdicts


def planted_order(models: Sequence[PlantedModel]) -> list[str]:
    """The models' names from the most precise to the least (the order trust should learn)."""
    return [model.name for model in sorted(models, key=lambda model: -model.precision)]
