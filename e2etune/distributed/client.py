"""The worker's side: `ClientOracle`, the chief's oracle seen through the network.

It has the `Oracle` interface the tuners use, so a tuner runs unchanged on a
worker. The worker's own oracle (the one its code made) never opens a
storage: it names the search at the handshake (its class and objective,
which must be the chief's), and answers queries once the search is over,
from the final trials the chief sent, so `get_best_models()` works after
the chief has exited.

Pruning is decided on the chief too (`ClientOracle.should_prune`): one
small call per question, and the chief's pruner with the trials it holds.
"""

from __future__ import annotations

import atexit
import collections.abc
import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any, Iterator, Mapping

from e2etune import errors
from e2etune.distributed.connection import Connection, LeaseLostError
from e2etune.distributed.environment import Distribution
from e2etune.distributed.service import PROTOCOL_VERSION
from e2etune.engine import _queue, _values, lease
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial, TrialStatus, conclude
from e2etune.protos import e2etune_pb2, service_pb2

_LOG = logging.getLogger("e2etune")
#: Trials per answer when the worker reads all trials.
PAGE = 256
_LIVE: "weakref.WeakSet[ClientOracle]" = weakref.WeakSet()


@atexit.register
def _leave_all() -> None:
    for client in list(_LIVE):
        with contextlib.suppress(Exception):
            client.close()


@dataclasses.dataclass
class _Lease:
    trial: Trial
    attempt: int
    known_values: int = 0
    lost: bool = False


class ClientOracle:
    """The oracle of a worker: every call goes to the chief's oracle.

    The chief's oracle's pruner prunes the trials of every worker: `pruner`
    stands for it here (None when the chief has none), and the `pruner=`
    given to the worker's own oracle or tuner is not used (a warning says so
    when it differs from the chief's).

    Args:
        oracle: The oracle the worker's code made (same class and objective as the chief's).
        distribution: Where the chief is, and how to reach it.
        tuner_id: This worker's id.

    Raises:
        ChiefUnreachableError: when the chief does not answer within `E2ETUNE_CHIEF_WAIT`.
        ChiefRefusedError: when the chief refuses this worker (token, search, version).
    """

    def __init__(self, oracle: Any, distribution: Distribution, tuner_id: str) -> None:
        self._local = oracle
        self.objective = oracle.objective
        self.tuner_id = tuner_id
        self.distribution = distribution
        self._worker = service_pb2.WorkerRef(token=uuid.uuid4().hex, tuner_id=tuner_id)
        self._connection = Connection(distribution, self._handshake)
        self._leases: dict[str, _Lease] = {}
        self._mutex = threading.Lock()
        #: The trials this worker lost to another one (it was taken for dead).
        self._lost: set[str] = set()
        self._heartbeat: lease.Heartbeat | None = None
        self._best: Trial | None = None
        self._chief_pruner: ChiefPruner | None = None
        self._final = False
        self._closed = False
        self.heartbeat_interval = oracle.heartbeat_interval
        self.max_trials = oracle.max_trials
        try:
            self._handshake()
        except BaseException:
            self._connection.close()
            raise
        _LIVE.add(self)
        _note_unused_pruner(getattr(oracle, "pruner", None), self._chief_pruner)

    def _handshake(self) -> None:
        answer = self._connection.call("Handshake", service_pb2.HandshakeRequest(
            worker=self._worker, protocol_version=PROTOCOL_VERSION,
            oracle_class=type(self._local).__name__, objectives=self._local._objective_protos,
            hostname=socket.gethostname(), pid=os.getpid()))
        self.max_trials = answer.max_trials if answer.HasField("max_trials") else None
        self.heartbeat_interval = answer.heartbeat_interval
        self.lease_grace = answer.lease_grace
        self.chief_id = answer.chief_id
        self._chief_pruner = ChiefPruner(answer.pruner) if answer.pruner else None

    def _call(self, method: str, patient: bool = True, **fields: Any) -> Any:
        request = getattr(service_pb2, f"{method}Request")(worker=self._worker, **fields)
        if patient:
            return self._connection.call(method, request)
        # One short try: a heartbeat or a goodbye must not hold the worker up.
        timeout = max(2 * self.heartbeat_interval, 2.0)
        return self._connection.call(method, request, patient=False, timeout=timeout)

    def _trial_of(self, proto: Any) -> Trial:
        trial = Trial.from_proto(proto)
        trial.hyperparameters.allow_new_entries = self._local.allow_new_entries
        trial.hyperparameters.tune_new_entries = self._local.tune_new_entries
        return trial

    # Trial lifecycle.

    def create_trial(self, tuner_id: str) -> Trial:
        """The next trial from the chief; waits (as the chief asks) while it has none."""
        while not self._final:
            try:
                answer = self._call("CreateTrial")
            except errors.FatalError:
                self.close()
                raise
            trial = self._trial_of(answer.trial)
            if trial.status == TrialStatus.IDLE:
                time.sleep(answer.retry_after)
                continue
            if trial.status == TrialStatus.STOPPED:
                self._finish()
                return trial
            with self._mutex:
                self._leases[trial.trial_id] = _Lease(trial, trial.attempts)
                self._lost.discard(trial.trial_id)
            self._beat_while_running()
            return trial
        return Trial(self.get_space(), status=TrialStatus.STOPPED)

    def update_trial(self, trial_id: str, metrics: Mapping[str, Any], step: int = 0) -> str:
        """Records metrics of a running trial at the chief; returns the trial's status."""
        values = {name: float(value) for name, value in metrics.items()}
        held = self._leases.get(trial_id)
        try:
            answer = self._call("UpdateTrial", trial_id=trial_id, metrics=values, step=step,
                                attempt=held.attempt if held else -1,
                                known_values=held.known_values if held else 0)
        except LeaseLostError as error:
            _LOG.warning("%s", error)
            if held is not None:
                _note_lost(held)
            return TrialStatus.STOPPED
        if held is not None:
            held.known_values = answer.known_values
            for name, value in values.items():
                if not held.trial.metrics.exists(name):
                    held.trial.metrics.register(name, self._local._directions.get(name))
                held.trial.metrics.update(name, value, step=step)
        return TrialStatus.from_proto(answer.status) or TrialStatus.RUNNING

    def end_trial(self, trial: Trial | str, status: str | None = None) -> None:
        """Records the end of a trial at the chief (see `Oracle.end_trial`)."""
        if not isinstance(trial, Trial):
            held = self._leases.get(trial)
            trial = held.trial if held is not None else self.get_trial(trial)
        else:
            status = None
        conclude(trial, status)
        held = self._leases.get(trial.trial_id)
        try:
            answer = self._call("EndTrial", trial=trial.to_proto(),
                                attempt=held.attempt if held else -1)
        except LeaseLostError as error:
            _LOG.warning("%s", error)
            if held is not None:
                _note_lost(held)  # recorded by `_drop`: the trial's files are not this worker's
            return
        except errors.FatalError:
            self._drop(trial.trial_id)
            self.close()
            raise
        finally:
            self._drop(trial.trial_id)
        stored = self._trial_of(answer.trial)
        for name in ("status", "score", "best_step", "metrics", "message", "attempts", "crashes"):
            setattr(trial, name, getattr(stored, name))
        if answer.HasField("best"):
            self._best = self._trial_of(answer.best)

    def release_trial(self, trial_id: str) -> None:
        """Gives a running trial of this worker back to the chief's queue (an interrupted run)."""
        held = self._drop(trial_id)
        if held is not None and not self._final:
            with contextlib.suppress(Exception):
                self._call("ReleaseTrial", patient=False, trial_id=trial_id, attempt=held.attempt)

    def _drop(self, trial_id: str) -> _Lease | None:
        with self._mutex:
            held = self._leases.pop(trial_id, None)
            if held is not None and held.lost:
                self._lost.add(trial_id)
            idle = not self._leases
        if idle and self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        return held

    def _beat_while_running(self) -> None:
        if self._heartbeat is None:
            self._heartbeat = lease.Heartbeat(self._beat, self.heartbeat_interval,
                                              name=f"e2etune-heartbeat-{self.tuner_id}")

    def _beat(self) -> None:
        with self._mutex:
            leases = list(self._leases.values())
        for held in leases:
            answer = self._call("Heartbeat", patient=False, trial_id=held.trial.trial_id,
                                attempt=held.attempt)
            if not answer.lease_held:
                _note_lost(held)

    def lease_lost(self, trial_id: str) -> bool:
        """Whether the chief gave trial `trial_id` of this worker to another worker (this one
        was taken for dead), as the heartbeat last heard; no call is made."""
        with self._mutex:
            held = self._leases.get(trial_id)
            return trial_id in self._lost or (held is not None and held.lost)

    # Pruning.

    @property
    def pruner(self) -> ChiefPruner | None:
        """The chief's pruner, which decides for this worker's trials (None: the chief has none)."""
        return self._chief_pruner

    def should_prune(self, trial_id: str) -> bool:
        """Whether the chief's pruner says to stop trial `trial_id` of this worker now.

        One small call (`ShouldPrune`): the chief's oracle decides
        (`Oracle.should_prune`) with the trials it holds, so no trial
        travels, however large the search. No call, and False, when the
        chief has no pruner, once the search is over, or for a trial this
        worker does not run; False too when its lease was given away.
        """
        with self._mutex:
            held = self._leases.get(trial_id)
        if self._final or self._chief_pruner is None or held is None:
            return False
        answer = self._call("ShouldPrune", trial_id=trial_id, attempt=held.attempt)
        if not answer.lease_held:
            _note_lost(held)
        return answer.prune

    # Queries.

    @property
    def trials(self) -> Mapping[str, Trial]:
        """Every trial of the search, by id, in creation order (read from the chief).

        Its length is one small call; its trials are read when first used.
        """
        if self._final:
            return self._local.trials
        return _RemoteTrials(self)

    def _all_trials(self) -> dict[str, Trial]:
        trials: dict[str, Trial] = {}
        while True:
            answer = self._call("GetTrials", offset=len(trials), limit=PAGE)
            trials.update((t.trial_id, self._trial_of(t)) for t in answer.trials)
            if len(trials) >= answer.total or not answer.trials:
                return trials

    def _trial_count(self) -> int:
        return self._call("GetTrials", offset=0, limit=1).total

    @property
    def ongoing_trials(self) -> dict[str, Trial]:
        """The running trials of the search, by the id of the tuner running each."""
        return {t.tuner_id or "": t for t in self.trials.values()
                if t.status == TrialStatus.RUNNING}

    @property
    def hyperparameters(self) -> HyperParameters:
        """The search space (a copy)."""
        return self.get_space()

    def get_trial(self, trial_id: str) -> Trial:
        """The trial with id `trial_id`."""
        if self._final:
            return self._local.get_trial(trial_id)
        return self._trial_of(self._call("GetTrial", trial_id=trial_id).trial)

    def get_best_trials(self, num_trials: int = 1) -> list[Trial]:
        """The best trials of the whole search, best first (see `Oracle.get_best_trials`)."""
        if self._final:
            return self._local.get_best_trials(num_trials)
        answer = self._call("GetBestTrials", num_trials=num_trials)
        return [self._trial_of(t) for t in answer.trials]

    def best_trial_so_far(self) -> Trial | None:
        """The best completed trial the chief reported with this worker's last result."""
        return self._best

    def get_space(self) -> HyperParameters:
        """A copy of the search space."""
        if self._final:
            return self._local.get_space()
        answer = self._call("GetSpace")
        space = HyperParameters.from_proto(answer.hyperparameters)
        space.allow_new_entries = answer.allow_new_entries
        space.tune_new_entries = answer.tune_new_entries
        return space

    def update_space(self, hyperparameters: HyperParameters) -> None:
        """Appends the hyperparameters user code declared to the chief's space."""
        if not self._final:
            self._call("UpdateSpace", hyperparameters=hyperparameters.to_proto())

    def enqueue_trial(self, values: Mapping[str, Any], skip_if_exists: bool = False) -> bool:
        """Queues a configuration on the chief's oracle (see `Oracle.enqueue_trial`).

        The chief checks and saves it in its storage; whichever worker asks
        for a trial next runs it (before anything the algorithm proposes).
        Sent again after a lost answer, it is still queued once.

        Example:
            >>> tuner.oracle.enqueue_trial({"units": 64})  # in a worker, before `search()`

        Args:
            values: Hyperparameter values by name, possibly for a part of the space.
            skip_if_exists: Queue nothing when a trial of the search ran (or
                runs) with these values, or they are queued already.

        Returns:
            Whether the configuration was queued.

        Raises:
            ValueError, TypeError: as the chief's oracle raises them, naming the
                hyperparameter and what it allows.
            RuntimeError: once the search is over (nothing would run the configuration).
        """
        if self._final:
            raise RuntimeError(
                "`enqueue_trial`: the distributed search is over (the chief said so), so a "
                "configuration queued now would never run. Queue it before the search ends.")
        answer = self._call("EnqueueTrial", values=self._value_protos(values),
                            skip_if_exists=bool(skip_if_exists), request_id=uuid.uuid4().hex)
        return answer.queued

    def _value_protos(self, values: Any) -> dict[str, e2etune_pb2.Value]:
        """`values` as they travel; what cannot travel is refused as the chief refuses it."""
        try:
            return _encoded(values)
        except (TypeError, ValueError):
            _queue.check(values, self.get_space())  # the chief's error: same type, same words
            raise

    def remaining_trials(self) -> int | None:
        """How many trials may still be created, or None without `max_trials`."""
        if self.max_trials is None:
            return None
        return max(self.max_trials - len(self.trials), 0)

    # The end.

    def _finish(self) -> None:
        """Keeps the final trials and space in the worker's own oracle, then leaves."""
        trials, space = self._all_trials(), self.get_space()
        local = self._local
        local.hyperparameters = space
        local.trials = trials
        for trial in trials.values():
            local._note_best(trial)
        self._final = True
        self.close()

    def save(self) -> None:
        """Nothing to do: the chief commits every trial event."""

    def reload(self) -> None:
        """Nothing to do: every query reads the chief's oracle."""

    def close(self) -> None:
        """Leaves the search: this worker's running trial goes back to the chief's queue."""
        if self._closed:
            return
        self._closed = True
        for trial_id in list(self._leases):
            self.release_trial(trial_id)
        with contextlib.suppress(Exception):
            self._call("Leave", patient=False)
        self._connection.close()
        _LIVE.discard(self)

    def __getattr__(self, name: str) -> Any:
        # The worker's own oracle answers for its settings (`describe_schedule()`, `seed`, ...).
        if name.startswith("_"):
            raise AttributeError(f"'ClientOracle' object has no attribute {name!r}")
        return getattr(self._local, name)

    def __repr__(self) -> str:
        return (f"ClientOracle({type(self._local).__name__}, chief at "
                f"{self._connection.address}, tuner {self.tuner_id!r})")


class ChiefPruner:
    """Stands on a worker for the chief's pruner, which decides on the chief.

    The tuners only ask whether there is one (`oracle.pruner is not None`)
    and name it; the question itself goes to the chief
    (`ClientOracle.should_prune`, which `trial.should_prune()` calls).
    """

    def __init__(self, name: str) -> None:
        #: The chief's pruner as its repr names it (`MedianPruner(warmup_steps=0, ...)`).
        self.name = name

    def prune(self, trial: Trial, others: Any, objective: Any) -> bool:
        """Refused: the chief's pruner decides on the chief.

        Raises:
            RuntimeError: always; call `trial.should_prune()` instead.
        """
        raise RuntimeError(
            f"On a worker, the chief's pruner ({self.name}) decides on the chief: call "
            "`trial.should_prune()` (or `tuner.oracle.should_prune(trial_id)`) instead.")

    def __repr__(self) -> str:
        return self.name


def _note_lost(held: _Lease) -> None:
    """Marks `held` as given away by the chief (logged once)."""
    if not held.lost:
        held.lost = True
        _LOG.warning("The chief gave trial %s to another worker (this one was taken for "
                     "dead); its result will be refused.", held.trial.trial_id)


def _note_unused_pruner(own: Any, chief: ChiefPruner | None) -> None:
    """Warns when the worker's own `pruner=` differs from the chief's, which is the one used."""
    if own is None:
        return
    try:
        name = repr(own)
    except Exception:
        name = type(own).__name__
    if chief is not None and name == chief.name:
        return
    used = f"the chief's ({chief.name})" if chief is not None else "none (the chief has none)"
    _LOG.warning("This worker's pruner %s is not used: in a distributed search the chief's "
                 "oracle prunes every worker's trials, so the pruner is %s. Give the chief "
                 "the pruner you want.", name, used)


def _encoded(values: Any) -> dict[str, e2etune_pb2.Value]:
    """Hyperparameter values as protobuf `Value`s, by name.

    Raises:
        TypeError: when `values` is not a dict of names (str) to values.
        TypeError, ValueError: for a value of another type than int, float,
            str or bool, or an int that does not fit in 64 bits.
    """
    if not isinstance(values, collections.abc.Mapping):
        raise TypeError("`enqueue_trial` takes a dict of hyperparameter values; got "
                        f"{type(values).__name__}.")
    protos = {}
    for name, value in values.items():
        if not isinstance(name, str):
            raise TypeError(f"`enqueue_trial`: hyperparameter names are strings; got {name!r}.")
        try:
            protos[name] = _values.to_proto(value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"`enqueue_trial`: {name!r}: {error}") from None
    return protos


class _RemoteTrials(collections.abc.Mapping):
    """The chief's trials: `len()` asks for their number, anything else reads them all once."""

    def __init__(self, client: ClientOracle) -> None:
        self._client = client
        self._trials: dict[str, Trial] | None = None

    def _read(self) -> dict[str, Trial]:
        if self._trials is None:
            self._trials = self._client._all_trials()
        return self._trials

    def __len__(self) -> int:
        return len(self._trials) if self._trials is not None else self._client._trial_count()

    def __getitem__(self, trial_id: str) -> Trial:
        return self._read()[trial_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())
