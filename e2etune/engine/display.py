"""What a search prints: one compact block per trial."""

from __future__ import annotations

import time
import warnings

from e2etune.engine.trial import Trial, TrialStatus
from e2etune.engine.tuner_utils import user_stacklevel


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
        #: The number shown for each trial id: its place among the search's trials,
        #: counting those of earlier runs and of other workers.
        self.trial_number: dict[str, int] = {}

    def on_trial_begin(self, trial: Trial) -> None:
        """Remembers when the trial started and shows its values."""
        self._started[trial.trial_id] = time.monotonic()
        number = self.trial_number.setdefault(trial.trial_id, len(self.oracle.trials))
        if not self.verbose:
            return
        total = self.oracle.max_trials
        count = f"{number}/{total}" if total else f"{number}"
        values = trial.display_hyperparameters() or "default values"
        print(f"\nTrial {count} (id {trial.trial_id}): {values}", flush=True)

    def on_trial_end(self, trial: Trial) -> None:
        """Shows how the trial ended, the best score so far and the time it took.

        A failed trial's error, with its traceback, follows on the next lines.
        """
        elapsed = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if not self.verbose:
            return
        ended = self.oracle.get_trial(trial.trial_id)
        details = ""
        if ended.status == TrialStatus.COMPLETED:
            outcome = f"{self._objective_name()} = {_format_value(ended.score)}"
        elif ended.status == TrialStatus.IDLE:
            outcome, details = "error, will be retried", ended.message or ""
        else:
            outcome, details = ended.status.lower(), ended.message or ""
        best = self.oracle.best_trial_so_far()
        best_text = f" | best {_format_value(best.score)} (trial {best.trial_id})" if best else ""
        print(f"Trial {trial.trial_id} {outcome}{best_text} | {elapsed:.1f}s", flush=True)
        if details:
            print(details.rstrip(), flush=True)

    def on_search_end(self) -> None:
        """Shows how many trials completed; warns when none did."""
        trials = list(self.oracle.trials.values())
        completed = [t for t in trials if t.status == TrialStatus.COMPLETED]
        if self.verbose:
            best = self.oracle.get_best_trials(1)
            best_text = (f", best {self._objective_name()} = {_format_value(best[0].score)} "
                         f"(trial {best[0].trial_id})" if best else "")
            print(f"\nSearch done: {len(completed)} of {len(trials)} trials completed"
                  f"{best_text}.", flush=True)
        failed = [t for t in trials if t.status in (TrialStatus.FAILED, TrialStatus.INVALID)]
        if trials and not completed and failed:
            last = (failed[-1].message or "").strip().splitlines() or ["no message"]
            warnings.warn(
                f"No trial of the search completed. The last error, in trial "
                f"{failed[-1].trial_id}: {last[-1]} (its traceback is in "
                f"`tuner.oracle.get_trial({failed[-1].trial_id!r}).message`).",
                stacklevel=user_stacklevel())

    def _objective_name(self) -> str:
        name = self.oracle.objective.name
        return "score" if name == "default_objective" else name
