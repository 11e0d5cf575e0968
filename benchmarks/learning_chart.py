"""The learning curve as a PNG (docs/learning.png): trust per model, precision, recall and cost per round.

Four panels over the rounds of `benchmarks.learning`: each model's learnt trust (its 90 % credible
band shaded, its planted precision dashed), then the rolling precision and recall (last `rolling`
rounds) of the counted merge, the weighted merge, the best single model and the automatic panel
of two, and the cost per round of the full panel and the automatic one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = ("#1b6ca8", "#d1495b", "#7a7a7a", "#edae49", "#66a182", "#8e5ea2")


def _rolling_mean(values: list[float], window: int) -> list[float]:
    means, running = [], 0.0
    for index, value in enumerate(values):
        running += value
        if index >= window:
            running -= values[index - window]
        means.append(running / min(index + 1, window))
    return means


def write_learning_chart(path: Path, data: dict[str, Any]) -> bool:
    """Draw the chart; False (nothing drawn) without matplotlib or without rounds."""
    rounds = data.get("rounds") or []
    if not rounds:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, ((trust, precision), (cost, recall)) = plt.subplots(2, 2, figsize=(14, 9))
    for color, (name, means) in zip(COLORS, data["trust"].items(), strict=False):
        planted = data["planted"][name]
        trust.plot(rounds, means, color=color, label=f"{name} (planted {planted['precision']:.2f})")
        trust.fill_between(rounds, data["trust_low"][name], data["trust_high"][name], color=color, alpha=0.12)
        trust.axhline(planted["precision"], color=color, linestyle="--", linewidth=0.8)
    trust.set_ylim(0, 1)
    trust.set_title("Learnt trust per model (90 % credible band; planted precision dashed)")
    trust.set_ylabel("trust (posterior mean)")
    trust.legend(fontsize=8, loc="lower right")
    window = data.get("rolling", 25)
    for axes, key in ((precision, "precision"), (recall, "recall")):
        for color, (label, series) in zip(COLORS, data["series"].items(), strict=False):
            axes.plot(rounds, series[key], color=color, label=label)
        axes.set_ylim(0, 1.02)
        axes.set_title(f"{key.capitalize()} (last {window} rounds)")
        axes.legend(fontsize=8, loc="lower right")
    full = data.get("cost_full") or []
    cost.plot(rounds, _rolling_mean(full, window), color=COLORS[0], label="full panel (4 seats)")
    if data.get("cost_auto"):
        cost.plot(rounds, _rolling_mean(data["cost_auto"], window), color=COLORS[3], label="auto (2 seats)")
    cost.set_ylim(bottom=0)
    cost.set_title(f"Cost per review (mean of last {window} rounds)")
    cost.set_ylabel("USD per 1,000 reviews")
    cost.legend(fontsize=8, loc="lower right")
    warm_up = data.get("warm_up")
    for axes in (trust, precision, recall, cost):
        axes.set_xlabel("round (one new case each, judged by the simulated user)")
        if warm_up:
            axes.axvline(warm_up, color="black", linestyle=":", linewidth=0.8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True
