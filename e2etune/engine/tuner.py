"""`Tuner`: the search loop with Keras training, callbacks, checkpoints and best models.

Two workflows:

- Tuner workflow: subclass `Tuner` and override `run_trial(self, trial, *args,
  **kwargs)`; everything given to `search()` reaches it, plus `callbacks`:
  fresh copies of the user's callbacks and the tuner's own. Pass them to
  `model.fit` (by name, or by forwarding `**kwargs`) and the best epoch's
  model is saved, so that `get_best_models()` works without a hypermodel.
  A `run_trial` whose `**kwargs` go to a function that takes no `callbacks`
  is run again at once without them, as KerasTuner runs it, and no longer
  gets them; it can save its model with `self.save_model(trial.trial_id, model)`.
- HyperModel workflow: give `hypermodel=` (a `HyperModel` or a `build(hp)`
  function); each trial builds a model with `hypermodel.build(hp)` and
  trains it with `hypermodel.fit(hp, model, *args, callbacks=..., **kwargs)`,
  `executions_per_trial` times, each on a freshly built model.

Keras is imported when the tuner first needs it, never by `import e2etune`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from e2etune import errors
from e2etune.engine import callbacks as callbacks_module
from e2etune.engine import training_state, tuner_models, tuner_utils
from e2etune.engine.base_tuner import BaseTuner, builds_hypermodel
from e2etune.engine.hypermodel import DefaultHyperModel, HyperModel
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial
from e2etune.engine.trial_run import TrialRun


def _refuses_callbacks(error: TypeError) -> bool:
    """Whether `error` says that a function got a `callbacks` keyword it cannot take."""
    text = str(error)
    return ("multiple values for keyword argument 'callbacks'" in text
            or "unexpected keyword argument 'callbacks'" in text)


def _check_executions(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`executions_per_trial` must be an integer >= 1; got {value!r}.")
    return value


def _check_pruning(oracle: Any, executions_per_trial: int) -> None:
    """Refuses a pruner with several executions per trial (each would report its own curve)."""
    pruner = oracle.get("pruner") if isinstance(oracle, dict) else getattr(oracle, "pruner", None)
    if pruner is not None and executions_per_trial > 1:
        raise ValueError(
            f"A pruner compares each trial's training curve as it trains, so it needs "
            f"`executions_per_trial=1`; got {executions_per_trial}. Leave out `pruner=`, or "
            "run one execution per trial.")


class Tuner(BaseTuner):
    """Tunes Keras workflows: `run_trial` overrides, or a hypermodel's build and fit.

    Checkpoints: each trial's folder (`get_trial_dir(trial_id)`) keeps the
    best epoch of its best execution by the objective (for the default
    objective: `val_loss` if logged, else `loss`), and only that, as a whole
    model `checkpoint.keras` (weights only, `checkpoint.weights.h5`, when a
    model cannot be serialized). `load_model` rebuilds a hypermodel's model
    and loads the weights into it, as KerasTuner does; without a hypermodel,
    or when that fails, it loads the whole saved model.

    Memory: before each execution (and when the search ends) the Keras
    session is cleared and garbage collected, and TensorFlow's record of the
    last model's graphs dropped (see `tuner_utils.SearchMemory`), so memory
    stays flat over long searches.

    Resume: every epoch's end is saved in the trial's folder (weights,
    optimizer, logs, checkpoint; see `training_state`). A trial interrupted
    by a crash or a stop runs again from the epoch after its last saved one
    when `fit` gets the tuner's callbacks, with its finished executions
    kept; a custom loop resumes with `trial.restore_training` and
    `trial.save_training`.

    Pruning: when the oracle has a `pruner`, each epoch's objective (from
    its logs) is reported (`trial.report`) and training stops as soon as
    `trial.should_prune()` says so; the trial then ends PRUNED.

    Args:
        oracle: The search algorithm; None makes Bayesian optimization from
            `oracle_kwargs`.
        hypermodel: A `HyperModel` or a `build(hp)` function returning a
            compiled Keras model; optional when `run_trial` is overridden.
        max_model_size: Largest number of parameters; a larger model fails
            its trial (not retried). Defaults to None (no limit).
        optimizer: Optimizer that replaces the one the model was compiled with.
        loss: Loss that replaces the model's.
        metrics: Metrics that replace the model's.
        distribution_strategy: A `tf.distribute.Strategy` to build and load
            models under.
        directory: Folder of the project folders. Defaults to ".".
        project_name: Name of the search's folder. Defaults to "untitled_project".
        logger: Unused; kept for KerasTuner compatibility.
        tuner_id: Id of this worker. Defaults to `KERASTUNER_TUNER_ID` when
            set, else an id unique to this tuner.
        overwrite: Whether to start afresh instead of resuming a saved search
            of the same project (while other workers are running the search,
            this one joins them instead). Defaults to False.
        executions_per_trial: How many times each trial trains (a new model
            each time); the trial's metrics are their averages. Defaults to 1.
        storage: Where the search is saved (see `BaseTuner`): a URL or a
            `BaseStorage`; by default `<directory>/<project_name>/search.db`.
        **oracle_kwargs: Arguments of the default oracle when `oracle` is None:
            `objective`, `max_trials`, `seed`, `hyperparameters`,
            `max_retries_per_trial`, ...

    Example:
        >>> class MyTuner(e2etune.Tuner):
        ...     def run_trial(self, trial, x, y, **kwargs):
        ...         model = make_model(trial.hyperparameters.Int("units", 8, 64))
        ...         history = model.fit(x, y, validation_split=0.2, **kwargs)
        ...         return min(history.history["val_loss"])
        >>> tuner = MyTuner(max_trials=3, directory="results")
        >>> tuner.search(x, y, epochs=2)
        >>> best_model = tuner.get_best_models()[0]
    """

    def __init__(
        self,
        oracle: Any = None,
        hypermodel: Any = None,
        max_model_size: int | None = None,
        optimizer: Any = None,
        loss: Any = None,
        metrics: Any = None,
        distribution_strategy: Any = None,
        directory: str | os.PathLike | None = None,
        project_name: str | None = None,
        logger: Any = None,
        tuner_id: str | None = None,
        overwrite: bool = False,
        executions_per_trial: int = 1,
        storage: Any = None,
        **oracle_kwargs: Any,
    ) -> None:
        self.max_model_size = max_model_size
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.distribution_strategy = distribution_strategy
        self.executions_per_trial = _check_executions(executions_per_trial)
        _check_pruning(oracle if oracle is not None else oracle_kwargs, executions_per_trial)
        self._save_whole_models = True
        #: False once `run_trial` showed that its `**kwargs` cannot take `callbacks`.
        self._inject_callbacks = True
        self._run: TrialRun | None = None
        #: The saved progress of the last trial run, deleted when it ends.
        self._progress: dict[str, training_state.TrialProgress] = {}
        self._memory: tuner_utils.SearchMemory | None = None
        super().__init__(
            oracle=oracle,
            hypermodel=hypermodel,
            directory=directory,
            project_name=project_name,
            overwrite=overwrite,
            logger=logger,
            tuner_id=tuner_id,
            storage=storage,
            **oracle_kwargs,
        )

    # Building models.

    def _discover_space(self, hp: HyperParameters) -> None:
        # What the build returns is checked when a trial builds it (see `_check_model`).
        with tuner_utils.maybe_distribute(self.distribution_strategy):
            self.hypermodel.build(hp)

    def _check_model(self, model: Any) -> None:
        build = f"{type(self.hypermodel).__name__}.build(hp)"
        if isinstance(self.hypermodel, DefaultHyperModel):
            build = f"function {getattr(self.hypermodel._build, '__name__', '')}(hp)"
        if model is None:
            raise errors.FatalTypeError(
                f"Expected the model-building {build} to return a compiled Keras model; it "
                "returned None. End it with `return model`."
            )
        if type(self.hypermodel).fit is not HyperModel.fit:
            return  # A custom fit may train any kind of model.
        import keras

        if not isinstance(model, keras.Model):
            raise errors.FatalTypeError(
                f"Expected the model-building {build} to return a Keras model; it returned "
                f"{model!r} of type {type(model).__name__}. "
                "Return a compiled `keras.Model`, or override `HyperModel.fit` to train "
                "other kinds of models."
            )

    def _build_hypermodel(self, hp: HyperParameters) -> Any:
        """Builds a model with `hp` (under the distribution strategy) and applies the tuner's
        `optimizer`, `loss` and `metrics`."""
        with tuner_utils.maybe_distribute(self.distribution_strategy):
            model = self.hypermodel.build(hp)
            self._check_model(model)
            tuner_utils.override_compile(model, self.optimizer, self.loss, self.metrics)
        return model

    def _try_build(self, hp: HyperParameters) -> Any:
        """Frees the last model's memory, builds a new one and checks its size."""
        self._release_memory()
        model = self._build_hypermodel(hp)
        size = tuner_utils.count_params(model) if self.max_model_size else None
        if size is not None and size > self.max_model_size:
            raise errors.FailedTrialError(
                f"Oversized model: it has {size} parameters, more than `max_model_size="
                f"{self.max_model_size}`; the trial is skipped."
            )
        return model

    # Running trials.

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the oracle stops; every argument reaches `run_trial` or `fit`.

        `callbacks` are copied afresh for every training run, so they must
        support `copy.deepcopy` (checked before the first trial). `verbose`
        reaches `fit` and also sets what the search prints: 0 nothing, 1 (the
        default) a line when each trial starts and one when it ends.
        """
        if "callbacks" in fit_kwargs:
            fit_kwargs["callbacks"] = callbacks_module.check_callbacks(fit_kwargs["callbacks"])
        with tuner_utils.SearchMemory() as self._memory:
            try:
                super().search(*fit_args, **fit_kwargs)
            finally:
                self._memory.release()
                self._memory = None

    def _release_memory(self) -> None:
        """Frees what the last model held (Keras session, garbage, TensorFlow's caches)."""
        if self._memory is not None:
            self._memory.release()
        else:
            tuner_utils.clear_session()

    def _execute_trial(self, trial: Trial, *fit_args: Any, **fit_kwargs: Any) -> Any:
        given = "callbacks" in fit_kwargs
        user_callbacks = list(fit_kwargs.pop("callbacks", None) or [])
        trial_dir = self.get_trial_dir(trial.trial_id)
        progress = training_state.TrialProgress.open(
            trial_dir, trial.attempts, trial.hyperparameters.values)
        if not progress.resuming:
            callbacks_module.remove_checkpoint(trial_dir)
        self._progress = {trial.trial_id: progress}  # for `on_trial_end`
        run = self._run = trial._training = TrialRun(
            trial, user_callbacks, progress, self.oracle.objective)
        try:
            if not self._overrides_run_trial():
                return self.run_trial(trial, *fit_args, callbacks=user_callbacks, **fit_kwargs)
            return self._run_overridden(run, given, fit_args, fit_kwargs)
        finally:
            self._run = trial._training = None
            self._note_checkpoint(run.checkpoint)

    def _run_overridden(self, run: TrialRun, given: bool, fit_args: tuple,
                        fit_kwargs: dict) -> Any:
        """Calls the user's `run_trial` `executions_per_trial` times (once if it calls
        `super().run_trial`, which runs the executions itself)."""
        inject = given or (self._inject_callbacks
                           and tuner_utils.accepts_keyword(self.run_trial, "callbacks"))
        results = []
        for execution in range(self.executions_per_trial):
            done, result = run.finished(execution)
            if done:
                results.append(result)
                continue
            self._release_memory()
            kwargs = dict(fit_kwargs)
            if tuner_utils.names_parameter(self.run_trial, "trial_id"):
                kwargs.setdefault("trial_id", run.trial.trial_id)
            if inject:
                kwargs["callbacks"] = self._callbacks_for(run, run.user_callbacks, execution)
            try:
                result = self.run_trial(run.trial, *fit_args, **kwargs)
            except TypeError as error:
                if given or not inject or not _refuses_callbacks(error):
                    raise
                # Its `**kwargs` go elsewhere than `fit`: run it as KerasTuner does, without.
                inject = self._inject_callbacks = False
                if "multiple values" in str(error):
                    warnings.warn(
                        f"{type(self).__name__}.run_trial passes its own `callbacks=` to `fit`, "
                        "so the tuner's callbacks were left out: best models are not saved. Add "
                        "the `callbacks` that run_trial receives to yours to save them.",
                        stacklevel=tuner_utils.user_stacklevel())
                kwargs.pop("callbacks")
                result = self.run_trial(run.trial, *fit_args, **kwargs)
            if run.builtin_ran:
                return result
            results.append(result)
            if run.trial._prune_requested:
                break
            run.end_execution(result, self.executions_per_trial)
        return results[0] if len(results) == 1 else results

    def _callbacks_for(self, run: TrialRun, originals: list, execution: int) -> list:
        """Fresh copies of the user's callbacks plus the tuner's, for one training run.

        The tuner's own (hooks and checkpoint) are Keras callbacks: they are
        added when Keras is imported or `run_trial` imports it itself, so
        that tuning plain functions never loads TensorFlow.
        """
        copies = callbacks_module.copy_callbacks(originals)
        run.remember_copies(copies, originals)
        callbacks_module.configure_tensorboard(copies, run.trial, execution, self.oracle.objective)
        if tuner_utils.keras_loaded() or tuner_utils.imports_keras(self.run_trial):
            from e2etune.engine import training_resume

            if run.checkpoint is None:
                run.checkpoint = callbacks_module.make_checkpoint(
                    self.oracle.objective, self.get_trial_dir(run.trial.trial_id),
                    whole_model=self._save_whole_models)
                run.checkpoint.best_value = run.progress.best_value
            copies.append(callbacks_module.make_tuner_hooks(self, run.trial))
            copies.append(run.checkpoint)
            copies.append(training_resume.make_state_callback(run))
            if getattr(self.oracle, "pruner", None) is not None:
                copies.append(callbacks_module.make_pruning_callback(
                    run.trial, self.oracle.objective))
        return copies

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Saves `model` as the checkpoint of trial `trial_id`, for `get_best_models()`.

        For a `run_trial` that trains without the tuner's callbacks (it reports
        with `self.oracle.update_trial(...)` and returns nothing, say): call it
        with the model to keep. A later call replaces the earlier model;
        `step` is accepted for KerasTuner compatibility.
        """
        error = callbacks_module.save_trial_model(
            model, self.get_trial_dir(trial_id), whole_model=self._save_whole_models)
        self._note_whole_model_error(error)

    def on_trial_end(self, trial: Trial) -> None:
        """Called after each trial; reports it to the oracle (call `super()` when overriding)."""
        super().on_trial_end(trial)
        progress = self._progress.pop(trial.trial_id, None)
        if progress is not None and not self.oracle.lease_lost(trial.trial_id):
            progress.discard()  # a trial given to another worker keeps its state for it

    def _note_checkpoint(self, checkpoint: Any) -> None:
        self._note_whole_model_error(getattr(checkpoint, "whole_model_error", None))

    def _note_whole_model_error(self, error: str | None) -> None:
        if error and self._save_whole_models:
            self._save_whole_models = False
            warnings.warn(
                f"The model could not be saved whole ({error}); the search keeps the best "
                "weights only, which `get_best_models()` loads into a model built by the "
                "hypermodel. Make the model serializable (`get_config`, "
                "`@keras.saving.register_keras_serializable()`) to keep whole models.",
                stacklevel=tuner_utils.user_stacklevel())

    @builds_hypermodel
    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> list:
        """Builds and trains the hypermodel `executions_per_trial` times; override for the
        Tuner workflow.

        Each execution builds a new model with `hypermodel.build(hp)` and trains
        it with `hypermodel.fit(hp, model, *args, callbacks=..., **kwargs)`,
        where the callbacks are fresh copies of the user's plus the tuner's
        (checkpoint and hooks). `fit` also gets `trial_id=` / `trial=` when its
        signature names them.

        An override receives everything given to `search()` plus `callbacks`
        (see the module's docstring for when they are left out); it returns a
        number (the objective), a dict of metrics, a `History`, or a list of
        these. It may call `super().run_trial(trial, *args,
        **kwargs)` to build and train with the hypermodel.

        Returns:
            The results of the executions, one per execution.
        """
        if self.hypermodel is None:
            raise errors.FatalValueError(
                "Tuner.run_trial builds models with the hypermodel, but the tuner got no "
                "`hypermodel`. Pass `hypermodel=`, or build and train the model in your "
                "`run_trial` without calling `super().run_trial`."
            )
        run = self._run_of(trial)
        run.builtin_ran = True
        originals = run.originals(kwargs.pop("callbacks", None))
        results = []
        for execution in range(self.executions_per_trial):
            done, result = run.finished(execution)
            if not done:
                callbacks = self._callbacks_for(run, originals, execution)
                result = self._build_and_fit_model(trial, *args, callbacks=callbacks, **kwargs)
                run.end_execution(result, self.executions_per_trial)
            results.append(result)
            if trial._prune_requested:
                break
        return results

    def _run_of(self, trial: Trial) -> TrialRun:
        """The run of `trial` in progress (a new one when `run_trial` is called by hand)."""
        if self._run is not None and self._run.trial is trial:
            return self._run
        trial_dir = self.get_trial_dir(trial.trial_id)
        progress = training_state.TrialProgress.unsaved(trial_dir, trial.attempts)
        return TrialRun(trial, [], progress, self.oracle.objective)

    def _build_and_fit_model(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        """Builds a fresh model for `trial` and returns what `hypermodel.fit` returns."""
        hp = trial.hyperparameters
        model = self._try_build(hp)
        fit = self.hypermodel.fit
        for name, value in (("trial_id", trial.trial_id), ("trial", trial)):
            if tuner_utils.names_parameter(fit, name):
                kwargs.setdefault(name, value)
        results = fit(hp, model, *args, **kwargs)
        tuner_utils.validate_result(results, f"{type(self.hypermodel).__name__}.fit()",
                                    self.oracle.objective)
        return results

    # Models of finished trials.

    def _get_checkpoint_fname(self, trial_id: str) -> str:
        """The checkpoint file of a trial (whole model, or weights when only they were saved)."""
        return tuner_models.checkpoint_path(self.get_trial_dir(trial_id))

    def load_model(self, trial: Trial) -> Any:
        """The trained model of `trial` at its best epoch, ready to predict.

        With a hypermodel (and the built-in `run_trial`) it is rebuilt with the
        trial's hyperparameters and the saved weights are loaded into it (no
        `custom_objects` needed); otherwise the whole saved model is loaded.

        Raises:
            FileNotFoundError: when the trial saved no model (e.g. `run_trial`
                did not pass its `callbacks` to `fit`).
        """
        build = None
        if self.hypermodel is not None:
            def build() -> Any:
                return self._build_hypermodel(trial.hyperparameters.copy())
        with tuner_utils.maybe_distribute(self.distribution_strategy):
            return tuner_models.load_trial_model(
                self.get_trial_dir(trial.trial_id), trial.trial_id, build,
                rebuild_first=not self._overrides_run_trial())

    def get_best_models(self, num_models: int = 1) -> list[Any]:
        """The trained models of the best trials, best first, at their best epoch.

        For retraining on all the data, prefer `get_best_hyperparameters()`.
        """
        return super().get_best_models(num_models)

    # Training hooks (called by the tuner's callback).

    def on_epoch_begin(self, trial: Trial, model: Any, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch of a trial's training."""

    def on_epoch_end(self, trial: Trial, model: Any, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of each epoch with the epoch's `logs`."""

    def on_batch_begin(self, trial: Trial, model: Any, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch."""

    def on_batch_end(self, trial: Trial, model: Any, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch."""
