"""What a search prints: one compact block per trial."""

from __future__ import annotations

import time

from e2etune.engine.trial import Trial, TrialStatus


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Display:
    """Prints each trial's id, values, score, the best score so far and the time it took.

    Args:
        oracle: The oracle whose trials are shown.
        verbose: 0 prints nothing; 1 (default) a block per trial.
    """

    def __init__(self, oracle, verbose: int = 1) -> None:
        self.oracle = oracle
        self.verbose = verbose
        self._started: dict[str, float] = {}

    def on_trial_begin(self, trial: Trial) -> None:
        """Remembers when the trial started and shows its values."""
        self._started[trial.trial_id] = time.monotonic()
        if not self.verbose:
            return
        total = self.oracle.max_trials
        count = f"{trial.trial_id}" + (f" of {total}" if total else "")
        values = trial.display_hyperparameters() or "default values"
        print(f"\nTrial {count}: {values}", flush=True)

    def on_trial_end(self, trial: Trial) -> None:
        """Shows how the trial ended and the best score so far."""
        elapsed = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if not self.verbose:
            return
        status = self.oracle.get_trial(trial.trial_id)
        if status.status == TrialStatus.COMPLETED:
            outcome = f"{self.oracle.objective.name} = {_format_value(status.score)}"
        elif status.status == TrialStatus.IDLE:
            outcome = "error, will be retried:\n" + (status.message or "")
        else:
            outcome = f"{status.status.lower()}:\n{status.message or ''}"
        best = self.oracle.get_best_trials(1)
        best_text = (
            f" | best {_format_value(best[0].score)} (trial {best[0].trial_id})" if best else ""
        )
        print(f"Trial {trial.trial_id} {outcome}{best_text} | {elapsed:.1f}s", flush=True)
