"""`BaseTuner`: the framework-free search loop."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import numbers
import os
import signal
import socket
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Iterator

from e2etune import errors
from e2etune.engine.display import Display
from e2etune.engine.hypermodel import HyperModel, _Branches, get_hypermodel
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.objective import best_step_of, convert_to_metrics
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.engine.tuner_utils import (
    ArgumentTypeError,
    all_none,
    in_package,
    user_stacklevel,
    validate_result,
)


def _format_error(error: BaseException) -> str:
    """The error with its traceback, starting at the first frame outside e2etune's engine."""
    frames = traceback.extract_tb(error.__traceback__)
    skip = 0
    while skip < len(frames) - 1 and in_package(frames[skip].filename):
        skip += 1
    tb = error.__traceback__
    for _ in range(skip):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


#: Oracle arguments that a tuner which makes its own oracle passes on to it.
ORACLE_OPTIONS = ("heartbeat_interval", "lease_grace", "max_crashes_per_trial", "pruner")
_TUNER_NUMBERS = itertools.count()
#: Longest wait between two asks for a trial while the oracle says to wait.
_MAX_WAIT = 1.0
#: Most builds of the hypermodel when the tuner starts, to find its conditional branches.
_MAX_DISCOVERY_BUILDS = 100
_LOG = logging.getLogger("e2etune")


def oracle_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Removes the lifecycle arguments of the oracle (`ORACLE_OPTIONS`) from `kwargs`."""
    return {name: kwargs.pop(name) for name in ORACLE_OPTIONS if name in kwargs}


def default_tuner_id() -> str:
    """`KERASTUNER_TUNER_ID` (or `E2ETUNE_TUNER_ID`) when set, else an id unique to this tuner."""
    for variable in ("KERASTUNER_TUNER_ID", "E2ETUNE_TUNER_ID"):
        if os.environ.get(variable):
            return os.environ[variable]
    number = next(_TUNER_NUMBERS)
    suffix = f"-{number}" if number else ""
    return f"tuner-{socket.gethostname()}-{os.getpid()}{suffix}"


def check_max_time(max_time: Any) -> float | None:
    """Returns `search(max_time=...)` as a float (None: no budget), or raises naming the problem."""
    if max_time is None:
        return None
    if isinstance(max_time, bool) or not isinstance(max_time, numbers.Real):
        raise TypeError(
            f"`max_time` must be a number of seconds (such as `max_time=3600` for an hour) or "
            f"None for no time budget; got {max_time!r} of type {type(max_time).__name__}.")
    if math.isnan(max_time) or max_time <= 0:
        raise ValueError(
            f"`max_time` must be a positive number of seconds (such as `max_time=3600` for an "
            f"hour), or None for no time budget; got {max_time!r}.")
    return float(max_time)


class _TimeBudget:
    """The deadline of one `search()` call (none when `max_time` is None), on a monotonic clock."""

    def __init__(self, max_time: float | None) -> None:
        self.max_time = max_time
        self.started = time.monotonic()
        self.deadline = None if max_time is None else self.started + max_time

    def spent(self) -> bool:
        """Whether the deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def clip(self, wait: float) -> float:
        """`wait`, shortened so that it ends at the deadline at the latest."""
        if self.deadline is None:
            return wait
        return max(min(wait, self.deadline - time.monotonic()), 0.0)

    def elapsed(self) -> float:
        """Seconds since the search started."""
        return time.monotonic() - self.started


class SearchInterrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM) during a search."""


@contextlib.contextmanager
def _sigterm_interrupts(leave: Callable[[], None]) -> Iterator[None]:
    """Turns SIGTERM into `SearchInterrupted` while the search runs.

    The running trial is then given back, not failed, the worker leaves the
    search (`leave()`), and the process ends as SIGTERM would have ended
    it. Only in the main thread, and only where nobody else handles SIGTERM.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise SearchInterrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except SearchInterrupted:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(Exception):
            leave()
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        if signal.getsignal(signal.SIGTERM) is interrupt:
            signal.signal(signal.SIGTERM, previous)


def builds_hypermodel(run_trial: Callable) -> Callable:
    """Marks a built-in `run_trial` that needs a hypermodel (user overrides do not)."""
    run_trial._builds_hypermodel = True
    return run_trial


class BaseTuner:
    """Runs trials proposed by an oracle until it says stop.

    Override `run_trial(trial, *args, **kwargs)` to put the whole workflow in
    one place, reading values from `trial.hyperparameters`, or give a
    `hypermodel`. Whatever `search()` receives reaches `run_trial`.

    Args:
        oracle: The search algorithm. None makes the default one from
            `oracle_kwargs` (`objective`, `max_trials`, `seed`, ...).
        hypermodel: A `HyperModel` or a `build(hp)` function; optional when
            `run_trial` is overridden.
        directory: Folder of the project folders. Defaults to ".".
        project_name: Name of this search's folder. Defaults to "untitled_project".
        overwrite: Whether to discard a saved search of the same project
            instead of resuming it. Defaults to False.
        logger: Unused; kept for KerasTuner compatibility.
        tuner_id: Id of this worker. Defaults to `KERASTUNER_TUNER_ID` when
            set, else an id unique to this tuner (host, process).
        storage: Where the search is saved: a URL (`"sqlite:///path.db"`,
            `"postgresql://user:password@host:5432/db"`) or a `BaseStorage`.
            None: the oracle's `storage`, else `E2ETUNE_STORAGE`, else
            `<directory>/<project_name>/search.db`. Every process started
            with the same storage and `project_name` is a worker of the same
            search; trial folders stay in `directory`, which must then be
            shared (NFS...) for `get_best_models()` on every host.
        **oracle_kwargs: Arguments of the default oracle when `oracle` is None.
    """

    def __init__(
        self,
        oracle: Oracle | None = None,
        hypermodel: Any = None,
        directory: str | os.PathLike | None = None,
        project_name: str | None = None,
        overwrite: bool = False,
        logger: Any = None,
        tuner_id: str | None = None,
        storage: Any = None,
        **oracle_kwargs: Any,
    ) -> None:
        self.hypermodel: HyperModel | None = get_hypermodel(hypermodel)
        if self.hypermodel is None and not self._overrides_run_trial():
            raise ValueError(
                f"Received `hypermodel=None`: {type(self).__name__} got no `hypermodel` and does "
                "not override `run_trial`. Pass `hypermodel=` (a HyperModel or a build(hp) "
                "function), or subclass the tuner and override "
                "`run_trial(self, trial, *args, **kwargs)`."
            )
        if oracle is None:
            oracle = self._default_oracle(**oracle_kwargs)
        elif oracle_kwargs:
            raise TypeError(
                f"Unexpected arguments {sorted(oracle_kwargs)}: oracle arguments are given either "
                "to the oracle you pass or, without `oracle=`, to the tuner."
            )
        if not isinstance(oracle, Oracle):
            raise ArgumentTypeError(
                f"Expected `oracle` argument to be an instance of `Oracle` (such as "
                f"`e2etune.oracles.RandomSearchOracle(...)`); got {oracle!r} of type "
                f"{type(oracle).__name__}."
            )
        self.oracle = oracle
        #: As given (a `str` or a path object); `project_dir` is always a `str`.
        self.directory = directory if directory is not None else "."
        self.project_name = project_name or "untitled_project"
        self.tuner_id = tuner_id or default_tuner_id()
        self.logger = logger
        from e2etune import distributed

        client = distributed.worker_oracle(self.oracle, self.tuner_id)
        if client is not None:  # a worker: the chief's oracle, over the network
            self.oracle = client
        else:
            self.oracle._set_project_dir(self.directory, self.project_name, overwrite=overwrite,
                                         storage=storage)
        self._display = Display(self.oracle)
        self._display.executions = getattr(self, "executions_per_trial", 1)
        # KerasTuner code reads the trial numbers shown from `oracle._display`.
        self.oracle._display = self._display
        self._populate_initial_space()

    @classmethod
    def _overrides_run_trial(cls) -> bool:
        return not getattr(cls.run_trial, "_builds_hypermodel", False)

    def _default_oracle(self, **oracle_kwargs: Any) -> Oracle:
        """The oracle of a tuner made without one: Bayesian optimization."""
        from e2etune.oracles.bayesian import BayesianOptimizationOracle

        return BayesianOptimizationOracle(**oracle_kwargs)

    def _populate_initial_space(self) -> None:
        """Declares the hypermodel's whole space to the oracle before the search.

        `declare_hyperparameters` runs once; then the model is built with the
        default values, and again for each conditional scope that no build
        entered with its conditions met (its parents set to make it active),
        so that the hyperparameters of every branch are known.
        """
        if self.hypermodel is None:
            return
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)
        branches, values = _Branches(), {}
        for _ in range(_MAX_DISCOVERY_BUILDS):
            hp = self.oracle.get_space()
            # New entries reach the oracle, which refuses them if it must (naming them all).
            hp.allow_new_entries = True
            hp.values.update(values)
            with branches.watch(hp):
                self._discover_space(hp)
            self.oracle.update_space(hp)
            values = branches.next_values()
            if values is None:
                break

    def _discover_space(self, hp: HyperParameters) -> None:
        """Declares the hypermodel's hyperparameters into `hp` (the Keras tuner builds a model)."""
        self.hypermodel.build(hp)

    # The search loop.

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the oracle stops; every argument reaches `run_trial`.

        `verbose` (default 1) also sets how much the search prints per trial.
        Stopped by Ctrl-C, SIGTERM or a `FatalError`, the search gives its
        running trial back: it runs again first when the search resumes.

        `max_time` (seconds, default None: no limit) is a time budget for this
        call of `search()` in this process; it is taken out of the arguments
        and reaches neither `run_trial` nor `fit`. Once it is spent no trial
        starts; the running one finishes, and the search says (and logs) that
        it stopped for time. Each worker of a shared search, and each call,
        has its own budget; a later call (or a resumed search) starts afresh.
        With `max_trials=None`, a search with a budget runs until the time is
        up (or the algorithm stops). The chief of a distributed search trains
        nothing and ignores it: give it to the workers' `search()`.

        Raises:
            ValueError, TypeError: for a `max_time` that is not a positive number.
        """
        from e2etune import distributed

        max_time = check_max_time(fit_kwargs.pop("max_time", None))
        if distributed.serve_if_chief(self):  # the chief serves its oracle and trains nothing
            return
        self._display.verbose = fit_kwargs.get("verbose", 1)
        self._display.on_search_begin()
        self.on_search_begin()
        budget = _TimeBudget(max_time)
        wait = 0.0
        with _sigterm_interrupts(self.oracle.close):
            while True:
                if budget.spent():
                    self._stop_for_time(budget)
                    break
                trial = self.oracle.create_trial(self.tuner_id)
                if trial.status == TrialStatus.STOPPED:
                    break
                if trial.status == TrialStatus.IDLE:
                    wait = min(max(2 * wait, 0.02), _MAX_WAIT)
                    time.sleep(budget.clip(wait))
                    continue
                if budget.spent():  # the budget ran out while the oracle decided
                    self.oracle.release_trial(trial.trial_id)
                    self._stop_for_time(budget)
                    break
                wait = 0.0
                try:
                    self.on_trial_begin(trial)
                    self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
                    self.on_trial_end(trial)
                except BaseException:
                    self.oracle.release_trial(trial.trial_id)  # nothing if it ended
                    raise
        self.on_search_end()

    def _stop_for_time(self, budget: "_TimeBudget") -> None:
        """Says (when verbose) and logs that the search stops because its time is up."""
        message = (f"Search stopped: the time budget of max_time={budget.max_time:g}s is spent "
                   f"({budget.elapsed():.1f}s elapsed); no new trial is started.")
        _LOG.info(message)
        self._display.on_search_stopped(message)

    def _try_run_and_update_trial(self, trial: Trial, *fit_args: Any, **fit_kwargs: Any) -> None:
        try:
            self._run_and_update_trial(trial, *fit_args, **fit_kwargs)
            trial.status = TrialStatus.COMPLETED
        except errors.TrialPruned as error:
            trial.status = TrialStatus.PRUNED
            trial.message = str(error) or f"Pruned after step {trial._last_step}."
        except errors.FatalError:
            raise
        except Exception as error:
            trial.message = _format_error(error)
            failed = isinstance(error, errors.FailedTrialError)
            trial.status = TrialStatus.FAILED if failed else TrialStatus.INVALID

    def _run_and_update_trial(self, trial: Trial, *fit_args: Any, **fit_kwargs: Any) -> None:
        trial._attach(self.oracle)  # for `trial.report` and `trial.should_prune`
        results = self._execute_trial(trial, *fit_args, **fit_kwargs)
        if trial._prune_requested:  # it returned after `should_prune()` said yes
            raise errors.TrialPruned(
                f"Pruned after step {trial._last_step} by {self.oracle.pruner!r}.")
        self._report_results(trial, results)

    def _execute_trial(self, trial: Trial, *fit_args: Any, **fit_kwargs: Any) -> Any:
        """Runs the trial and returns its results (framework integrations add to it)."""
        return self.run_trial(trial, *fit_args, **fit_kwargs)

    def _report_results(self, trial: Trial, results: Any) -> None:
        """Converts what the trial returned to metrics and gives them to the oracle."""
        objective = self.oracle.objective
        source = f"{type(self).__name__}.run_trial()"
        if all_none(results) and self.oracle.get_trial(trial.trial_id).metrics.exists(objective.name):
            warnings.warn(
                f"{source} reported its metrics with `self.oracle.update_trial(...)` and returned "
                "None. This works, but is deprecated (as in KerasTuner): Please remove the call "
                "and return the metrics from run_trial instead, e.g. `return {'loss': loss}`.",
                DeprecationWarning, stacklevel=user_stacklevel())
            return
        validate_result(results, source, objective)
        metrics = convert_to_metrics(results, objective)
        single = results[0] if isinstance(results, (list, tuple)) and len(results) == 1 else results
        self.oracle.update_trial(trial.trial_id, metrics, step=best_step_of(single, objective))

    @builds_hypermodel
    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        """Runs one trial and returns its result; override it for the `run_trial` workflow.

        The default builds the hypermodel with `trial.hyperparameters` and
        returns `hypermodel.fit(hp, model, *args, **kwargs)`.

        Returns:
            A number (the objective), a dict of metrics, a Keras `History`, or
            a list of these (one per execution).
        """
        hp = trial.hyperparameters
        model = self.hypermodel.build(hp)
        return self.hypermodel.fit(hp, model, *args, **kwargs)

    # Hooks.

    def on_search_begin(self) -> None:
        """Called once when `search()` starts."""

    def on_search_end(self) -> None:
        """Called once when `search()` ends; shows a summary (call `super()` when overriding)."""
        self._display.on_search_end()

    def on_trial_begin(self, trial: Trial) -> None:
        """Called before each trial runs."""
        self._display.on_trial_begin(trial)

    def on_trial_end(self, trial: Trial) -> None:
        """Called after each trial; reports it to the oracle (call `super()` when overriding)."""
        try:
            self.oracle.end_trial(trial)
        finally:
            self._display.on_trial_end(trial)

    # Results.

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The hyperparameters of the best trials, best first."""
        return [t.hyperparameters for t in self.oracle.get_best_trials(num_trials)]

    def get_best_models(self, num_models: int = 1) -> list[Any]:
        """The models of the best completed trials, best first (see `load_model`)."""
        best = [t for t in self.oracle.get_best_trials(num_models)
                if t.status == TrialStatus.COMPLETED]
        if not best and self.oracle.trials:
            raise ValueError(
                "No trial of this search completed, so there is no model to load: see why in "
                "`tuner.results_summary()` (each failed trial's error is in its `message`).")
        return [self.load_model(t) for t in best]

    def load_model(self, trial: Trial) -> Any:
        """Returns the model of a trial; framework integrations implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} does not keep models; use the Keras `Tuner` for "
            "`get_best_models()`, or retrain with `get_best_hyperparameters()`."
        )

    def search_space_summary(self, extended: bool = False) -> None:
        """Prints the hyperparameters of the search space with their configs.

        `extended` is accepted for KerasTuner compatibility; the summary is always complete.
        """
        space = self.oracle.get_space().space
        print("Search space summary")
        print(f"Default search space size: {len(space)}")
        for hp in space:
            config = hp.get_config()
            config.pop("name")
            print(f"{hp.name} ({type(hp).__name__})")
            print(config)

    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the best `num_trials` trials."""
        print("Results summary")
        print(f"Results in {self.project_dir}")
        print(f"Showing {num_trials} best trials")
        print(self.oracle.objective)
        for trial in self.oracle.get_best_trials(num_trials):
            print()
            trial.summary()

    def results_dataframe(self) -> Any:
        """The search's trials as a pandas DataFrame: one row per trial, its id, status,
        score, `hp/<name>` values and `metric/<name>` values (pandas must be installed)."""
        from e2etune.results import trials_dataframe

        return trials_dataframe(self)

    @property
    def remaining_trials(self) -> int | None:
        """How many trials are left, or None without `max_trials`."""
        return self.oracle.remaining_trials()

    @property
    def project_dir(self) -> str:
        """`<directory>/<project_name>`."""
        return os.path.join(self.directory, self.project_name)

    def get_trial_dir(self, trial_id: str) -> str:
        """The folder of a trial's files (`trial_<id>`), created if missing."""
        path = os.path.join(self.project_dir, f"trial_{trial_id}")
        os.makedirs(path, exist_ok=True)
        return path

    def save(self) -> None:
        """Commits the search state (every trial event is committed already)."""
        self.oracle.save()

    def reload(self) -> None:
        """Reloads the saved search from the project folder."""
        self.oracle.reload()

