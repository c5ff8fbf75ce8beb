"""`Oracle`: the trial lifecycle shared by every search algorithm.

An oracle hands out trials (`create_trial`), takes their results
(`update_trial`, `end_trial`), retries failed ones, stops after too many
failures in a row, never proposes a configuration twice, and, once given a
project folder, commits every event to the `Store` so that a search resumes
exactly after any crash.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import random
import numbers
from typing import TYPE_CHECKING, Any, Mapping

from e2etune import errors
from e2etune.engine import _values
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.objective import MultiObjective, Objective, create_objective, score_of
from e2etune.engine.store import Store
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.protos import e2etune_pb2

if TYPE_CHECKING:
    import numpy as np

#: Version of the oracle state written by this code.
STATE_VERSION = 1


def _objective_to_protos(objective: Objective) -> list[e2etune_pb2.Objective]:
    objectives = objective.objectives if isinstance(objective, MultiObjective) else [objective]
    direction = {"min": e2etune_pb2.MIN, "max": e2etune_pb2.MAX}
    return [e2etune_pb2.Objective(name=o.name, direction=direction[o.direction]) for o in objectives]


def _check_positive_int(value: Any, name: str, allow_zero: bool = False) -> Any:
    if value is None:
        return None
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low} or None; got {value!r}.")
    return int(value)


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
        seed: Random seed of the algorithm; None picks one.
        max_retries_per_trial: How many times a trial that raised an error
            (other than `FailedTrialError`) is run again. Defaults to 0.
        max_consecutive_failed_trials: After this many failed trials in a
            row the search stops with an error. Defaults to 3.
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
        self.objective = create_objective(objective)
        self.max_trials = _check_positive_int(max_trials, "max_trials")
        self.max_retries_per_trial = _check_positive_int(
            max_retries_per_trial, "max_retries_per_trial", allow_zero=True) or 0
        self.max_consecutive_failed_trials = _check_positive_int(
            max_consecutive_failed_trials, "max_consecutive_failed_trials")
        if hyperparameters is not None and not isinstance(hyperparameters, HyperParameters):
            raise TypeError(
                f"`hyperparameters` must be a `HyperParameters`; got {type(hyperparameters).__name__}."
            )
        self.hyperparameters = hyperparameters.copy() if hyperparameters else HyperParameters()
        self.allow_new_entries = allow_new_entries
        self.tune_new_entries = tune_new_entries
        self.hyperparameters.allow_new_entries = allow_new_entries
        self.hyperparameters.tune_new_entries = tune_new_entries
        self.seed = random.randint(1, 10_000) if seed is None else int(seed)
        self._seed_state = 0
        self.trials: dict[str, Trial] = {}
        self.ongoing_trials: dict[str, Trial] = {}
        self.tuner_ids: set[str] = set()
        self._tried_so_far: set[str] = set()
        self._retry_queue: list[str] = []
        self._consecutive_failures: list[str] = []
        self._store: Store | None = None
        self.project_dir: str | None = None
        #: Attempts to draw an unseen configuration before the space counts as exhausted.
        self._max_collisions = 100

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
        """The algorithm's own state as a JSON-serializable dict (override to add to it)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores what `get_state` returned (override with `get_state`)."""

    # Trial lifecycle.

    def create_trial(self, tuner_id: str) -> Trial:
        """Returns the next trial for worker `tuner_id` (status STOPPED when the search is over)."""
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        self.tuner_ids.add(tuner_id)
        if self._retry_queue:
            trial = self.trials[self._retry_queue.pop(0)]
            return self._start(trial, tuner_id)
        trial_id = self._next_trial_id()
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            return Trial(self.hyperparameters.copy(), trial_id, TrialStatus.STOPPED)
        response = self.populate_space(trial_id)
        status = response.get("status", TrialStatus.RUNNING)
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = response.get("values") or {}
        trial = Trial(hyperparameters, trial_id, status)
        if status != TrialStatus.RUNNING:
            return trial
        self._tried_so_far.add(self._compute_values_hash(hyperparameters.values))
        self.trials[trial_id] = trial
        return self._start(trial, tuner_id)

    def _start(self, trial: Trial, tuner_id: str) -> Trial:
        trial.status = TrialStatus.RUNNING
        trial.attempts += 1
        self.ongoing_trials[tuner_id] = trial
        self._commit(trial)
        return trial

    def _next_trial_id(self) -> str:
        return f"{len(self.trials):0{len(str(self.max_trials))}d}"

    def update_trial(self, trial_id: str, metrics: Mapping[str, Any], step: int = 0) -> str:
        """Records metrics of a running trial at `step` and returns its status."""
        trial = self.get_trial(trial_id)
        for name, value in metrics.items():
            trial.metrics.update(name, value, step=step)
        if self.objective.name not in metrics:
            try:
                score = score_of({k: float(v) for k, v in metrics.items()}, self.objective)
            except (errors.FatalError, KeyError, TypeError, ValueError):
                score = None
            if score is not None:
                trial.metrics.update(self.objective.name, score, step=step)
        return trial.status

    def end_trial(self, trial: Trial) -> None:
        """Records the end of a trial: scores it, retries it or counts its failure.

        `trial.status` says how it ended: COMPLETED, FAILED (by
        `FailedTrialError`: never retried) or INVALID (by another error:
        retried up to `max_retries_per_trial`).

        Raises:
            TooManyFailedTrialsError: after `max_consecutive_failed_trials`
                failed trials in a row.
        """
        stored = self.get_trial(trial.trial_id)
        stored.status, stored.message = trial.status, trial.message
        stored.hyperparameters = trial.hyperparameters
        for tuner_id, ongoing in list(self.ongoing_trials.items()):
            if ongoing.trial_id == trial.trial_id:
                del self.ongoing_trials[tuner_id]
        self.update_space(trial.hyperparameters)
        self._tried_so_far.add(self._compute_values_hash(trial.hyperparameters.values))
        if stored.status == TrialStatus.INVALID and stored.message:
            if stored.attempts <= self.max_retries_per_trial:
                stored.status = TrialStatus.IDLE
                self._retry_queue.append(stored.trial_id)
            else:
                stored.status = TrialStatus.FAILED
        elif stored.status == TrialStatus.COMPLETED:
            self.score_trial(stored)
            if stored.score is None or math.isnan(stored.score):
                stored.status = TrialStatus.INVALID
                stored.message = (
                    f"The objective {self.objective.name!r} is NaN or missing; the trial is "
                    "not counted as a result."
                )
        if stored.status == TrialStatus.FAILED:
            self._consecutive_failures.append(stored.trial_id)
        elif stored.status != TrialStatus.IDLE:
            self._consecutive_failures = []
        self._commit(stored)
        self._check_consecutive_failures(stored)

    def _check_consecutive_failures(self, trial: Trial) -> None:
        limit = self.max_consecutive_failed_trials
        if limit and len(self._consecutive_failures) >= limit:
            raise errors.TooManyFailedTrialsError(
                f"{limit} trials failed in a row; the search stops. The last error, in trial "
                f"{trial.trial_id}, was:\n{trial.message}\nFix the error, or raise "
                "`max_consecutive_failed_trials` to go on despite such failures."
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
        """The best completed trials, best first."""
        scored = [
            t for t in self.trials.values()
            if t.status == TrialStatus.COMPLETED and t.has_finite_score
        ]
        reverse = self.objective.direction == "max"
        return sorted(scored, key=lambda t: t.score, reverse=reverse)[:num_trials]

    def get_space(self) -> HyperParameters:
        """A copy of the search space."""
        return self.hyperparameters.copy()

    def update_space(self, hyperparameters: HyperParameters) -> None:
        """Adds hyperparameters that user code declared and the space lacks."""
        known = {hp.name for hp in self.hyperparameters.space}
        new = [hp for hp in hyperparameters.space if hp.name not in known]
        if not new:
            return
        if not self.allow_new_entries:
            raise RuntimeError(
                f"New hyperparameters {[hp.name for hp in new]} were declared but "
                "`allow_new_entries=False`."
            )
        self.hyperparameters.merge(new)
        self._on_space_changed()

    def _on_space_changed(self) -> None:
        """Called after new hyperparameters joined the space; algorithms may react."""

    def remaining_trials(self) -> int | None:
        """How many trials may still be created, or None without `max_trials`."""
        if self.max_trials is None:
            return None
        return self.max_trials - len(self.trials)

    # Helpers for algorithms.

    def _compute_values_hash(self, values: Mapping[str, Any]) -> str:
        items = sorted((k, repr(_values.to_python(v))) for k, v in values.items()
                       if not k.startswith("tuner/"))
        return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:32]

    def _rng(self) -> "np.random.Generator":
        """A generator for the next random draw; the stream resumes with the search."""
        import numpy as np

        self._seed_state += 1
        return np.random.default_rng((self.seed, self._seed_state))

    def _random_values(self) -> dict[str, Any] | None:
        """Random values of the active hyperparameters not tried before, or None if none is found."""
        for _ in range(self._max_collisions):
            rng = self._rng()
            values: dict[str, Any] = {}
            for hp in self.hyperparameters.space:
                if all(c.is_active(values) for c in hp.conditions):
                    values[hp.name] = hp.random_sample(rng)
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
        return None

    # Persistence.

    def _set_project_dir(self, directory: str, project_name: str, overwrite: bool = False) -> None:
        """Opens the project's store and reloads a saved search unless `overwrite`."""
        import os

        self.project_dir = os.path.join(directory, project_name)
        self._store = Store(self.project_dir, overwrite=overwrite)
        state, trials = self._store.load()
        if state is None:
            self._commit()
        else:
            self._restore(state, trials)

    def _state_proto(self) -> e2etune_pb2.OracleState:
        return e2etune_pb2.OracleState(
            format_version=STATE_VERSION,
            space=self.hyperparameters.to_proto(),
            objectives=_objective_to_protos(self.objective),
            seed=self.seed,
            seed_state=self._seed_state,
            retry_queue=self._retry_queue,
            consecutive_failures=self._consecutive_failures,
            algorithm_state=json.dumps(self.get_state()).encode(),
            oracle_class=type(self).__name__,
        )

    def _commit(self, *trials: Trial) -> None:
        if self._store is not None:
            self._store.commit([t.to_proto() for t in trials], self._state_proto())

    def _restore(self, state: e2etune_pb2.OracleState, trials: list[e2etune_pb2.Trial]) -> None:
        if state.format_version > STATE_VERSION:
            raise errors.SearchStateError(
                f"The search in {self.project_dir} was saved by a newer e2etune. Upgrade e2etune, "
                "or pass `overwrite=True` to start a fresh search."
            )
        if state.oracle_class and state.oracle_class != type(self).__name__:
            raise errors.SearchStateError(
                f"The search in {self.project_dir} was made by {state.oracle_class}, not "
                f"{type(self).__name__}. Use the same tuner class, another `project_name`, or "
                "`overwrite=True` to start afresh."
            )
        try:
            saved_space = HyperParameters.from_proto(state.space)
            loaded = [Trial.from_proto(t) for t in trials]
        except (ValueError, TypeError, KeyError) as error:
            raise errors.SearchStateError(
                f"The search in {self.project_dir} cannot be loaded ({error}). Pass "
                "`overwrite=True` to start a fresh search."
            ) from None
        saved_space.merge(self.hyperparameters)
        saved_space.allow_new_entries = self.allow_new_entries
        saved_space.tune_new_entries = self.tune_new_entries
        self.hyperparameters = saved_space
        self.seed, self._seed_state = state.seed, state.seed_state
        self._consecutive_failures = list(state.consecutive_failures)
        self.trials = {t.trial_id: t for t in loaded}
        self._retry_queue = [t for t in state.retry_queue if t in self.trials]
        interrupted = [t.trial_id for t in loaded if t.status == TrialStatus.RUNNING]
        for trial_id in interrupted:
            self.trials[trial_id].status = TrialStatus.IDLE
            self.trials[trial_id].attempts -= 1
        self._retry_queue = interrupted + [t for t in self._retry_queue if t not in interrupted]
        self._tried_so_far = {self._compute_values_hash(t.hyperparameters.values) for t in loaded}
        self.ongoing_trials = {}
        self.set_state(json.loads(state.algorithm_state or b"{}"))
        if loaded and _objective_to_protos(self.objective) != list(state.objectives):
            for trial in loaded:
                if trial.status == TrialStatus.COMPLETED:
                    self.score_trial(trial)

    def save(self) -> None:
        """Commits the oracle's state (every trial event is committed already)."""
        self._commit()

    def reload(self) -> None:
        """Reloads the saved search from the project folder."""
        if self._store is None:
            raise errors.SearchStateError("This oracle has no project folder to reload from.")
        state, trials = self._store.load()
        if state is not None:
            self._restore(state, trials)

    def close(self) -> None:
        """Releases the project's store (and its writer lock)."""
        if self._store is not None:
            self._store.close()
            self._store = None
