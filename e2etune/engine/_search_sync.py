"""`SearchSync`: how an oracle keeps its view of the search in step with the storage.

The oracle's `trials`, queues, random stream and algorithm state are a
cache of the storage. Each lifecycle call runs in `_transaction()`, which
takes the project's lock, applies what other workers wrote since this
worker's last revision (incrementally: only the rows written since), lets
the call decide, and commits what it wrote. A transaction that fails leaves
the cache stale; the next one reads the search again from the start.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import json
import logging
import math
import os
import pathlib
import shutil
import time
import weakref
from typing import TYPE_CHECKING, Any, Iterator

from e2etune import errors
from e2etune.engine import _queue, lease
from e2etune.engine._trial_codec import TrialCodec
from e2etune.engine.hyperparameters import HyperParameter, HyperParameters
from e2etune.engine.kerastuner_project import is_kerastuner_project, read_kerastuner_project
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.protos import e2etune_pb2, parse
from e2etune.storage import (
    OVERWRITE_HINT,
    BaseStorage,
    Changes,
    StateRecord,
    StorageTransaction,
    TrialRecord,
    open_project_storage,
)

if TYPE_CHECKING:
    from e2etune.engine.oracle import Oracle

#: Version of the oracle state written by this code; another version is refused.
STATE_VERSION = 1
_LOG = logging.getLogger("e2etune")

#: Oracles with an open search, left cleanly when the interpreter exits.
_LIVE: "weakref.WeakSet[SearchSync]" = weakref.WeakSet()


@atexit.register
def _leave_all() -> None:
    for oracle in list(_LIVE):
        with contextlib.suppress(Exception):
            oracle._leave()


def check_storage(storage: Any) -> Any:
    """Refuses a `storage` argument that is neither None, a URL, a path nor a `BaseStorage`."""
    if storage is None or isinstance(storage, (str, os.PathLike, BaseStorage)):
        return storage
    raise TypeError(
        "`storage` must be a URL such as 'sqlite:///path/search.db' or "
        f"'postgresql://user@host:5432/db', or a `BaseStorage`; got {type(storage).__name__}.")


class SearchSync:
    """The storage side of `Oracle` (a mixin: it uses the oracle's attributes)."""

    def _init_sync(self: "Oracle") -> None:
        self._storage: BaseStorage | None = None
        self._owns_storage = False
        self._project: str | None = None
        self._revision = 0
        self._stale = False
        self._in_transaction = False
        self._closed = False
        self._was_cleared = False
        self._renewed = 0.0
        self._worker: lease.WorkerRecord | None = None
        self._heartbeat: lease.Heartbeat | None = None
        #: Each trial's position in creation order, by id.
        self._numbers: dict[str, int] = {}
        #: Every running trial of the search, by id.
        self._running: dict[str, Trial] = {}
        #: The parsed search spaces of the storage, by key: hyperparameters and names.
        self._spaces: dict[int, tuple[list[HyperParameter], list[str]]] = {}
        self._state_space_id: int | None = None
        self._written_state: bytes | None = None
        self._ordered_starts: set[str] = set()
        self._ordered_ends: set[str] = set()

    # Transactions.

    @contextlib.contextmanager
    def _transaction(self: "Oracle") -> Iterator[StorageTransaction | None]:
        """The project's lock with the cache brought up to date; None without a project."""
        if self._storage is None:
            if self._closed:
                raise errors.SearchStateError(
                    f"This oracle left the search in {self.project_dir} (`close()`): make a new "
                    "tuner or oracle on the project to go on with it.")
            yield None
            return
        if self._stale:
            self._forget()
        try:
            with self._storage.transaction(self._project) as transaction, self._locked():
                self._apply(transaction, transaction.changes(self._revision))
                self._keep_lease(transaction)
                yield transaction
                revision = transaction.next_revision
        except BaseException:
            self._stale = True
            raise
        self._revision = revision

    @contextlib.contextmanager
    def _locked(self: "Oracle") -> Iterator[None]:
        """Marks the time this oracle holds the project's lock (its cache is current then)."""
        self._in_transaction = True
        try:
            yield
        finally:
            self._in_transaction = False

    def _keep_lease(self: "Oracle", transaction: StorageTransaction) -> None:
        """Renews this worker's lease when a heartbeat is due: one may wait behind the lock."""
        if self._worker is not None and (
                time.monotonic() - self._renewed > self.heartbeat_interval):
            transaction.put_worker(dataclasses.replace(
                self._worker, expires=transaction.now() + self.lease_grace))
            self._renewed = time.monotonic()

    def _refresh(self: "Oracle") -> None:
        """Reads what other workers wrote, without taking the project's lock."""
        if self._storage is None or self._in_transaction:  # in a transaction: up to date
            return
        if self._stale:
            self._forget()
        changes = self._storage.read(self._project, self._revision)
        if changes.revision > self._revision:
            self._apply(None, changes)
            self._revision = changes.revision

    def _forget(self: "Oracle") -> None:
        """Drops the cache, so that the next transaction reads the whole search."""
        self.trials, self.ongoing_trials, self._running = {}, {}, {}
        self._tried_so_far, self._keys = collections.Counter(), {}
        self._holders, self._numbers = {}, {}  # (`_lost` stays: this worker's own knowledge)
        self._retry_queue, self._consecutive_failures, self._queued = [], [], []
        self._spaces, self._best = {}, None
        self.start_order, self.end_order = [], []
        self._ordered_starts, self._ordered_ends = set(), set()
        self._state_space_id, self._written_state = None, None
        self._revision, self._stale = 0, False

    # Reading.

    def _apply(self: "Oracle", source: StorageTransaction | None, changes: Changes) -> None:
        if changes.cleared:
            self._forget()
            self._was_cleared = True
        try:
            state = None
            if changes.state is not None:
                state = parse(e2etune_pb2.OracleState, changes.state.data, "oracle state")
                self._check_saved_state(state)
                self._merge_saved_space(source, changes.state.space_id)
            for record in changes.trials:
                self._ingest(source, record)
            if state is not None:
                self._restore_state(state)
                self._written_state = changes.state.data
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
            raise errors.SearchStateError(
                f"The search in {self._where()} cannot be loaded ({error}). {OVERWRITE_HINT}"
            ) from None

    def _space(self: "Oracle", source: StorageTransaction | None,
               space_id: int) -> tuple[list[HyperParameter], list[str]]:
        entry = self._spaces.get(space_id)
        if entry is None:
            if source is not None:
                data = source.space(space_id)
            else:
                data = self._storage.spaces(self._project)[space_id]
            space = TrialCodec.space_of(data, f"search space {space_id}")
            entry = self._spaces[space_id] = (space, [hp.name for hp in space])
        return entry

    def _merge_saved_space(self: "Oracle", source: StorageTransaction | None,
                           space_id: int) -> None:
        """Adds the hyperparameters that other workers declared (saved first, in their order)."""
        if space_id == self._state_space_id:
            return
        saved, _ = self._space(source, space_id)
        self._state_space_id = space_id
        known = {hp.name for hp in self.hyperparameters.space}
        if all(hp.name in known for hp in saved):
            return
        space = HyperParameters()
        space.merge(saved)
        space.merge(self.hyperparameters)
        space.allow_new_entries = self.allow_new_entries
        space.tune_new_entries = self.tune_new_entries
        self.hyperparameters = space
        self._on_space_changed()

    def _ingest(self: "Oracle", source: StorageTransaction | None, record: TrialRecord) -> None:
        space, names = self._space(source, record.space_id)
        trial, values = TrialCodec.decode(record.data, space, names)
        trial.hyperparameters.allow_new_entries = self.allow_new_entries
        trial.hyperparameters.tune_new_entries = self.tune_new_entries
        trial_id = trial.trial_id
        known = self.trials.get(trial_id)
        self._remember(trial_id, self._ran_key(trial.hyperparameters, values))
        if known is None:
            self.trials[trial_id] = trial
        else:
            if self._holders.get(trial_id) == self._token and record.worker != self._token:
                self._lost.add(trial_id)
            known.__dict__.update(trial.__dict__)
            trial = known
        self._numbers[trial_id] = record.number
        self._holders[trial_id] = record.worker
        self._track(trial)
        self._note_best(trial)

    def _track(self: "Oracle", trial: Trial) -> None:
        """Keeps `_running`, `ongoing_trials` and the orders in step with the trial's status."""
        trial_id = trial.trial_id
        for tuner_id, ongoing in list(self.ongoing_trials.items()):
            if ongoing.trial_id == trial_id:
                del self.ongoing_trials[tuner_id]
        if trial.status == TrialStatus.RUNNING:
            self._running[trial_id] = trial
            self.ongoing_trials[trial.tuner_id or ""] = trial
        else:
            self._running.pop(trial_id, None)
        self._note_order(trial)

    def _note_order(self: "Oracle", trial: Trial) -> None:
        """Keeps `start_order` and `end_order` (each trial once, when first seen so)."""
        if trial.trial_id not in self._ordered_starts:
            self._ordered_starts.add(trial.trial_id)
            self.start_order.append(trial.trial_id)
        if trial.status in TrialStatus.ENDED and trial.trial_id not in self._ordered_ends:
            self._ordered_ends.add(trial.trial_id)
            self.end_order.append(trial.trial_id)

    def _check_saved_state(self: "Oracle", state: e2etune_pb2.OracleState) -> None:
        if state.format_version != STATE_VERSION:
            age = "a newer" if state.format_version > STATE_VERSION else "an older or damaged"
            raise errors.SearchStateError(
                f"The oracle state in {self._where()} was written by {age} e2etune (state "
                f"version {state.format_version}; this version reads {STATE_VERSION}). "
                f"{OVERWRITE_HINT}")
        if state.oracle_class and state.oracle_class != type(self).__name__:
            raise errors.SearchStateError(
                f"The search in {self._where()} is run by {state.oracle_class}, not "
                f"{type(self).__name__}: two searches cannot share a project. Use the same tuner "
                "class, another `project_name`, or pass `overwrite=True` to start afresh.")
        if list(state.objectives) != self._objective_protos:
            raise errors.SearchStateError(
                f"The search in {self._where()} optimizes {_describe(state.objectives)}, not "
                f"{_describe(self._objective_protos)}: two searches cannot share a project. Use "
                "the same objective, another `project_name`, or pass `overwrite=True` to start afresh.")

    def _restore_state(self: "Oracle", state: e2etune_pb2.OracleState) -> None:
        self.seed, self._seed_state = state.seed, state.seed_state
        self._retry_queue = [t for t in state.retry_queue if t in self.trials]
        self._consecutive_failures = [t for t in state.consecutive_failures if t in self.trials]
        self._queued = _queue.from_protos(state.queued)
        algorithm_state = json.loads(state.algorithm_state or b"{}")
        try:
            self.set_state(algorithm_state)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise errors.SearchStateError(
                f"The state of {type(self).__name__} in {self._where()} is damaged "
                f"({type(error).__name__}: {error}). {OVERWRITE_HINT}") from None

    def _where(self: "Oracle") -> str:
        if self._storage is None or self.project_dir is None:
            return str(self.project_dir)
        if self._owns_storage and self._storage.url.endswith(f"{self.project_dir}/search.db"):
            return str(self.project_dir)
        return f"project {self._project!r} of {self._storage.url}"

    # Writing.

    def _save(self: "Oracle", transaction: StorageTransaction | None, *trials: Trial,
              state: bool = True) -> None:
        """Writes `trials` and (if it changed) the oracle state in `transaction`."""
        if transaction is None:
            return
        for trial in trials:
            split = self._codec.trial(trial)
            number = self._numbers.setdefault(trial.trial_id, len(self._numbers))
            transaction.put_trial(TrialRecord(
                trial.trial_id, number, transaction.space_id(split.space),
                TrialStatus.to_proto(trial.status), self._holders.get(trial.trial_id),
                split.message.SerializeToString()))
        if not state:
            return
        space_id = transaction.space_id(self._codec.space(self.hyperparameters.space))
        data = self._state_message().SerializeToString()
        if data != self._written_state or space_id != self._state_space_id:
            transaction.put_state(StateRecord(space_id, data))
            self._written_state, self._state_space_id = data, space_id

    def _state_message(self: "Oracle") -> e2etune_pb2.OracleState:
        return e2etune_pb2.OracleState(
            format_version=STATE_VERSION,
            objectives=self._objective_protos,
            seed=self.seed,
            seed_state=self._seed_state,
            retry_queue=self._retry_queue,
            consecutive_failures=self._consecutive_failures,
            algorithm_state=json.dumps(self.get_state()).encode(),
            oracle_class=type(self).__name__,
            next_trial_number=len(self.trials),
            queued=_queue.to_protos(self._queued),
        )

    def _held(self: "Oracle") -> list[Trial]:
        """The running trials whose lease this worker holds."""
        return [t for t in self._running.values() if self._holders.get(t.trial_id) == self._token]

    def _release(self: "Oracle", trial: Trial) -> None:
        """Queues this worker's running `trial` first, as if its run never started."""
        self._set_status(trial, TrialStatus.IDLE)
        trial.attempts = max(trial.attempts - 1, 0)
        self._retry_queue.insert(0, trial.trial_id)
        self._holders[trial.trial_id] = None
        self._track(trial)

    # Joining and leaving a search.

    def _open(self: "Oracle", project: str, overwrite: bool, storage: Any) -> None:
        first = self._project is None
        self._leave()
        self._storage, self._owns_storage = open_project_storage(
            storage, self.project_dir, overwrite)
        self._project, self._closed, self._was_cleared = project, False, False
        if not first:
            self._forget()
        local = list(self.trials.values())  # made before the search had a storage
        queued = list(self._queued)  # queued before the search had a storage
        try:
            with self._storage.transaction(project) as transaction, self._locked():
                if overwrite:
                    self._overwrite(transaction)
                changes = transaction.changes(0)
                if changes.state is None and not changes.trials:
                    self._spaces, self._state_space_id, self._written_state = {}, None, None
                    self._save(transaction, *local, *self._import_kerastuner_search(overwrite))
                else:
                    self._forget()
                    self._apply(transaction, changes)
                    if queued:
                        self._queued += queued
                        self._save(transaction)
                self._worker = lease.new_worker(self._token, transaction.now() + self.lease_grace)
                transaction.put_worker(self._worker)
                self._reclaim_lost_trials(transaction, opening=True)
                revision = transaction.next_revision
        except BaseException:
            self._leave()
            raise
        self._revision, self._renewed = revision, time.monotonic()
        self._reported_streak = tuple(self._consecutive_failures)
        self._heartbeat = lease.Heartbeat(self._renew_lease, self.heartbeat_interval,
                                          name=f"e2etune-lease-{project}")
        _LIVE.add(self)

    def _import_kerastuner_search(self: "Oracle", overwrite: bool) -> list[Trial]:
        """The ended trials of a search KerasTuner saved in the project folder, made this
        oracle's (a new search, with `overwrite=False`); KerasTuner's files are only read."""
        if overwrite or self.project_dir is None or not is_kerastuner_project(self.project_dir):
            return []
        project = read_kerastuner_project(self.project_dir)
        self._update_space(project.space)
        for trial in project.trials:
            if trial.trial_id in self.trials:
                continue
            self._update_space(trial.hyperparameters)
            self.trials[trial.trial_id] = trial
            if trial.status == TrialStatus.COMPLETED:
                self.score_trial(trial)
                if trial.score is None or math.isnan(trial.score):
                    trial.status = TrialStatus.INVALID
            self._remember(trial.trial_id, self._ran_key(trial.hyperparameters))
            self._holders[trial.trial_id] = None
            self._track(trial)
            self._note_best(trial)
            self._on_trial_end(trial)
        _LOG.info("Carried on the KerasTuner search in %s: %d trials imported.",
                  self.project_dir, len(project.trials))
        return project.trials

    def _overwrite(self: "Oracle", transaction: StorageTransaction) -> None:
        """Clears the saved search, unless other live workers are running it."""
        now = transaction.now()
        alive = [w for w in transaction.workers().values()
                 if not lease.same_process(w) and not lease.is_gone(w, now)]
        if alive:
            _LOG.warning(
                "Not overwriting the search in %s: %d other worker(s) are running it, and this "
                "process joins them.", self._where(), len(alive))
            return
        transaction.clear()
        project_dir = pathlib.Path(self.project_dir)
        if project_dir.is_dir():
            for trial_dir in project_dir.glob("trial_*"):
                if trial_dir.is_dir():
                    shutil.rmtree(trial_dir)

    def _renew_lease(self: "Oracle") -> None:
        storage, worker = self._storage, self._worker
        if storage is not None and worker is not None:
            storage.renew_lease(self._project, worker, self.lease_grace)
            self._renewed = time.monotonic()

    def _leave(self: "Oracle") -> None:
        """Stops the heartbeat, gives back this worker's trials and lease, closes the storage."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        storage, worker = self._storage, self._worker
        if storage is not None and worker is not None:
            try:
                if self._held():
                    with self._transaction() as transaction:  # the cache must be current
                        mine = self._held()
                        for trial in mine:
                            self._release(trial)
                        self._save(transaction, *mine)
                        transaction.remove_worker(worker.token)
                else:
                    with storage.transaction(self._project) as transaction:
                        transaction.remove_worker(worker.token)
            except Exception as error:
                _LOG.warning("Could not leave the search in %s cleanly (%s).", self._where(),
                             error)
        if storage is not None and self._owns_storage:
            storage.close()
        self._storage, self._worker, self._owns_storage = None, None, False
        _LIVE.discard(self)


    # Remote workers: a chief serving workers on other hosts (`e2etune.distributed`).

    @contextlib.contextmanager
    def _acting_for(self: "Oracle", token: str) -> Iterator[None]:
        """Makes the lifecycle calls inside hold (and give back) trials as worker `token`."""
        with self._lock:
            own, self._token = self._token, token
            try:
                yield
            finally:
                self._token = own

    def _put_remote_worker(self: "Oracle", worker: lease.WorkerRecord | None,
                           token: str | None = None) -> None:
        """Registers or renews a remote `worker`'s lease, or removes worker `token`."""
        storage = self._storage
        if storage is None:
            return
        if worker is not None:
            storage.renew_lease(self._project, worker, self.lease_grace)
            return
        with storage.transaction(self._project) as transaction:
            transaction.remove_worker(token)

    def _take_back(self: "Oracle", trial_id: str, attempt: int) -> bool:
        """Gives a trial queued again because its worker's lease ended back to that worker.

        Under `_acting_for(that worker)`, for its result of run `attempt`
        arriving late: taken back when no other worker has started the trial.
        """
        with self._lock, self._transaction() as transaction:
            trial = self.trials.get(trial_id)
            if (trial is None or trial.status != TrialStatus.IDLE
                    or trial_id not in self._retry_queue or trial.attempts + 1 != attempt):
                return False
            self._retry_queue.remove(trial_id)
            self._lost.discard(trial_id)
            trial.status, trial.attempts = TrialStatus.RUNNING, attempt
            trial.crashes = max(trial.crashes - 1, 0)
            self._holders[trial_id] = self._token
            self._track(trial)
            self._save(transaction, trial)
            return True

def _describe(objectives: Any) -> str:
    names = {e2etune_pb2.MIN: "min", e2etune_pb2.MAX: "max"}
    return ", ".join(f"{o.name} ({names.get(o.direction, '?')})" for o in objectives) or "nothing"
