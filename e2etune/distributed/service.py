"""The chief's side: `OracleServicer` answers the workers with the chief's own oracle.

The oracle, its storage and its algorithm stay in the chief; each call of a
worker runs the oracle's lifecycle method as that worker
(`Oracle._acting_for`), so the trial's lease in the storage is the
worker's, renewed by its heartbeats. A worker that stops calling loses its
trial when the lease ends, exactly as a process sharing the storage would.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from typing import Any, Callable, Mapping

import grpc

from e2etune import errors
from e2etune.engine import _values
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.protos import e2etune_pb2, service_pb2, service_pb2_grpc
from e2etune.storage import WorkerRecord

_LOG = logging.getLogger("e2etune")
#: Bumped when a message changes meaning; a worker of another version is refused.
#: 2: the chief decides pruning (`ShouldPrune`) and names its pruner at the handshake.
PROTOCOL_VERSION = 2
#: The metadata key naming the error class of a refused call.
ERROR_KEY = "e2etune-error"
#: The first and the longest wait the chief asks of a worker it has no trial for, in seconds.
FIRST_RETRY, MAX_RETRY = 0.02, 1.0
#: How many answers to `EnqueueTrial` the chief keeps per worker, for requests sent again.
ENQUEUED_KEPT = 1024
#: The longest name of the chief's pruner sent at the handshake, in characters.
PRUNER_NAME_CHARS = 500


class Refusal(Exception):
    """A call the chief answers with an error status (`kind` names it for the worker)."""

    def __init__(self, code: grpc.StatusCode, message: str, kind: str) -> None:
        super().__init__(message)
        self.code, self.kind = code, kind


def describe(oracle_class: str, objectives: Any) -> str:
    """`RandomSearchOracle optimizing loss (min)`: a search, for error messages."""
    names = {e2etune_pb2.MIN: "min", e2etune_pb2.MAX: "max"}
    goal = ", ".join(f"{o.name} ({names.get(o.direction, '?')})" for o in objectives)
    return f"{oracle_class} optimizing {goal or 'nothing'}"


@dataclasses.dataclass
class Session:
    """What the chief knows of one worker."""

    token: str
    tuner_id: str
    record: WorkerRecord
    last_seen: float
    renewed: float = 0.0
    left: bool = False
    idle_streak: int = 0
    seen_change: int = 0
    #: The answers to this worker's `EnqueueTrial` calls, by request id (the latest ones).
    enqueued: dict[str, bool] = dataclasses.field(default_factory=dict)

    def remember_enqueued(self, request_id: str, queued: bool) -> None:
        """Keeps the answer to `request_id`, forgetting the oldest past `ENQUEUED_KEPT`."""
        self.enqueued[request_id] = queued
        while len(self.enqueued) > ENQUEUED_KEPT:
            del self.enqueued[next(iter(self.enqueued))]


def _answer(method: Callable) -> Callable:
    """Turns what a handler raises into an error status the worker can read."""

    @functools.wraps(method)
    def handler(self: "OracleServicer", request: Any, context: grpc.ServicerContext) -> Any:
        self.last_call = time.monotonic()
        try:
            return method(self, request, context)
        except Refusal as refusal:
            code, message, kind = refusal.code, str(refusal), refusal.kind
        except errors.FatalError as error:
            self.fatal = self.fatal or error
            code, message, kind = grpc.StatusCode.ABORTED, str(error), type(error).__name__
        except KeyError as error:
            message = str(error.args[0]) if error.args else ""
            code, kind = grpc.StatusCode.NOT_FOUND, "KeyError"
        except (ValueError, TypeError, RuntimeError) as error:
            code, message, kind = (grpc.StatusCode.INVALID_ARGUMENT, str(error),
                                   type(error).__name__)
        except Exception as error:
            _LOG.exception("The chief failed to answer %s.", method.__name__)
            # The details stay in the chief's log: an error's text may hold a storage URL.
            code, kind = grpc.StatusCode.INTERNAL, type(error).__name__
            message = f"the chief failed ({kind}); its log has the details"
        context.set_trailing_metadata(((ERROR_KEY, kind),))
        context.abort(code, message)

    return handler


class OracleServicer(service_pb2_grpc.OracleServiceServicer):
    """Serves `oracle` (opened on its storage) to the workers of a distributed search."""

    def __init__(self, oracle: Any, chief_id: str) -> None:
        self.oracle = oracle
        self.chief_id = chief_id
        self._sessions: dict[str, Session] = {}
        self._mutex = threading.Lock()
        #: Whether the oracle told a worker that the search is over.
        self.stopped = False
        #: The error that stopped the search (every worker gets it), if any.
        self.fatal: BaseException | None = None
        self.last_call = time.monotonic()
        self._changes = 0

    # Workers.

    def _session(self, worker: service_pb2.WorkerRef, renew: bool = False) -> Session:
        """The caller's session; its lease is renewed when half a heartbeat passed (or `renew`)."""
        with self._mutex:
            session = self._sessions.get(worker.token)
        if session is None:
            raise Refusal(grpc.StatusCode.NOT_FOUND, "This chief does not know the worker (it "
                          "restarted): make the handshake again.", "UnknownWorker")
        now = time.monotonic()
        session.last_seen = now
        if renew or now - session.renewed > self.oracle.heartbeat_interval / 2:
            self.oracle._put_remote_worker(session.record)
            session.renewed = now
        return session

    def finished(self) -> bool:
        """Whether the search is over and every worker that joined has left or is gone."""
        if not self.stopped and self.fatal is None:
            return False
        now, grace = time.monotonic(), self.oracle.lease_grace
        with self._mutex:
            return all(s.left or now - s.last_seen > grace for s in self._sessions.values())

    def _holds(self, session: Session, trial: Trial | None, attempt: int) -> bool:
        oracle = self.oracle
        return (trial is not None and trial.trial_id in oracle._running
                and oracle._holders.get(trial.trial_id) == session.token
                and trial.attempts == attempt)

    def _lease_lost(self, session: Session, trial_id: str, what: str) -> Refusal:
        _LOG.warning("Refused the %s of trial %s from tuner %s: its lease was given away (the "
                     "worker was taken for dead); the trial runs elsewhere.", what, trial_id,
                     session.tuner_id)
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                       f"Refused the {what} of trial {trial_id}: this worker lost the trial's "
                       "lease (it was taken for dead), and the trial was queued again.",
                       "LeaseLost")

    def _trial(self, session: Session, trial_id: str, attempt: int, what: str) -> Trial:
        """The trial `session` holds under run `attempt` (taken back if nobody took it over)."""
        oracle = self.oracle
        oracle._refresh()
        trial = oracle.trials.get(trial_id)
        if self._holds(session, trial, attempt):
            return trial
        if trial is not None and trial.tuner_id == session.tuner_id and oracle._take_back(
                trial_id, attempt):
            _LOG.warning("Trial %s of tuner %s was taken for dead, but its %s came before "
                         "another worker took it over: it is recorded.", trial_id,
                         session.tuner_id, what)
            return oracle.trials[trial_id]
        raise self._lease_lost(session, trial_id, what)

    # The service.

    @_answer
    def Handshake(self, request: Any, context: grpc.ServicerContext) -> Any:
        oracle = self.oracle
        if request.protocol_version != PROTOCOL_VERSION:
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                          f"The worker speaks protocol {request.protocol_version}, the chief "
                          f"{PROTOCOL_VERSION}: run the same e2etune version everywhere.",
                          "VersionMismatch")
        chief = describe(type(oracle).__name__, oracle._objective_protos)
        worker = describe(request.oracle_class, request.objectives)
        if chief != worker:
            _LOG.warning("Refused tuner %s: its search (%s) differs from this chief's (%s).",
                         request.worker.tuner_id, worker, chief)
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION,
                          f"This worker's search differs from the chief's: the worker runs "
                          f"{worker}, the chief {chief}. Start every worker with the same "
                          "oracle (tuner class) and objective as the chief.", "SearchMismatch")
        token = request.worker.token
        record = WorkerRecord(token, f"{request.hostname or '?'}/remote/{token[:12]}",
                              int(request.pid), 0, 0.0)
        now = time.monotonic()
        session = Session(token, request.worker.tuner_id, record, now, renewed=now)
        oracle._put_remote_worker(record)
        with self._mutex:
            self._sessions[token] = session
        return service_pb2.HandshakeResponse(
            protocol_version=PROTOCOL_VERSION, oracle_class=type(oracle).__name__,
            objectives=oracle._objective_protos, max_trials=oracle.max_trials,
            heartbeat_interval=oracle.heartbeat_interval, lease_grace=oracle.lease_grace,
            chief_id=self.chief_id, pruner=_pruner_name(oracle))

    @_answer
    def CreateTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        if self.fatal is not None:
            raise self.fatal
        with self.oracle._acting_for(session.token):
            trial = self.oracle.create_trial(session.tuner_id)
            count = len(self.oracle.trials)
            answer = service_pb2.CreateTrialResponse(trial=trial.to_proto(), trial_count=count)
        if trial.status == TrialStatus.IDLE:
            if session.seen_change != self._changes:
                session.seen_change, session.idle_streak = self._changes, 0
            longest = min(MAX_RETRY, self.oracle.heartbeat_interval)  # the wait renews no lease
            answer.retry_after = min(FIRST_RETRY * 2 ** session.idle_streak, longest)
            session.idle_streak += 1
        else:
            session.idle_streak = 0
        if trial.status == TrialStatus.STOPPED:
            self.stopped = True
        return answer

    @_answer
    def UpdateTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        with self.oracle._acting_for(session.token):
            trial = self._trial(session, request.trial_id, request.attempt, "metrics")
            known = _value_count(trial)
            if known <= request.known_values:  # else: applied already, its answer was lost
                self.oracle.update_trial(trial.trial_id, dict(request.metrics), step=request.step)
                trial = self.oracle.trials[trial.trial_id]
                known = _value_count(trial)
            return service_pb2.UpdateTrialResponse(
                status=TrialStatus.to_proto(trial.status), known_values=known)

    @_answer
    def EndTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        ended = Trial.from_proto(request.trial)
        oracle = self.oracle
        with oracle._acting_for(session.token):
            oracle._refresh()
            stored = oracle.get_trial(ended.trial_id)
            if not self._recorded(session, stored, request.attempt):
                self._trial(session, ended.trial_id, request.attempt, "result")
                self._changes += 1
                oracle.end_trial(ended)
            stored = oracle.get_trial(ended.trial_id)
            answer = service_pb2.EndTrialResponse(trial=stored.to_proto())
            best = oracle.best_trial_so_far()
            if best is not None:
                answer.best.CopyFrom(best.to_proto())
            return answer

    def _recorded(self, session: Session, stored: Trial, attempt: int) -> bool:
        """Whether `stored` holds the result of this worker's run `attempt` already."""
        if stored.tuner_id != session.tuner_id or stored.attempts != attempt:
            return False
        return stored.status in TrialStatus.ENDED or (
            stored.status == TrialStatus.IDLE and stored.trial_id in self.oracle._retry_queue)

    @_answer
    def ReleaseTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        with self.oracle._acting_for(session.token):
            if self._holds(session, self.oracle.trials.get(request.trial_id), request.attempt):
                self._changes += 1
                self.oracle.release_trial(request.trial_id)
        return service_pb2.ReleaseTrialResponse()

    @_answer
    def Heartbeat(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker, renew=True)
        with self.oracle._lock:
            held = self._holds(session, self.oracle.trials.get(request.trial_id), request.attempt)
        return service_pb2.HeartbeatResponse(lease_held=held)

    @_answer
    def ShouldPrune(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The chief's pruner decides, with the trials the chief holds: none travels.

        A worker that no longer holds the trial's lease (under `attempt`) is
        told so, and to go on: its results will be refused anyway.
        """
        session = self._session(request.worker)
        oracle = self.oracle
        with oracle._lock:
            oracle._refresh()
            if not self._holds(session, oracle.trials.get(request.trial_id), request.attempt):
                return service_pb2.ShouldPruneResponse(prune=False, lease_held=False)
            return service_pb2.ShouldPruneResponse(
                prune=oracle.should_prune(request.trial_id), lease_held=True)

    @_answer
    def GetTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._session(request.worker)
        with self.oracle._lock:
            return service_pb2.GetTrialResponse(
                trial=self.oracle.get_trial(request.trial_id).to_proto())

    @_answer
    def GetTrials(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._session(request.worker)
        with self.oracle._lock:
            trials = list(self.oracle.trials.values())
            page = trials[request.offset:request.offset + max(request.limit, 1)]
            return service_pb2.GetTrialsResponse(trials=[t.to_proto() for t in page],
                                                 total=len(trials))

    @_answer
    def GetBestTrials(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._session(request.worker)
        with self.oracle._lock:
            best = self.oracle.get_best_trials(int(request.num_trials))
            return service_pb2.GetBestTrialsResponse(trials=[t.to_proto() for t in best])

    @_answer
    def GetSpace(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._session(request.worker)
        oracle = self.oracle
        with oracle._lock:
            return service_pb2.GetSpaceResponse(
                hyperparameters=oracle.get_space().to_proto(),
                allow_new_entries=oracle.allow_new_entries,
                tune_new_entries=oracle.tune_new_entries)

    @_answer
    def UpdateSpace(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._session(request.worker)
        self.oracle.update_space(HyperParameters.from_proto(request.hyperparameters))
        return service_pb2.UpdateSpaceResponse()

    @_answer
    def EnqueueTrial(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        values = _received_values(request.values)
        request_id = request.request_id
        with self.oracle._lock:  # a request sent again waits for the first, then gets its answer
            queued = session.enqueued.get(request_id) if request_id else None
            if queued is None:
                queued = self.oracle.enqueue_trial(values, skip_if_exists=request.skip_if_exists)
                if request_id:
                    session.remember_enqueued(request_id, queued)
                if queued:
                    self._changes += 1  # idle workers ask again soon: a trial may be ready
        return service_pb2.EnqueueTrialResponse(queued=queued)

    @_answer
    def Leave(self, request: Any, context: grpc.ServicerContext) -> Any:
        session = self._session(request.worker)
        oracle = self.oracle
        with oracle._acting_for(session.token):
            for trial in oracle._held():
                self._changes += 1
                oracle.release_trial(trial.trial_id)
        oracle._put_remote_worker(None, session.token)
        session.left = True
        return service_pb2.LeaveResponse()


def _pruner_name(oracle: Any) -> str:
    """The repr of `oracle`'s pruner, for the workers' messages; empty without one."""
    pruner = getattr(oracle, "pruner", None)
    if pruner is None:
        return ""
    try:
        name = repr(pruner)
    except Exception:  # a custom pruner's repr must not keep workers out
        name = type(pruner).__name__
    if len(name) > PRUNER_NAME_CHARS:
        name = name[:PRUNER_NAME_CHARS - 3] + "..."
    return name


def _received_values(protos: Mapping[str, e2etune_pb2.Value]) -> dict[str, Any]:
    """The hyperparameter values of an `EnqueueTrial` request, as Python values.

    Raises:
        ValueError: for a value that holds none of the kinds of `Value`.
    """
    values = {}
    for name, proto in protos.items():
        if proto.WhichOneof("kind") is None:
            raise ValueError(f"`enqueue_trial`: the value of {name!r} arrived empty; send an "
                             "int, float, str or bool.")
        values[name] = _values.from_proto(proto)
    return values


def _value_count(trial: Trial) -> int:
    """How many metric values `trial` holds (each update adds at least one)."""
    return sum(len(o.value) for history in trial.metrics.metrics.values()
               for o in history.get_history())
