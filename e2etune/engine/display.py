"""What a search prints: a few lines per trial and the search's progress."""

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
    """Prints each trial's number, id and values when it starts; how it ended, the
    best so far and the time it took when it ends; then the search's progress.

    Args:
        oracle: The oracle whose trials are shown.
        verbose: 0 prints nothing; 1 (default) a few lines per trial.
    """

    def __init__(self, oracle, verbose: int = 1) -> None:
        self.oracle = oracle
        self.verbose = verbose
        #: How many times each trial trains; its score is their mean when more than one.
        self.executions = 1
        self._started: dict[str, float] = {}
        self._search_started: float | None = None
        self._done_at_start = 0
        #: The number shown for each trial id: its place among the search's trials
        #: (from 1), counting those of earlier runs and of other workers.
        self.trial_number: dict[str, int] = {}

    def on_search_begin(self) -> None:
        """Starts the clock of the search's progress line."""
        self._search_started = time.monotonic()
        self._done_at_start = self._done()

    def on_trial_begin(self, trial: Trial) -> None:
        """Remembers when the trial started and shows its values."""
        self._started[trial.trial_id] = time.monotonic()
        number = self.trial_number.setdefault(trial.trial_id, len(self.oracle.trials))
        if not self.verbose:
            return
        total = self.oracle.max_trials
        count = f"{number} of {total}" if total else f"{number}"
        values = trial.display_hyperparameters() or "default values"
        print(f"\nTrial {count} (id {trial.trial_id}): {values}", flush=True)

    def on_trial_end(self, trial: Trial) -> None:
        """Shows how the trial ended, the best score so far, the time it took and the
        search's progress. A failed trial's error, with its traceback, follows."""
        elapsed = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if not self.verbose:
            return
        ended = self.oracle.get_trial(trial.trial_id)
        details = ""
        if ended.status == TrialStatus.COMPLETED:
            mean = f", mean of {self.executions} executions" if self.executions > 1 else ""
            outcome = f"{self._objective_name()} = {_format_value(ended.score)}{mean}"
        elif ended.status == TrialStatus.IDLE:
            outcome, details = "error, will be retried", ended.message or ""
        elif ended.status == TrialStatus.PRUNED:
            outcome = (f"pruned after step {ended.best_step}, {self._objective_name()} = "
                       f"{_format_value(ended.score)}")
        else:
            outcome, details = ended.status.lower(), ended.message or ""
        print(f"Trial {self._label(trial.trial_id)}: {outcome} | {elapsed:.1f}s", flush=True)
        if details:
            print(details.rstrip(), flush=True)
        print(self._progress(), flush=True)

    def _progress(self) -> str:
        """The search's line: trials done, the best so far, time spent and time left."""
        done, total = self._done(), self.oracle.max_trials
        parts = [f"Search: {done} of {total} trials done" if total else f"Search: {done} trials done"]
        best = self.oracle.best_trial_so_far()
        if best is not None:
            parts.append(f"best {self._objective_name()} = {_format_value(best.score)} "
                         f"({self._which(best.trial_id)})")
        if self._search_started is not None:
            spent = time.monotonic() - self._search_started
            text = f"{_format_duration(spent)} elapsed"
            finished = done - self._done_at_start
            if total and finished > 0 and done < total:
                text += f", about {_format_duration(spent / finished * (total - done))} left"
            parts.append(text)
        return " | ".join(parts)

    def _done(self) -> int:
        return len(self.oracle.trials) - len(getattr(self.oracle, "_running", ()))

    def _which(self, trial_id: str) -> str:
        number = self.trial_number.get(trial_id)
        return f"trial {number}, id {trial_id}" if number is not None else f"trial id {trial_id}"

    def _label(self, trial_id: str) -> str:
        number = self.trial_number.get(trial_id)
        return f"{number} (id {trial_id})" if number is not None else f"id {trial_id}"

    def on_search_stopped(self, reason: str) -> None:
        """Says why the search stopped before its oracle did (its time budget is spent)."""
        if self.verbose:
            print(f"\n{reason}", flush=True)

    def on_search_end(self) -> None:
        """Shows how many trials completed; warns when none did."""
        trials = list(self.oracle.trials.values())
        completed = [t for t in trials if t.status == TrialStatus.COMPLETED]
        if self.verbose:
            best = [t for t in self.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
            best_text = (f", best {self._objective_name()} = {_format_value(best[0].score)} "
                         f"({self._which(best[0].trial_id)})" if best else "")
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
        """The objective and its direction, e.g. "val_accuracy (max)"."""
        objective = self.oracle.objective
        name = "score" if objective.name == "default_objective" else objective.name
        return f"{name} ({objective.direction})"


def _format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
