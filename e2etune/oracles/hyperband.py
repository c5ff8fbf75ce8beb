"""Hyperband: many short trials, the best promoted to longer training."""

from __future__ import annotations

from typing import Any

from e2etune import errors
from e2etune.engine import _queue
from e2etune.engine._oracle_arguments import shared_arguments
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import hyperband_schedule
from e2etune.oracles.hyperband_schedule import Bracket


@shared_arguments
class HyperbandOracle(Oracle):
    """Hyperband (Li et al., 2018) with promoted trials that continue training.

    The schedule (see `hyperband_schedule`) is computed once from
    `max_epochs` and `factor` and followed exactly: each round promotes the
    best `1/factor` of the previous round, and a promoted trial carries
    `tuner/trial_id` (its parent), `tuner/initial_epoch` (the epochs its
    parent trained) and `tuner/epochs`, so it resumes from its parent's
    weights instead of training from scratch. Every trial's values hold
    `tuner/epochs`, `tuner/initial_epoch`, `tuner/bracket` and `tuner/round`.

    A round waits until all its trials have ended; failed trials are simply
    not promoted. A space with fewer configurations than a bracket wants
    fills what it can, and the search ends when the schedule is done.

    Args:
        objective: A metric name, an `Objective`, or a list of these.
        max_epochs: Epochs of the longest-trained trials. Defaults to 100.
        factor: Reduction factor between rounds. Defaults to 3.
        hyperband_iterations: How many times to run the whole schedule.
            Defaults to 1.
    """

    def __init__(
        self,
        objective: Any = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("pruner") is not None:
            raise ValueError(
                "Hyperband stops trials by its own schedule, so it takes no `pruner`: leave "
                "out `pruner=`, or use another algorithm (RandomSearch, BayesianOptimization, "
                "GridSearch) with it.")
        super().__init__(
            objective=objective,
            max_trials=None,
            **kwargs,
        )
        if not isinstance(hyperband_iterations, int) or hyperband_iterations < 1:
            raise ValueError(
                f"`hyperband_iterations` must be an integer >= 1; got {hyperband_iterations!r}."
            )
        self.max_epochs = max_epochs
        self.factor = factor
        self.hyperband_iterations = hyperband_iterations
        self.brackets: list[Bracket] = hyperband_schedule.schedule(max_epochs, factor)
        # Position in the schedule: the current iteration and bracket, and the
        # trial ids of each of its rounds so far.
        self._iteration = 0
        self._bracket_index = 0
        self._rounds: list[list[str]] = [[]]
        self._space_exhausted = False
        #: A queued configuration offered for the next slot of a first round (`_populate_queued`).
        self._offered: dict[str, Any] | None = None

    def describe_schedule(self) -> str:
        """The schedule as a table of trials and epochs per round."""
        return hyperband_schedule.describe(self.brackets, self.hyperband_iterations)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Fills the current round, promotes when it is over, and stops after the last bracket."""
        while self._iteration < self.hyperband_iterations:
            bracket = self.brackets[self._bracket_index]
            round_index = len(self._rounds) - 1
            planned = bracket.rounds[round_index]
            current = self._rounds[-1]
            if len(current) < planned.trials:
                values = self._next_values(bracket, round_index, current)
                if values is not None:
                    current.append(trial_id)
                    return {"status": TrialStatus.RUNNING, "values": values}
            if any(self.trials[t].status not in TrialStatus.ENDED for t in current):
                return {"status": TrialStatus.IDLE}
            if round_index + 1 < len(bracket.rounds) and self._promotable(round_index):
                self._rounds.append([])
            else:
                self._next_bracket()
        return {"status": TrialStatus.STOPPED}

    def _next_values(self, bracket: Bracket, round_index: int, current: list[str]) -> dict | None:
        planned = bracket.rounds[round_index]
        tuner_values = {
            "tuner/epochs": planned.epochs,
            "tuner/initial_epoch": planned.initial_epoch,
            "tuner/bracket": bracket.s,
            "tuner/round": round_index,
        }
        if round_index == 0:
            offered, self._offered = self._offered, None
            if offered is not None:  # taken: a queued configuration fills this slot
                drawn = None if self._space_exhausted else self._random_values()
                return {**_queue.complete(offered, drawn, self.hyperparameters), **tuner_values}
            values = None if self._space_exhausted else self._random_values()
            if values is None:
                self._space_exhausted = True
                return None
            return {**values, **tuner_values}
        promoted = {self.trials[t].hyperparameters.values.get("tuner/trial_id") for t in current}
        for parent in self._promotable(round_index - 1):
            if parent.trial_id not in promoted:
                values = {k: v for k, v in parent.hyperparameters.values.items()
                          if not k.startswith("tuner/")}
                return {**values, **tuner_values, "tuner/trial_id": parent.trial_id}
        return None

    def _populate_queued(self, trial_id: str, queued: dict[str, Any]
                         ) -> tuple[dict[str, Any], bool]:
        """A queued configuration takes the next slot of a first round (the rest drawn at
        random): the current bracket's if its first round has room, else the next one's.
        Promotions, and the waits for a round to end, go on as scheduled meanwhile."""
        self._offered = queued
        try:
            response = self.populate_space(trial_id)
            return response, self._offered is None
        finally:
            self._offered = None

    def _promotable(self, round_index: int) -> list:
        """The best trials of a finished round, as many as the next round takes, best first."""
        next_round = self.brackets[self._bracket_index].rounds[round_index + 1]
        return self._best_of((self.trials[t] for t in self._rounds[round_index]), next_round.trials)

    def _on_space_changed(self) -> None:
        self._space_exhausted = False

    def _next_bracket(self) -> None:
        self._rounds = [[]]
        self._bracket_index += 1
        if self._bracket_index == len(self.brackets):
            self._bracket_index = 0
            self._iteration += 1

    def get_state(self) -> dict[str, Any]:
        """The position in the schedule."""
        return {
            "iteration": self._iteration,
            "bracket_index": self._bracket_index,
            "rounds": self._rounds,
            "space_exhausted": self._space_exhausted,
            "max_epochs": self.max_epochs,
            "factor": self.factor,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores the position in the schedule."""
        if not state:
            return
        saved = {name: state.get(name, value) for name, value in
                 (("max_epochs", self.max_epochs), ("factor", self.factor))}
        if saved != {"max_epochs": self.max_epochs, "factor": self.factor}:
            raise errors.SearchStateError(
                f"This Hyperband search was started with max_epochs={saved['max_epochs']} and "
                f"factor={saved['factor']}, not max_epochs={self.max_epochs} and "
                f"factor={self.factor}: its brackets follow the first schedule. Resume it with "
                "the same arguments, use another `project_name`, or pass `overwrite=True` to "
                "start afresh.")
        self._iteration = state["iteration"]
        self._bracket_index = state["bracket_index"]
        self._rounds = [list(r) for r in state["rounds"]]
        self._space_exhausted = state["space_exhausted"]
