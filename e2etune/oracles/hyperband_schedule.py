"""The Hyperband schedule: brackets, rounds, trial counts and epochs.

For `max_epochs` R and `factor` η (Li et al., 2018): s_max = ⌊log_η R⌋;
bracket s (from s_max down to 0) starts n = ⌈(s_max + 1) η^s / (s + 1)⌉
trials trained for r = R η^-s epochs; each of its rounds i = 0..s trains
n_i = ⌊n η^-i⌋ trials up to r_i = R η^(i-s) epochs (rounded, at least 1),
the top n_{i+1} of round i being promoted to round i + 1. A promoted trial
continues from its parent's weights, so it trains only r_i - r_{i-1}
epochs: the budget counts those epochs only.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Round:
    """One round of a bracket: `trials` trials trained up to `epochs` epochs."""

    trials: int
    epochs: int
    initial_epoch: int

    @property
    def budget(self) -> int:
        """Epochs this round trains in total."""
        return self.trials * (self.epochs - self.initial_epoch)


@dataclasses.dataclass(frozen=True)
class Bracket:
    """A bracket `s` of the schedule and its rounds."""

    s: int
    rounds: tuple[Round, ...]

    @property
    def budget(self) -> int:
        """Epochs the bracket trains in total."""
        return sum(r.budget for r in self.rounds)


def _max_bracket(max_epochs: int, factor: int) -> int:
    s_max = 0
    while factor ** (s_max + 1) <= max_epochs:
        s_max += 1
    return s_max


def schedule(max_epochs: int, factor: int) -> list[Bracket]:
    """The brackets of one Hyperband iteration, the most exploratory first.

    Args:
        max_epochs: Epochs of the longest-trained trials (R), at least 1.
        factor: Reduction factor between rounds (η), at least 2.
    """
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise ValueError(f"`max_epochs` must be an integer >= 1; got {max_epochs!r}.")
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 2:
        raise ValueError(f"`factor` must be an integer >= 2; got {factor!r}.")
    s_max = _max_bracket(max_epochs, factor)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * factor**s / (s + 1))
        rounds = []
        previous = 0
        for i in range(s + 1):
            epochs = max(1, round(max_epochs * factor ** (i - s)), previous + 1 if i else 1)
            epochs = min(epochs, max_epochs)
            rounds.append(Round(trials=n // factor**i, epochs=epochs, initial_epoch=previous))
            previous = epochs
        brackets.append(Bracket(s=s, rounds=tuple(rounds)))
    return brackets


def describe(brackets: list[Bracket], iterations: int = 1) -> str:
    """A table of the schedule: trials and epochs per round, and the total budget."""
    lines = ["Hyperband schedule (trials x epochs per round; promoted trials continue training):"]
    for bracket in brackets:
        rounds = "  ".join(f"{r.trials}x{r.epochs}" for r in bracket.rounds)
        trials = bracket.rounds[0].trials
        lines.append(
            f"  bracket {bracket.s}: {rounds}  ({trials} new trials, {bracket.budget} epochs)"
        )
    total_epochs = sum(b.budget for b in brackets) * iterations
    total_trials = sum(r.trials for b in brackets for r in b.rounds) * iterations
    lines.append(
        f"  total over {iterations} iteration(s): {total_trials} trials, {total_epochs} epochs"
    )
    return "\n".join(lines)
