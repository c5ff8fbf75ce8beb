"""`Oracle`: the trial lifecycle shared by every search algorithm.

An oracle hands out trials (`create_trial`), takes their results
(`update_trial`, `end_trial`), retries failed ones, stops after too many
failures in a row and never proposes a configuration twice. The algorithm
behind it is small: `populate_space` (the values of the next trial, "wait"
or "stop") and `get_state`/`set_state` (what it must save).

Once it has a project (`_set_project_dir`), the storage is the truth: every
call runs in one storage transaction that first reads what other processes
wrote since this one last looked, then decides, then commits, so any number
of processes on one storage are workers of one search. A running trial is
held under its worker's lease (`engine.lease`); when the worker is gone its
trial runs again under the same id, and a trial whose worker died
`max_crashes_per_trial` times ends FAILED.
"""

from __future__ import annotations

import abc
import collections
import functools
import hashlib
import logging
import math
import os
import random
import threading
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from e2etune import errors
from e2etune.engine import _queue, _search_sync, lease
from e2etune.engine._oracle_arguments import SHARED_DOC
from e2etune.engine._oracle_checks import (
    check_int,
    check_objective,
    check_positive,
    check_pruner,
    check_space,
    objective_to_protos,
    objectives_of,
)
from e2etune.engine._trial_codec import TrialCodec, collector_paused, values_key
from e2etune.engine.hyperparameters import Fixed, HyperParameters
from e2etune.engine.metrics import MetricsTracker
from e2etune.engine.objective import DefaultObjective, Objective, score_of  # noqa: F401
from e2etune.engine.trial import Trial, TrialStatus, conclude

if TYPE_CHECKING:
    import numpy as np

    from e2etune.storage import BaseStorage, StorageTransaction

_LOG = logging.getLogger("e2etune")


def _synchronized(method: Callable) -> Callable:
    """Runs `method` under the oracle's lock (workers may call it from several threads)."""

    @functools.wraps(method)
    def wrapper(self: "Oracle", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Oracle(_search_sync.SearchSync, abc.ABC):
    """Base class of the search algorithms; subclasses implement `populate_space`.

    Args:
        objective: A metric name, an `Objective`, or a list of these. None
            minimizes the single value each trial returns.
        max_trials: How many trials to run in total; None means until the
            algorithm stops (e.g. an exhausted space).

    Raises:
        ValueError, TypeError: for an argument the oracle cannot use.
    """

    __doc__ = (__doc__ or "") + SHARED_DOC

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
        *,
        storage: "str | BaseStorage | None" = None,
        heartbeat_interval: float = 10.0,
        lease_grace: float = 50.0,
        max_crashes_per_trial: int = 3,
        pruner: Any = None,
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
        for flag, value in (("tune_new_entries", tune_new_entries),
                            ("allow_new_entries", allow_new_entries)):
            if not value and hyperparameters is None:
                raise ValueError(
                    f"`{flag}=False` restricts the search to the hyperparameters you give, but "
                    "no `hyperparameters` were given: pass `hyperparameters=` (a "
                    f"`HyperParameters` declaring the space), or leave `{flag}=True`.")
        self.allow_new_entries = bool(allow_new_entries)
        self.tune_new_entries = bool(tune_new_entries)
        self.hyperparameters = hyperparameters.copy() if hyperparameters else HyperParameters()
        self.hyperparameters.allow_new_entries = self.allow_new_entries
        self.hyperparameters.tune_new_entries = self.tune_new_entries
        check_space(self.hyperparameters, self.allow_new_entries)
        self.seed = random.randint(1, 10_000) if seed is None else check_int(seed, "seed", 0, False)
        self.storage = _search_sync.check_storage(storage)
        self.heartbeat_interval = check_positive(heartbeat_interval, "heartbeat_interval")
        self.lease_grace = check_positive(lease_grace, "lease_grace")
        if self.lease_grace <= self.heartbeat_interval:
            raise ValueError(
                f"`lease_grace` ({lease_grace}) must be longer than `heartbeat_interval` "
                f"({heartbeat_interval}), or every lease would expire between two renewals.")
        self.max_crashes_per_trial = check_int(
            max_crashes_per_trial, "max_crashes_per_trial", 1, False)
        #: Stops unpromising trials early from their reports (`e2etune.pruners`); None: never.
        self.pruner = check_pruner(pruner)
        self._seed_state = 0
        self.trials: dict[str, Trial] = {}
        #: The running trials of the whole search, by the id of the tuner running each.
        self.ongoing_trials: dict[str, Trial] = {}
        self.tuner_ids: set[str] = set()
        #: How many trials ran (or run) each configuration key, and each trial's key.
        self._tried_so_far: collections.Counter[tuple] = collections.Counter()
        self._keys: dict[str, tuple] = {}
        self._retry_queue: list[str] = []
        #: Configurations given to `enqueue_trial`, in the order they run (saved with the state).
        self._queued: list[dict[str, Any]] = []
        self._consecutive_failures: list[str] = []
        #: The failure streak last reported with an error (reported once).
        self._reported_streak: tuple[str, ...] = ()
        #: The worker token holding each trial's lease, by trial id (None: nobody).
        self._holders: dict[str, str | None] = {}
        #: The trials this oracle ran and lost to another worker (their results are refused).
        self._lost: set[str] = set()
        self._best: Trial | None = None
        #: The ids of the trials in the order they started and ended (KerasTuner's).
        self.start_order: list[str] = []
        self.end_order: list[str] = []
        self._token = uuid.uuid4().hex
        self.project_dir: str | None = None
        #: Attempts to draw an unseen configuration before the space counts as exhausted.
        self._max_collisions = 100
        self._lock = threading.RLock()
        self._codec = TrialCodec()
        self._defaults_cache: tuple[list, dict[str, Any]] = ([], {})
        self._init_sync()

    # The algorithm's hooks.

    @abc.abstractmethod
    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Chooses the values of a new trial.

        It runs under the storage's lock with every trial of the search
        (other workers' included) in `self.trials`.

        Returns:
            `{"status": TrialStatus.RUNNING, "values": {...}}` for a trial to
            run, `{"status": TrialStatus.STOPPED}` when the search is over, or
            `{"status": TrialStatus.IDLE}` to ask the worker to wait.
        """

    def get_state(self) -> dict[str, Any]:
        """The algorithm's own state as a JSON-serializable dict (override to add to it).

        It is saved with every decision and restored (`set_state`) in every
        worker before its next one, so keep it small: never a list that grows
        with the number of trials (derive those from `self.trials`).
        """
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores what `get_state` returned (possibly by another worker); `self.trials` is current."""

    def _on_space_changed(self) -> None:
        """Called after new hyperparameters joined the space; algorithms may react."""

    def _on_trial_end(self, trial: Trial) -> None:
        """Called when `trial` got its status at its end (IDLE for a retry), before the
        state is saved in the same transaction; algorithms may update their state."""

    # Trial lifecycle.

    @_synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        """Returns the next trial for worker `tuner_id`.

        A trial waiting to be run again (a retry, or one interrupted or left
        by a dead worker) comes first, under its own id. The trial's status
        is STOPPED when the search is over and IDLE when the worker should
        wait (a round to finish, or other workers' trials that may still
        need a worker).

        Raises:
            TooManyFailedTrialsError: when other workers' trials failed
                `max_consecutive_failed_trials` times in a row.
        """
        with self._transaction() as transaction:
            ongoing = self.ongoing_trials.get(tuner_id)
            if ongoing is not None and self._holders.get(ongoing.trial_id) == self._token:
                return ongoing
            self._check_consecutive_failures()
            self.tuner_ids.add(tuner_id)
            if transaction is not None:
                self._reclaim_lost_trials(transaction)
            if self._retry_queue:
                trial = self.trials[self._retry_queue.pop(0)]
                self._start(transaction, trial, tuner_id)
                return trial
            return self._new_trial(transaction, tuner_id)

    def _new_trial(self, transaction: "StorageTransaction | None", tuner_id: str) -> Trial:
        trial_id = self._next_trial_id()
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            response: Mapping[str, Any] = {"status": TrialStatus.STOPPED}
        else:
            response = self._propose(trial_id)
        status = response.get("status", TrialStatus.RUNNING)
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = dict(response.get("values") or {})
        trial = Trial(hyperparameters, trial_id, status)
        if status == TrialStatus.RUNNING:
            self._remember(trial_id, self._compute_values_hash(hyperparameters.values))
            self.trials[trial_id] = trial
            self._start(transaction, trial, tuner_id)
            return trial
        if status == TrialStatus.STOPPED and any(
                self._holders.get(t) != self._token for t in self._running):
            # Another worker's trial may yet need running again, should that worker die.
            trial.status = TrialStatus.IDLE
        if trial.status == TrialStatus.STOPPED:
            self.tuner_ids.discard(tuner_id)
            if self._queued:
                _LOG.warning(
                    "The search stopped with %d queued configuration(s) not run (max_trials "
                    "reached, or the algorithm ended its search): %s. Raise `max_trials` to run "
                    "them.", len(self._queued), self._queued)
        self._save(transaction)
        return trial

    # Queued configurations.

    @_synchronized
    def enqueue_trial(self, values: Mapping[str, Any], skip_if_exists: bool = False) -> bool:
        """Queues a configuration to run before the algorithm proposes any (Optuna's name).

        Queued configurations run first, in the order they were queued, each
        once (an already-tried configuration runs again: you asked for it; use
        `skip_if_exists` to avoid that, say when a script that queues resumes).
        `values` may name a part of the space: the others take what the
        algorithm proposes for the trial, and their default where it proposes
        none (a hyperparameter that the queued values make active). A
        conditional hyperparameter needs its parents in `values`, with values
        that make it active. Queued trials count toward `max_trials`. The queue
        is saved with the search: it survives a restart, and every worker of
        the search takes from it (each configuration runs once). GridSearch
        fills the rest with defaults and still visits every point of its grid;
        Hyperband runs a queued configuration in the first round of a bracket
        (the current one if its first round has room, else the next).

        Example:
            >>> tuner.oracle.enqueue_trial({"units": 64, "learning_rate": 1e-3})

        Args:
            values: Hyperparameter values by name.
            skip_if_exists: Queue nothing when a trial of the search ran (or
                runs) with these values, or they are queued already. Defaults to False.

        Returns:
            Whether the configuration was queued.

        Raises:
            ValueError, TypeError: naming the hyperparameter and what it allows,
                for a name outside the space or a value it refuses.
        """
        self._refresh()  # another worker may have declared hyperparameters
        checked = _queue.check(values, self.hyperparameters)
        with self._transaction() as transaction:
            if skip_if_exists and self._queued_exists(checked):
                _LOG.info("Not queued: the configuration %s was tried or queued already.",
                          checked)
                return False
            self._queued.append(checked)
            self._save(transaction)
        return True

    def _queued_exists(self, values: Mapping[str, Any]) -> bool:
        if any(_queue.matches(values, q) and _queue.matches(q, values) for q in self._queued):
            return True
        return any(_queue.matches(values, t.hyperparameters.values) for t in self.trials.values())

    def _propose(self, trial_id: str) -> Mapping[str, Any]:
        """`populate_space`, or the first queued configuration completed by the algorithm."""
        if not self._queued:
            return self.populate_space(trial_id)
        response, taken = self._populate_queued(trial_id, self._queued[0])
        if taken:  # out of the queue in the transaction that creates its trial
            self._queued.pop(0)
        return response

    def _populate_queued(self, trial_id: str, queued: dict[str, Any]
                         ) -> tuple[Mapping[str, Any], bool]:
        """The response for a trial of the queued configuration, and whether it was used.

        The algorithm proposes (unless `queued` fixes every active
        hyperparameter) and the queued values replace its proposal's. When it
        says wait, the configuration waits; when it has stopped, the
        configuration still runs (the rest at defaults). Algorithms whose
        bookkeeping depends on their proposals override this.
        """
        proposed: Mapping[str, Any] | None = None
        if not _queue.covers(queued, self.hyperparameters):
            response = self.populate_space(trial_id)
            status = response.get("status", TrialStatus.RUNNING)
            if status == TrialStatus.IDLE:
                return response, False
            if status == TrialStatus.RUNNING:
                proposed = response.get("values")
        values = _queue.complete(queued, proposed, self.hyperparameters)
        return {"status": TrialStatus.RUNNING, "values": values}, True

    def _start(self, transaction: "StorageTransaction | None", trial: Trial,
               tuner_id: str) -> None:
        """Runs `trial` (again) from scratch: anything an earlier attempt recorded is dropped."""
        if trial.trial_id in self._holders:
            TrialStatus.check_transition(trial.trial_id, trial.status, TrialStatus.RUNNING)
        trial.status = TrialStatus.RUNNING
        trial.metrics = MetricsTracker()
        trial.score, trial.best_step, trial.message = None, 0, None
        trial.attempts += 1
        trial.tuner_id = tuner_id
        trial._attach(self)
        self._holders[trial.trial_id] = self._token
        self._lost.discard(trial.trial_id)
        self._track(trial)
        self._save(transaction, trial)

    def _next_trial_id(self) -> str:
        """KerasTuner's id: the trial's number, zero-padded to the width of `max_trials`."""
        number, width = len(self.trials), len(str(self.max_trials))
        while f"{number:0{width}d}" in self.trials:
            number += 1
        return f"{number:0{width}d}"

    def _reclaim_lost_trials(self, transaction: "StorageTransaction", opening: bool = False
                             ) -> None:
        """Queues again (or fails) the running trials whose worker is gone.

        When this oracle opens the search (`opening`), the trials of other
        oracles of this process are queued again too, as interrupted: a new
        oracle on a project replaces the ones this process made before, as
        in KerasTuner.
        """
        others = [t for t in self._running.values()
                  if self._holders.get(t.trial_id) != self._token]
        if not others and not opening:
            return
        workers, now = transaction.workers(), transaction.now()
        if opening:  # forget the workers that died between trials
            for worker in workers.values():
                if lease.is_gone(worker, now):
                    transaction.remove_worker(worker.token)
        for trial in others:
            token = self._holders.get(trial.trial_id)
            worker = workers.get(token) if token else None
            if opening and worker is not None and lease.same_process(worker):
                self._release(trial)
                self._save(transaction, trial)
            elif lease.is_gone(worker, now):
                self._lose(transaction, trial, worker.host if worker else None)
                if worker is not None:
                    transaction.remove_worker(worker.token)

    def _lose(self, transaction: "StorageTransaction", trial: Trial, host: str | None) -> None:
        trial.crashes += 1
        where = f"tuner {trial.tuner_id}" + (f" on {host.split('/')[0]}" if host else "")
        if trial.crashes < self.max_crashes_per_trial:
            self._release(trial)
            _LOG.warning("The worker running trial %s (%s) is gone; the trial will run again.",
                         trial.trial_id, where)
        else:
            trial.attempts = max(trial.attempts - 1, 0)
            self._set_status(trial, TrialStatus.FAILED)
            trial.message = (
                f"The process running trial {trial.trial_id} died {trial.crashes} times (the "
                f"last time in {where}), so the trial is marked failed and the search goes on. "
                "Look for what kills it (the out-of-memory killer: `dmesg`; a crash in native "
                "code), or raise `max_crashes_per_trial`.")
            self._count_failure(trial)
            self._holders[trial.trial_id] = None
            self._track(trial)
            _LOG.warning("Trial %s failed: its worker died %d times.", trial.trial_id,
                         trial.crashes)
        self._save(transaction, trial)

    @_synchronized
    def release_trial(self, trial_id: str) -> None:
        """Puts a running trial of this worker back in the queue: its run was interrupted.

        The tuner calls it when the search is stopped (Ctrl-C, SIGTERM, a
        `FatalError`); the trial runs again first when the search resumes,
        and the interrupted run counts neither as an attempt nor as a crash.
        """
        with self._transaction() as transaction:
            trial = self.trials.get(trial_id)
            if (trial is None or trial.status != TrialStatus.RUNNING
                    or self._holders.get(trial_id) != self._token):
                return
            self._release(trial)
            self._save(transaction, trial)

    @_synchronized
    def update_trial(self, trial_id: str, metrics: Mapping[str, Any], step: int = 0) -> str:
        """Records metrics of a running trial at `step` (committed at once) and returns its status."""
        with self._transaction() as transaction:
            if self._unknown_after_overwrite(trial_id, "metrics"):
                return TrialStatus.STOPPED
            trial = self.get_trial(trial_id)
            if self._refuses(trial, "metrics"):
                return trial.status
            for name, value in metrics.items():
                if not trial.metrics.exists(name):
                    trial.metrics.register(name, self._directions.get(name))
                trial.metrics.update(name, value, step=step)
            if self.objective.name not in metrics:
                try:
                    score = score_of({k: float(v) for k, v in metrics.items()}, self.objective)
                except (errors.FatalError, KeyError, TypeError, ValueError):
                    score = None
                if score is None and not isinstance(self.objective, DefaultObjective):
                    raise ValueError(
                        "Objective value missing in metrics reported to the Oracle, expected: "
                        f"{[p.name for p in self._objective_protos]}"
                        f", found: {sorted(metrics)}. Report the objective's metric, or choose "
                        "an `objective` among the metrics the trial reports.")
                if score is not None:
                    if not trial.metrics.exists(self.objective.name):
                        trial.metrics.register(self.objective.name, self.objective.direction)
                    trial.metrics.update(self.objective.name, score, step=step)
            self._save(transaction, trial, state=False)
            return trial.status

    @_synchronized
    def should_prune(self, trial_id: str) -> bool:
        """Whether `self.pruner` says to stop running trial `trial_id` now (False without one).

        Reads what the other workers wrote, then asks the pruner with the
        values the trial reported (as stored) and every other trial of the
        search. `Trial.should_prune` calls it; in a distributed search the
        chief answers each worker's question with it, so no trial travels.

        Raises:
            KeyError: for a trial this search does not have.
        """
        if self.pruner is None:
            return False
        self._refresh()
        if self._unknown_after_overwrite(trial_id, "pruning question"):
            return False
        current = self.get_trial(trial_id)
        others = [t for t in self.trials.values() if t.trial_id != trial_id]
        return bool(self.pruner.prune(current, others, self.objective))

    @_synchronized
    def end_trial(self, trial: Trial | str, status: str | None = None) -> None:
        """Records the end of a trial: scores it, retries it or counts its failure.

        `trial.status` says how it ended: COMPLETED; INVALID (an error that
        may be retried, up to `max_retries_per_trial` times, then FAILED);
        FAILED (by `FailedTrialError`: never retried); PRUNED (stopped by the
        pruner: scored by its last reported value, never retried, not a
        failure, ranked after every completed trial); or STOPPED. A
        COMPLETED trial whose objective is NaN or missing becomes INVALID: it
        is retried like an error while retries are left, never counts as a
        best trial, and counts toward `max_consecutive_failed_trials`.

        A result for a trial this worker no longer holds (its lease was lost
        and the trial given to another worker) is refused and logged, never
        counted twice.

        KerasTuner's older form `end_trial(trial_id, status)` works too, and
        a trial still marked RUNNING counts as COMPLETED.

        Raises:
            TooManyFailedTrialsError: after `max_consecutive_failed_trials`
                failed trials in a row; the message ends with the last error.
        """
        if not isinstance(trial, Trial):
            trial = self.get_trial(trial)
        else:
            status = None
        conclude(trial, status)
        with self._transaction() as transaction:
            if self._unknown_after_overwrite(trial.trial_id, "result"):
                return
            stored = self.get_trial(trial.trial_id)
            if self._refuses(stored, "result"):
                return
            # The caller may have set the final status on the very object the oracle holds.
            was = TrialStatus.RUNNING if stored.trial_id in self._running else stored.status
            self._set_status(stored, self._final_status(stored, trial), was)
            self._holders[stored.trial_id] = None
            self._track(stored)
            self._note_best(stored)
            self._on_trial_end(stored)
            self._save(transaction, stored)
        self._check_consecutive_failures(stored)

    def _final_status(self, stored: Trial, ended: Trial) -> str:
        """Scores `stored` as `ended` reports it and decides its status (queueing a retry)."""
        stored.message = ended.message
        stored.hyperparameters = ended.hyperparameters
        self._update_space(stored.hyperparameters)
        self._remember(stored.trial_id, self._ran_key(stored.hyperparameters))
        status, nan_objective = ended.status, False
        if status == TrialStatus.COMPLETED:
            self.score_trial(stored)
            if stored.score is None or math.isnan(stored.score):
                nan_objective, status = True, TrialStatus.INVALID
                stored.message = (
                    f"The objective {self.objective.name!r} is NaN or missing; the trial does "
                    "not count as a result."
                )
        elif status == TrialStatus.PRUNED:
            self._score_pruned(stored)
            if stored.score is not None and math.isnan(stored.score):
                nan_objective, status = True, TrialStatus.INVALID
                stored.message = (f"The objective {self.objective.name!r} was NaN when the "
                                  "trial was pruned; the trial does not count as a result.")
        if status == TrialStatus.INVALID and not nan_objective:
            if stored.attempts <= self.max_retries_per_trial:
                self._retry_queue.append(stored.trial_id)
                return TrialStatus.IDLE
            status = TrialStatus.FAILED
        if status in (TrialStatus.FAILED, TrialStatus.INVALID):
            self._count_failure(stored)
        else:
            self._consecutive_failures = []
        return status

    def _score_pruned(self, trial: Trial) -> None:
        """A pruned trial's score: its last reported value (None if it reported nothing)."""
        name = self.objective.name
        history = trial.metrics.get_history(name) if trial.metrics.exists(name) else []
        trial.score = history[-1].mean() if history else None
        trial.best_step = history[-1].step if history else 0

    def _count_failure(self, trial: Trial) -> None:
        self._consecutive_failures.append(trial.trial_id)
        del self._consecutive_failures[: -(self.max_consecutive_failed_trials or 1)]

    def _set_status(self, trial: Trial, status: str, was: str | None = None) -> None:
        TrialStatus.check_transition(trial.trial_id, was or trial.status, status)
        trial.status = status

    def _refuses(self, trial: Trial, what: str) -> bool:
        """Whether this worker lost `trial` to another one (then its `what` is logged and dropped).

        The caller may have changed the cached trial already (its status, say):
        the next transaction reads it again from the storage.
        """
        if self._lost_to_another(trial.trial_id):
            _LOG.warning(
                "Refused the %s of trial %s: this worker lost the trial's lease (it was taken "
                "for dead), and the trial was queued again.", what, trial.trial_id)
            self._stale = True
            return True
        return False

    def _lost_to_another(self, trial_id: str) -> bool:
        holder = self._holders.get(trial_id)
        return trial_id in self._lost or (
            trial_id in self._running and holder not in (None, self._token))

    @_synchronized
    def lease_lost(self, trial_id: str) -> bool:
        """Whether this worker lost the lease of its running trial `trial_id`: it was taken
        for dead, and the trial given to another worker (its results are refused).

        Reads what changed in the storage since the last read. The Keras tuner
        asks at each epoch's end, and stops training a lost trial.
        """
        self._refresh()
        return self._lost_to_another(trial_id)

    def _unknown_after_overwrite(self, trial_id: str, what: str) -> bool:
        """Whether `trial_id` vanished because another process overwrote the search (logged)."""
        if trial_id in self.trials or not self._was_cleared:
            return False
        _LOG.warning("Refused the %s of trial %s: another process overwrote the search it "
                     "belonged to.", what, trial_id)
        return True

    def _check_consecutive_failures(self, trial: Trial | None = None) -> None:
        limit = self.max_consecutive_failed_trials
        streak = tuple(self._consecutive_failures)
        if not limit or len(streak) < limit or streak == self._reported_streak:
            return
        self._reported_streak = streak
        last = trial if trial is not None else self.trials[streak[-1]]
        raise errors.TooManyFailedTrialsError(
            f"Number of consecutive failures exceeded the limit of {limit}: {limit} trials failed "
            f"in a row, so the search stops. The last error, in trial {last.trial_id}, was:\n"
            f"{last.message}\nFix the error (the search resumes where it stopped), or raise "
            "`max_consecutive_failed_trials`."
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

    @_synchronized
    def get_best_trials(self, num_trials: int = 1) -> list[Trial]:
        """The best trials of the whole search, best first.

        Trials that completed with a finite score come first, ranked by
        score; when there are fewer than `num_trials` of them, the other
        trials follow in creation order (as in KerasTuner), so that a search
        whose every trial failed still names them.
        """
        self._refresh()
        best = self._best_of(self.trials.values(), num_trials)
        if len(best) < num_trials:
            chosen = {t.trial_id for t in best}
            best += [t for t in self.trials.values() if t.trial_id not in chosen]
        return best[:num_trials]

    def _best_of(self, trials: Iterable[Trial], num_trials: int) -> list[Trial]:
        """The best `num_trials` of `trials` that completed with a finite score, best first."""
        scored = [t for t in trials if t.status == TrialStatus.COMPLETED and t.has_finite_score]
        reverse = self.objective.direction == "max"
        return sorted(scored, key=lambda t: t.score, reverse=reverse)[:num_trials]

    def _note_best(self, trial: Trial) -> None:
        """Keeps the best trial so far up to date (without a scan of all trials)."""
        if trial.status != TrialStatus.COMPLETED or not trial.has_finite_score:
            return
        best = self._best
        if best is None or (trial.score > best.score if self.objective.direction == "max"
                            else trial.score < best.score):
            self._best = trial

    def best_trial_so_far(self) -> Trial | None:
        """The best completed trial this worker knows of, without reading the storage."""
        return self._best

    def get_space(self) -> HyperParameters:
        """A copy of the search space."""
        return self.hyperparameters.copy()

    @_synchronized
    def update_space(self, hyperparameters: HyperParameters) -> None:
        """Appends the hyperparameters that user code declared and the space lacks."""
        with self._transaction() as transaction:
            if self._update_space(hyperparameters):
                self._save(transaction)

    def _update_space(self, hyperparameters: HyperParameters) -> bool:
        known = {hp.name for hp in self.hyperparameters.space}
        new = [hp for hp in hyperparameters.space if hp.name not in known]
        if not new:
            return False
        if not self.allow_new_entries:
            raise RuntimeError(
                f"New hyperparameters {[hp.name for hp in new]} were declared but "
                "`allow_new_entries` is `False`. Declare them in `hyperparameters`, or pass "
                "`allow_new_entries=True`."
            )
        if not self.tune_new_entries:  # they keep their defaults, outside the space
            return False
        self.hyperparameters.merge(new)
        self._on_space_changed()
        return True

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

    def _ran_key(self, hyperparameters: HyperParameters,
                 values: Mapping[str, Any] | None = None) -> tuple:
        """The key of the configuration a trial ran: its `values` (by default its active
        ones), less the entries it declared that the search does not tune (always
        their default)."""
        defaults = self._defaults()
        untuned = [hp.name for hp in hyperparameters.space
                   if hp.name not in defaults and isinstance(hp, Fixed)]
        return values_key(hyperparameters.values if values is None else values, defaults, untuned)

    def _remember(self, trial_id: str, key: tuple) -> None:
        """Records that trial `trial_id` runs the configuration `key` (its values may change)."""
        old = self._keys.get(trial_id)
        if old == key:
            return
        if old is not None:
            self._tried_so_far[old] -= 1
            if not self._tried_so_far[old]:
                del self._tried_so_far[old]
        self._keys[trial_id] = key
        self._tried_so_far[key] += 1

    def _duplicate(self, values: Mapping[str, Any]) -> bool:
        """Whether a trial already ran (or runs) with `values` (KerasTuner's name)."""
        return self._compute_values_hash(values) in self._tried_so_far

    def _populate_space(self, trial_id: str) -> dict[str, Any]:
        """Deprecated alias of `populate_space` (KerasTuner's older name)."""
        warnings.warn("`Oracle._populate_space` is deprecated; call `populate_space`.",
                      DeprecationWarning, stacklevel=2)
        return self.populate_space(trial_id)

    def _score_trial(self, trial: Trial) -> None:
        """Deprecated alias of `score_trial` (KerasTuner's older name)."""
        warnings.warn("`Oracle._score_trial` is deprecated; call `score_trial`.",
                      DeprecationWarning, stacklevel=2)
        self.score_trial(trial)

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

    # Persistence (the storage side is in `_search_sync`).

    @_synchronized
    def _set_project_dir(self, directory: str | os.PathLike, project_name: str,
                         overwrite: bool = False, storage: Any = None) -> None:
        """Opens the search `project_name` and continues it, unless `overwrite`.

        Args:
            directory: The folder of the project folders (trial folders go there).
            project_name: The search's name in the storage and its folder's name.
            overwrite: Whether to start afresh; ignored while other workers are
                running the search (this one joins them).
            storage: The storage; None for the oracle's own `storage`.
        """
        self.project_dir = os.path.join(os.fspath(directory), project_name)
        with collector_paused():
            self._open(project_name, overwrite, storage if storage is not None else self.storage)

    @_synchronized
    def save(self) -> None:
        """Commits the oracle's state (every trial event is committed already)."""
        with self._transaction() as transaction:
            self._save(transaction)

    @_synchronized
    def reload(self) -> None:
        """Reads the whole search from the storage again."""
        if self._storage is None:
            raise errors.SearchStateError("This oracle has no project folder to reload from.")
        with collector_paused():
            self._forget()
            with self._transaction():
                pass

    @_synchronized
    def close(self) -> None:
        """Leaves the search: this worker's running trials go back to the queue.

        The oracle keeps what it knows and can still be queried; trials can
        no longer be created or ended through it.
        """
        if self._storage is not None:
            self._closed = True
        self._leave()

