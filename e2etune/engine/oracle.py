"""`Oracle`: the trial lifecycle shared by every search algorithm.

An oracle hands out trials (`create_trial`), takes their results
(`update_trial`, `end_trial`), retries failed ones, stops after too many
failures in a row, never proposes a configuration twice, and, once given a
project folder, commits every trial event to the `Store` in one transaction
so that a search resumes exactly where it stopped after any crash.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import math
import os
import random
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from e2etune import errors
from e2etune.engine._oracle_checks import (
    check_int,
    check_objective,
    check_space,
    objective_to_protos,
    objectives_of,
)
from e2etune.engine._trial_codec import TrialCodec, collector_paused, values_key
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.metrics import MetricsTracker
from e2etune.engine.objective import score_of
from e2etune.engine.store import SavedSearch, Split, Store
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.protos import e2etune_pb2

if TYPE_CHECKING:
    import numpy as np

#: Version of the oracle state written by this code; another version is refused.
STATE_VERSION = 1
_OVERWRITE_HINT = "Pass `overwrite=True` to start a fresh search in this project."


def _synchronized(method: Callable) -> Callable:
    """Runs `method` under the oracle's lock (workers may call it from several threads)."""

    @functools.wraps(method)
    def wrapper(self: "Oracle", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Oracle(abc.ABC):
    """Base class of the search algorithms; subclasses implement `populate_space`.

    Args:
        objective: A metric name, an `Objective`, or a list of these. None
            minimizes the single value each trial returns.
        max_trials: How many trials to run in total; None means until the
            algorithm stops (e.g. an exhausted space).
        hyperparameters: A `HyperParameters` whose hyperparameters override
            (or pre-declare) those of the model-building code.
        allow_new_entries: Whether the code may declare hyperparameters not in
            `hyperparameters`. Defaults to True.
        tune_new_entries: Whether such new hyperparameters are tuned (True,
            default) or fixed at their default.
        seed: Random seed of the algorithm (a non-negative integer); None
            picks one.
        max_retries_per_trial: How many times a trial that raised an error
            (other than `FailedTrialError`) or gave a NaN objective is run
            again. Defaults to 0.
        max_consecutive_failed_trials: After this many failed trials in a
            row the search stops with an error. Defaults to 3.

    Raises:
        ValueError, TypeError: for an argument the oracle cannot use.
    """

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = None,
        hyperparameters: HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        seed: int | None = None,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
    ) -> None:
        self.objective = check_objective(objective)
        #: The direction of each objective metric, by name.
        self._directions = {o.name: o.direction for o in objectives_of(self.objective)}
        self._objective_protos = objective_to_protos(self.objective)
        self.max_trials = check_int(max_trials, "max_trials", 1)
        self.max_retries_per_trial = check_int(
            max_retries_per_trial, "max_retries_per_trial", 0) or 0
        self.max_consecutive_failed_trials = check_int(
            max_consecutive_failed_trials, "max_consecutive_failed_trials", 1)
        if hyperparameters is not None and not isinstance(hyperparameters, HyperParameters):
            raise TypeError(
                "`hyperparameters` must be a `HyperParameters`; got "
                f"{type(hyperparameters).__name__}."
            )
        self.allow_new_entries = bool(allow_new_entries)
        self.tune_new_entries = bool(tune_new_entries)
        self.hyperparameters = hyperparameters.copy() if hyperparameters else HyperParameters()
        self.hyperparameters.allow_new_entries = self.allow_new_entries
        self.hyperparameters.tune_new_entries = self.tune_new_entries
        check_space(self.hyperparameters, self.allow_new_entries)
        self.seed = random.randint(1, 10_000) if seed is None else check_int(seed, "seed", 0, False)
        self._seed_state = 0
        self.trials: dict[str, Trial] = {}
        self.ongoing_trials: dict[str, Trial] = {}
        self.tuner_ids: set[str] = set()
        self._tried_so_far: set[tuple] = set()
        self._retry_queue: list[str] = []
        self._consecutive_failures: list[str] = []
        self._store: Store | None = None
        self.project_dir: str | None = None
        #: Attempts to draw an unseen configuration before the space counts as exhausted.
        self._max_collisions = 100
        self._lock = threading.RLock()
        self._codec = TrialCodec()
        self._defaults_cache: tuple[list, dict[str, Any]] = ([], {})

    # The algorithm's hooks.

    @abc.abstractmethod
    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Chooses the values of a new trial.

        Returns:
            `{"status": TrialStatus.RUNNING, "values": {...}}` for a trial to
            run, `{"status": TrialStatus.STOPPED}` when the search is over, or
            `{"status": TrialStatus.IDLE}` to ask the worker to wait.
        """

    def get_state(self) -> dict[str, Any]:
        """The algorithm's own state as a JSON-serializable dict (override to add to it).

        It is committed with every trial event, so keep it small: never a
        list that grows with the number of trials (derive those from
        `self.trials` in `set_state`).
        """
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores what `get_state` returned; `self.trials` is loaded already."""

    def _on_space_changed(self) -> None:
        """Called after new hyperparameters joined the space; algorithms may react."""

    # Trial lifecycle.

    @_synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        """Returns the next trial for worker `tuner_id`.

        A trial waiting to be run again (a retry, or one interrupted by a
        crash) comes first, under its own id. The trial's status is STOPPED
        when the search is over and IDLE when the worker should wait.
        """
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        self.tuner_ids.add(tuner_id)
        if self._retry_queue:
            return self._start(self.trials[self._retry_queue.pop(0)], tuner_id)
        trial_id = self._next_trial_id()
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            response: Mapping[str, Any] = {"status": TrialStatus.STOPPED}
        else:
            response = self.populate_space(trial_id)
        status = response.get("status", TrialStatus.RUNNING)
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = dict(response.get("values") or {})
        trial = Trial(hyperparameters, trial_id, status)
        if status != TrialStatus.RUNNING:
            if status == TrialStatus.STOPPED:
                self.tuner_ids.discard(tuner_id)
            return trial
        self._tried_so_far.add(self._compute_values_hash(hyperparameters.values))
        self.trials[trial_id] = trial
        return self._start(trial, tuner_id)

    def _start(self, trial: Trial, tuner_id: str) -> Trial:
        """Runs `trial` (again) from scratch: anything an earlier attempt recorded is dropped."""
        trial.status = TrialStatus.RUNNING
        trial.metrics = MetricsTracker()
        trial.score, trial.best_step, trial.message = None, 0, None
        trial.attempts += 1
        self.ongoing_trials[tuner_id] = trial
        self._commit(trial)
        return trial

    def _next_trial_id(self) -> str:
        """KerasTuner's id: the trial's number, zero-padded to the width of `max_trials`."""
        number, width = len(self.trials), len(str(self.max_trials))
        while f"{number:0{width}d}" in self.trials:
            number += 1
        return f"{number:0{width}d}"

    @_synchronized
    def update_trial(self, trial_id: str, metrics: Mapping[str, Any], step: int = 0) -> str:
        """Records metrics of a running trial at `step` and returns its status."""
        trial = self.get_trial(trial_id)
        for name, value in metrics.items():
            if not trial.metrics.exists(name):
                trial.metrics.register(name, self._directions.get(name))
            trial.metrics.update(name, value, step=step)
        if self.objective.name not in metrics:
            try:
                score = score_of({k: float(v) for k, v in metrics.items()}, self.objective)
            except (errors.FatalError, KeyError, TypeError, ValueError):
                score = None
            if score is not None:
                if not trial.metrics.exists(self.objective.name):
                    trial.metrics.register(self.objective.name, self.objective.direction)
                trial.metrics.update(self.objective.name, score, step=step)
        return trial.status

    @_synchronized
    def end_trial(self, trial: Trial) -> None:
        """Records the end of a trial: scores it, retries it or counts its failure.

        `trial.status` says how it ended: COMPLETED; INVALID (an error that
        may be retried, up to `max_retries_per_trial` times, then FAILED);
        FAILED (by `FailedTrialError`: never retried); or STOPPED. A
        COMPLETED trial whose objective is NaN or missing becomes INVALID
        (retried like an error while retries are left) and never counts as
        a best trial.

        Raises:
            TooManyFailedTrialsError: after `max_consecutive_failed_trials`
                failed trials in a row; the message ends with the last error.
        """
        if trial.status not in TrialStatus.ENDED:
            raise ValueError(
                f"end_trial needs the trial's final status (one of {TrialStatus.ENDED}); "
                f"trial {trial.trial_id} has {trial.status!r}."
            )
        stored = self.get_trial(trial.trial_id)
        stored.status, stored.message = trial.status, trial.message
        stored.hyperparameters = trial.hyperparameters
        for tuner_id, ongoing in list(self.ongoing_trials.items()):
            if ongoing.trial_id == trial.trial_id:
                del self.ongoing_trials[tuner_id]
        self.update_space(stored.hyperparameters)
        self._tried_so_far.add(self._compute_values_hash(stored.hyperparameters.values))
        nan_objective = False
        if stored.status == TrialStatus.COMPLETED:
            self.score_trial(stored)
            if stored.score is None or math.isnan(stored.score):
                nan_objective = True
                stored.status = TrialStatus.INVALID
                stored.message = (
                    f"The objective {self.objective.name!r} is NaN or missing; the trial does "
                    "not count as a result."
                )
        if stored.status == TrialStatus.INVALID:
            if stored.attempts <= self.max_retries_per_trial:
                stored.status = TrialStatus.IDLE
                self._retry_queue.append(stored.trial_id)
            elif not nan_objective:
                stored.status = TrialStatus.FAILED
        if stored.status == TrialStatus.FAILED:
            self._consecutive_failures.append(stored.trial_id)
            del self._consecutive_failures[: -(self.max_consecutive_failed_trials or 1)]
        elif stored.status != TrialStatus.IDLE:
            self._consecutive_failures = []
        self._commit(stored)
        self._check_consecutive_failures(stored)

    def _check_consecutive_failures(self, trial: Trial) -> None:
        limit = self.max_consecutive_failed_trials
        if limit and len(self._consecutive_failures) >= limit:
            raise errors.TooManyFailedTrialsError(
                f"{limit} trials failed in a row, so the search stops. The last error, in trial "
                f"{trial.trial_id}, was:\n{trial.message}\nFix the error (the search resumes "
                "where it stopped), or raise `max_consecutive_failed_trials`."
            )

    def score_trial(self, trial: Trial) -> None:
        """Sets `trial.score` and `trial.best_step` from its objective metric."""
        name = self.objective.name
        if not trial.metrics.exists(name):
            trial.score, trial.best_step = None, 0
            return
        trial.score = trial.metrics.get_best_value(name)
        trial.best_step = trial.metrics.get_best_step(name) or 0

    # Queries.

    def get_trial(self, trial_id: str) -> Trial:
        """The trial with id `trial_id`."""
        try:
            return self.trials[trial_id]
        except KeyError:
            raise KeyError(f"No trial with id {trial_id!r} in this search.") from None

    def get_best_trials(self, num_trials: int = 1) -> list[Trial]:
        """The best completed trials (finite score), best first."""
        return self._best_of(self.trials.values(), num_trials)

    def _best_of(self, trials: Iterable[Trial], num_trials: int) -> list[Trial]:
        """The best `num_trials` of `trials` that completed with a finite score, best first."""
        scored = [t for t in trials if t.status == TrialStatus.COMPLETED and t.has_finite_score]
        reverse = self.objective.direction == "max"
        return sorted(scored, key=lambda t: t.score, reverse=reverse)[:num_trials]

    def get_space(self) -> HyperParameters:
        """A copy of the search space."""
        return self.hyperparameters.copy()

    @_synchronized
    def update_space(self, hyperparameters: HyperParameters) -> None:
        """Appends the hyperparameters that user code declared and the space lacks."""
        known = {hp.name for hp in self.hyperparameters.space}
        new = [hp for hp in hyperparameters.space if hp.name not in known]
        if not new:
            return
        if not self.allow_new_entries:
            raise RuntimeError(
                f"New hyperparameters {[hp.name for hp in new]} were declared but "
                "`allow_new_entries=False`. Declare them in `hyperparameters`, or pass "
                "`allow_new_entries=True`."
            )
        self.hyperparameters.merge(new)
        self._on_space_changed()

    def remaining_trials(self) -> int | None:
        """How many trials may still be created, or None without `max_trials`."""
        if self.max_trials is None:
            return None
        return max(self.max_trials - len(self.trials), 0)

    # Helpers for algorithms.

    def _compute_values_hash(self, values: Mapping[str, Any]) -> tuple:
        """A hashable key of a configuration, equal for configurations that run the same.

        `tuner/` entries are ignored, and so are values equal to their
        hyperparameter's default: a trial that ran before a hyperparameter
        was known ran with its default. Keys compare exactly (1, 1.0 and
        True differ) and are rebuilt from the trials on load, never saved.
        """
        return values_key(values, self._defaults())

    def _defaults(self) -> dict[str, Any]:
        """The default of each hyperparameter of the space (cached while the space is unchanged)."""
        space = self.hyperparameters.space
        cached_space, defaults = self._defaults_cache
        if len(cached_space) != len(space) or any(a is not b for a, b in zip(cached_space, space)):
            defaults = {hp.name: hp.default for hp in space}
            self._defaults_cache = (space, defaults)
        return defaults

    def _rng(self) -> "np.random.Generator":
        """A numpy generator for the next random draw; the stream resumes with the search."""
        import numpy as np

        self._seed_state += 1
        return np.random.default_rng((self.seed, self._seed_state))

    def _uniform(self) -> float:
        """The next number of the oracle's uniform stream in [0, 1); it resumes with the search."""
        self._seed_state += 1
        digest = hashlib.blake2b(f"{self.seed}:{self._seed_state}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def _random_values(self) -> dict[str, Any] | None:
        """Random values of the active hyperparameters, untried, or None after many collisions."""
        space = self.hyperparameters.space
        for _ in range(self._max_collisions):
            values: dict[str, Any] = {}
            for hp in space:
                if all(c.is_active(values) for c in hp.conditions):
                    values[hp.name] = hp.prob_to_value(self._uniform())
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
        return None

    # Persistence.

    @_synchronized
    def _set_project_dir(self, directory: str, project_name: str, overwrite: bool = False) -> None:
        """Opens the project's store and reloads its saved search unless `overwrite`."""
        if self._store is not None:
            self._store.close()
        self.project_dir = os.path.join(os.fspath(directory), project_name)
        self._store = Store(self.project_dir, overwrite=overwrite)
        try:
            with collector_paused():
                saved = self._store.read()
                if saved.state is None:
                    self._commit(*self.trials.values())
                else:
                    self._restore(saved)
        except BaseException:
            self.close()
            raise

    def _state_proto(self) -> Split:
        """The oracle's state, as the store saves it."""
        state = e2etune_pb2.OracleState(
            format_version=STATE_VERSION,
            objectives=self._objective_protos,
            seed=self.seed,
            seed_state=self._seed_state,
            retry_queue=self._retry_queue,
            consecutive_failures=self._consecutive_failures,
            algorithm_state=json.dumps(self.get_state()).encode(),
            oracle_class=type(self).__name__,
            next_trial_number=len(self.trials),
        )
        return Split(state, self._codec.space(self.hyperparameters.space))

    def _commit(self, *trials: Trial) -> None:
        """Writes `trials` and the oracle state in one transaction (nothing without a project)."""
        if self._store is not None:
            self._store.commit([self._codec.trial(t) for t in trials], self._state_proto())

    def _check_saved_state(self, state: e2etune_pb2.OracleState) -> None:
        if state.format_version != STATE_VERSION:
            age = "a newer" if state.format_version > STATE_VERSION else "an older or damaged"
            raise errors.SearchStateError(
                f"The oracle state in {self.project_dir} was written by {age} e2etune (state "
                f"version {state.format_version}; this version reads {STATE_VERSION}). "
                f"{_OVERWRITE_HINT}"
            )
        if state.oracle_class and state.oracle_class != type(self).__name__:
            raise errors.SearchStateError(
                f"The search in {self.project_dir} was made by {state.oracle_class}, not "
                f"{type(self).__name__}. Use the same tuner class, another `project_name`, or "
                "`overwrite=True` to start afresh."
            )

    def _restore(self, saved: SavedSearch) -> None:
        """Continues the saved search: trials, space, random stream, queues, algorithm state."""
        state = saved.state
        self._check_saved_state(state)
        try:
            spaces = self._codec.spaces(saved)
            saved_space = HyperParameters()
            saved_space.merge(spaces[saved.state_space_id])
            algorithm_state = json.loads(state.algorithm_state or b"{}")
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
            raise self._cannot_load(error) from None
        saved_space.merge(self.hyperparameters)
        saved_space.allow_new_entries = self.allow_new_entries
        saved_space.tune_new_entries = self.tune_new_entries
        self.hyperparameters = saved_space
        self.seed, self._seed_state = state.seed, state.seed_state
        self.trials, self.ongoing_trials, self._tried_so_far = {}, {}, set()
        interrupted = []
        defaults = self._defaults()
        try:
            for trial, values in self._codec.trials(saved, spaces):
                self.trials[trial.trial_id] = trial
                self._tried_so_far.add(values_key(values, defaults))
                trial.hyperparameters.allow_new_entries = self.allow_new_entries
                trial.hyperparameters.tune_new_entries = self.tune_new_entries
                if trial.status == TrialStatus.RUNNING:
                    trial.status = TrialStatus.IDLE
                    trial.attempts = max(trial.attempts - 1, 0)
                    interrupted.append(trial.trial_id)
        except (ValueError, TypeError, KeyError) as error:
            raise self._cannot_load(error) from None
        queued = [t for t in state.retry_queue if t in self.trials and t not in interrupted]
        self._retry_queue = interrupted + queued
        self._consecutive_failures = [t for t in state.consecutive_failures if t in self.trials]
        if self._objective_protos != list(state.objectives):
            for trial in self.trials.values():
                if trial.status == TrialStatus.COMPLETED:
                    self.score_trial(trial)
        try:
            self.set_state(algorithm_state)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise errors.SearchStateError(
                f"The state of {type(self).__name__} in {self.project_dir} is damaged "
                f"({type(error).__name__}: {error}). {_OVERWRITE_HINT}"
            ) from None

    def _cannot_load(self, error: Exception) -> errors.SearchStateError:
        return errors.SearchStateError(
            f"The search in {self.project_dir} cannot be loaded ({error}). {_OVERWRITE_HINT}"
        )

    @_synchronized
    def save(self) -> None:
        """Commits the oracle's state (every trial event is committed already)."""
        self._commit()

    @_synchronized
    def reload(self) -> None:
        """Reloads the saved search from the project folder."""
        if self._store is None:
            raise errors.SearchStateError("This oracle has no project folder to reload from.")
        with collector_paused():
            saved = self._store.read()
            if saved.state is not None:
                self._restore(saved)

    def close(self) -> None:
        """Releases the project's store (and its writer lock)."""
        if self._store is not None:
            self._store.close()
            self._store = None
