"""Reading a saved search into plain rows: one `TrialRow` per trial, in a `SearchResults`.

The messages are decoded here, without the oracle or any user code, so a
search of any algorithm can be read while it runs. A `SearchReader` keeps
what it read and asks the storage only for what changed since (each read
is one read transaction), so that a dashboard polling a long search stays
cheap.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from typing import Any

from e2etune.engine import _values
from e2etune.engine.hyperparameters import HyperParameter, hyperparameter_from_proto
from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2, parse
from e2etune.results import _source
from e2etune.results._errors import StorageBusyError, UnknownNameError

_DIRECTIONS = {e2etune_pb2.MIN: "min", e2etune_pb2.MAX: "max"}
#: The status a trial is counted under when the search ended it with a score.
COMPLETED = "COMPLETED"


@dataclasses.dataclass(frozen=True)
class TrialRow:
    """One trial as saved, in plain Python values.

    Attributes:
        trial_id: The trial's id.
        number: Its position in creation order (0 for the first).
        status: Its status name (`RUNNING`, `COMPLETED`, `FAILED`, ...).
        score: Its objective's value, or None.
        best_step: The step (epoch) of the score.
        values: Its active hyperparameter values, in the space's order.
        metrics: Each metric's value at the best step (else its last value).
        histories: Each metric's `(step, value)` pairs, in step order.
        directions: Each metric's direction, "min" or "max".
        message: The error of a failed trial ("" if none).
        tuner_id: The worker that runs or ran it ("" if unknown).
    """

    trial_id: str
    number: int
    status: str
    score: float | None
    best_step: int
    values: dict[str, Any]
    metrics: dict[str, float]
    histories: dict[str, list[tuple[int, float]]]
    directions: dict[str, str]
    message: str = ""
    tuner_id: str = ""

    @property
    def has_score(self) -> bool:
        """Whether the trial completed with a finite score."""
        return self.status == COMPLETED and self.score is not None and math.isfinite(self.score)


@dataclasses.dataclass
class SearchResults:
    """A snapshot of a saved search.

    Attributes:
        project: The project's name in its storage.
        location: Where it is saved (a folder, or a URL without password).
        oracle_class: The name of the oracle class running it ("" before its state is saved).
        objectives: The objectives as saved, `(name, direction)` pairs.
        space: The search space's hyperparameters, in declaration order.
        trials: Every trial, in creation order.
        revision: The storage's revision of the project when read.
    """

    project: str
    location: str
    oracle_class: str
    objectives: list[tuple[str, str]]
    space: list[HyperParameter]
    trials: list[TrialRow]
    revision: int

    @property
    def objective_name(self) -> str:
        """The objective's name: its metric, or `multi_objective` for several."""
        if len(self.objectives) == 1:
            return self.objectives[0][0]
        return "multi_objective" if self.objectives else "score"

    @property
    def direction(self) -> str:
        """Whether a lower ("min") or a higher ("max") score is better."""
        return self.objectives[0][1] if len(self.objectives) == 1 else "min"

    def describe_objective(self) -> str:
        """The objective for people: `val_loss (min)`, or the sum a multi-objective minimizes."""
        if len(self.objectives) > 1:
            parts = " ".join(f"{'+' if d == 'min' else '-'} {n}" for n, d in self.objectives)
            return f"multi_objective (min): {parts.lstrip('+ ')}"
        return f"{self.objective_name} ({self.direction})"

    def status_counts(self) -> dict[str, int]:
        """How many trials have each status, for the statuses that occur."""
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        return counts

    def best_trials(self, num_trials: int | None = None) -> list[TrialRow]:
        """The completed trials with a finite score, best first (all, or the first `num_trials`)."""
        scored = sorted((t for t in self.trials if t.has_score), key=lambda t: t.score,
                        reverse=self.direction == "max")
        return scored if num_trials is None else scored[:num_trials]

    def hyperparameter_names(self) -> list[str]:
        """Every hyperparameter of the space and of the trials, in declaration order."""
        names = {hp.name: None for hp in self.space}
        for trial in self.trials:
            names.update(dict.fromkeys(trial.values))
        return list(names)

    def metric_names(self) -> list[str]:
        """Every metric some trial recorded, in the order first seen."""
        names: dict[str, None] = {}
        for trial in self.trials:
            names.update(dict.fromkeys(trial.metrics))
        return list(names)

    def hyperparameter(self, name: str) -> HyperParameter | None:
        """The definition of hyperparameter `name` (None if only values were saved)."""
        return next((hp for hp in self.space if hp.name == name), None)

    def check_hyperparameters(self, names: list[str] | None) -> list[str]:
        """`names` after checking each is a hyperparameter of the search.

        None gives every hyperparameter but those Hyperband sets (`tuner/...`).

        Raises:
            UnknownNameError: listing the known ones.
        """
        known = self.hyperparameter_names()
        for name in names or []:
            if name not in known:
                raise UnknownNameError("hyperparameter", name, known)
        return list(names) if names else [n for n in known if not n.startswith("tuner/")]

    def check_metric(self, metric: str | None) -> str | None:
        """`metric` after checking the search recorded it (None: the objective's score).

        Raises:
            UnknownNameError: listing the known ones.
        """
        if metric is not None and metric not in self.metric_names():
            raise UnknownNameError("metric", metric, self.metric_names())
        return metric

    def value_of(self, trial: TrialRow, metric: str | None) -> float | None:
        """The trial's score (metric None), or its value of `metric`; None when it has none.

        Only trials that completed have a value: a running trial's metrics are partial.
        """
        if trial.status != COMPLETED:
            return None
        value = trial.score if metric is None else trial.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None

    def direction_of(self, metric: str | None) -> str:
        """The direction of `metric` (None: of the score)."""
        if metric is None:
            return self.direction
        for trial in self.trials:
            if metric in trial.directions:
                return trial.directions[metric]
        return "min"


def decode_trial(data: bytes, number: int, status: int, order: list[str] = ()) -> TrialRow:
    """A `TrialRow` from the stored `Trial` message, its values in the order of `order`."""
    proto = parse(e2etune_pb2.Trial, data, "trial")
    saved = proto.hyperparameters.values
    names = [name for name in order if name in saved]
    ordered = set(names)
    names += sorted(name for name in saved if name not in ordered)
    values = {name: _values.from_proto(saved[name]) for name in names}
    histories: dict[str, list[tuple[int, float]]] = {}
    directions: dict[str, str] = {}
    for history in proto.metrics:
        points = sorted((o.step, sum(o.value) / len(o.value))
                        for o in history.observations if len(o.value))
        histories[history.name] = points
        directions[history.name] = _DIRECTIONS.get(history.direction, "min")
    metrics = {}
    for name, points in histories.items():
        at_best = [v for step, v in points if step == proto.best_step]
        if at_best or points:
            metrics[name] = at_best[0] if at_best else points[-1][1]
    return TrialRow(
        trial_id=proto.trial_id, number=number, status=status_name(status or proto.status),
        score=proto.score if proto.HasField("score") else None, best_step=proto.best_step,
        values=values, metrics=metrics, histories=histories, directions=directions,
        message=proto.message, tuner_id=proto.tuner_id)


def status_name(value: int) -> str:
    """The name of a protobuf status value, also for a status this version does not know."""
    try:
        return e2etune_pb2.TrialStatus.Name(value)
    except ValueError:
        return f"STATUS_{value}"


class SearchReader:
    """Reads a saved search, again and again, asking the storage only for what changed.

    Thread-safe: a dashboard's request threads share one reader.

    Args:
        located: The open storage and project (see `_source.locate`).
        timeout: How long to keep trying while another process holds a lock, in seconds.
    """

    def __init__(self, located: _source.Located, timeout: float = _source.DEFAULT_TIMEOUT) -> None:
        self._located = located
        self._timeout = timeout
        self._lock = threading.Lock()
        self._revision = 0
        self._rows: dict[str, TrialRow] = {}
        self._spaces: dict[int, bytes] = {}
        self._oracle_class = ""
        self._objectives: list[tuple[str, str]] = []
        self._space: list[HyperParameter] = []
        self._space_id: int | None = None
        self._space_names: dict[int, list[str]] = {}

    @property
    def location(self) -> str:
        """Where the search is saved."""
        return self._located.location

    @property
    def project(self) -> str:
        """The project's name in its storage."""
        return self._located.project

    def results(self) -> SearchResults:
        """The search as saved now.

        Raises:
            StorageBusyError: when another process keeps the storage locked
                longer than the timeout.
        """
        with self._lock:
            changes = self._read()
            if changes.cleared:
                self._rows, self._spaces, self._space_id = {}, {}, None
                self._space_names = {}
                self._oracle_class, self._objectives, self._space = "", [], []
            for record in changes.trials:
                self._rows[record.trial_id] = decode_trial(
                    record.data, record.number, record.status, self._names(record.space_id))
            if changes.state is not None:
                self._apply_state(changes.state)
            self._revision = changes.revision
            trials = sorted(self._rows.values(), key=lambda t: t.number)
            return SearchResults(self._located.project, self.location, self._oracle_class,
                                 list(self._objectives), list(self._space), trials,
                                 self._revision)

    def _read(self):
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return self._located.storage.read(self._located.project, self._revision)
            except SearchStateError as error:
                if not _source.is_busy(error):
                    raise
                if time.monotonic() >= deadline:
                    raise StorageBusyError(
                        f"The search in {self.location} stayed locked by another process for "
                        f"{self._timeout:g} s ({error}). Try again in a moment.") from None
                time.sleep(0.1)

    def _space_data(self, space_id: int) -> bytes | None:
        if space_id not in self._spaces:
            self._spaces = self._located.storage.spaces(self._located.project)
        return self._spaces.get(space_id)

    def _names(self, space_id: int) -> list[str]:
        """The names of a stored space's hyperparameters, in declaration order."""
        names = self._space_names.get(space_id)
        if names is None:
            data = self._space_data(space_id)
            message = parse(e2etune_pb2.HyperParameters, data or b"", "search space")
            names = self._space_names[space_id] = [hp.name for hp in message.space]
        return names

    def _apply_state(self, record: Any) -> None:
        state = parse(e2etune_pb2.OracleState, record.data, "oracle state")
        self._oracle_class = state.oracle_class
        self._objectives = [(o.name, _DIRECTIONS.get(o.direction, "min"))
                            for o in state.objectives]
        if record.space_id != self._space_id:
            data = self._space_data(record.space_id)
            if data is not None:
                message = parse(e2etune_pb2.HyperParameters, data, "search space")
                self._space = [hyperparameter_from_proto(hp) for hp in message.space]
                self._space_id = record.space_id

    def close(self) -> None:
        """Closes the storage, if the reader opened it."""
        if self._located.owned:
            self._located.storage.close()

    def __enter__(self) -> "SearchReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_reader(source: Any = None, *, storage: Any = None, project: str | None = None,
                timeout: float = _source.DEFAULT_TIMEOUT) -> SearchReader:
    """A `SearchReader` of the search in `source` (see `read_results`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            located = _source.locate(source, storage=storage, project=project, timeout=timeout)
            return SearchReader(located, timeout)
        except _source.EmptyStateError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)  # the search is creating its tables
        except SearchStateError as error:
            if not _source.is_busy(error) or time.monotonic() >= deadline:
                if _source.is_busy(error):
                    raise StorageBusyError(
                        f"The search stayed locked by another process for {timeout:g} s "
                        f"({error}). Try again in a moment.") from None
                raise
            time.sleep(0.1)


def read_results(source: Any = None, *, storage: Any = None, project: str | None = None,
                 timeout: float = _source.DEFAULT_TIMEOUT) -> SearchResults:
    """A snapshot of a saved search, read without changing anything.

    Args:
        source: A project folder (`<directory>/<project_name>`, or the
            `directory` holding one search), a tuner or an oracle, a
            `SearchReader`, or `SearchResults` (returned as is); None with `storage`.
        storage: A storage URL or `BaseStorage` (None: `E2ETUNE_STORAGE`).
        project: The project's name in the storage.
        timeout: How long to wait for a storage locked by another process, in seconds.

    Raises:
        NoSearchError: when there is no search there, naming what was expected.
        StorageBusyError: when the storage stays locked longer than `timeout`.
    """
    if isinstance(source, SearchResults):
        return source
    if isinstance(source, SearchReader):
        return source.results()
    with open_reader(source, storage=storage, project=project, timeout=timeout) as reader:
        return reader.results()
