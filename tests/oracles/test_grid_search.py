"""Grid search: KerasTuner's order, every value type, conditions, new hyperparameters, resume."""

from __future__ import annotations

import time

from e2etune.engine.hyperparameters import Float, HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import GridSearchOracle
from e2etune.oracles.grid_search import Grid


def run(oracle: GridSearchOracle, declare=None, limit: int = 1000) -> list[dict]:
    """Runs the grid; `declare(hp)` plays the model code declaring hyperparameters."""
    values = []
    while len(values) < limit:
        trial = oracle.create_trial("t")
        if trial.status != TrialStatus.RUNNING:
            break
        if declare is not None:
            declare(trial.hyperparameters)
        values.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"default_objective": 0.0})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    return values


def grid(**declarations) -> GridSearchOracle:
    hp = HyperParameters()
    for name, (kind, kwargs) in declarations.items():
        getattr(hp, kind)(name, **kwargs)
    return GridSearchOracle(hyperparameters=hp)


def test_the_default_arguments_match_keras_tuner():
    oracle = GridSearchOracle()
    assert oracle.max_trials is None
    assert oracle.max_retries_per_trial == 0 and oracle.max_consecutive_failed_trials == 3


def test_the_order_of_keras_tuners_documentation():
    oracle = grid(model_name=("Choice", {"values": ["sgd", "adam"]}),
                  learning_rate=("Choice", {"values": [0.01, 0.1]}))
    assert [tuple(v.values()) for v in run(oracle)] == [
        ("sgd", 0.01), ("sgd", 0.1), ("adam", 0.01), ("adam", 0.1)]
    assert oracle.create_trial("t").status == TrialStatus.STOPPED


def test_defaults_come_first_then_the_values_in_order():
    oracle = grid(a=("Choice", {"values": [1, 2, 3], "default": 2}),
                  b=("Int", {"min_value": 0, "max_value": 2, "default": 1}))
    assert [(v["a"], v["b"]) for v in run(oracle)] == [
        (2, 1), (2, 0), (2, 2), (1, 1), (1, 0), (1, 2), (3, 1), (3, 0), (3, 2)]


def test_every_value_type():
    oracle = grid(flag=("Boolean", {}), fixed=("Fixed", {"value": "x"}),
                  units=("Int", {"min_value": 32, "max_value": 128, "step": 32}),
                  rate=("Float", {"min_value": 0.0, "max_value": 0.5, "step": 0.25}))
    values = run(oracle)
    assert len(values) == 2 * 1 * 4 * 3
    assert values[0] == {"flag": False, "fixed": "x", "units": 32, "rate": 0.0}
    assert [v["rate"] for v in values[:3]] == [0.0, 0.25, 0.5]
    assert [v["units"] for v in values[:12:3]] == [32, 64, 96, 128]


def test_a_float_without_a_step_takes_its_sorted_grid_values():
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    values = [v["lr"] for v in run(GridSearchOracle(hyperparameters=hp))]
    # The default first, then the centers of ten equal parts of the log range.
    assert values[0] == 1e-4
    assert values[1:] == Float("lr", 1e-4, 1e-1, sampling="log").grid_values()
    assert values == sorted(values) and len(values) == Float.GRID_SIZE + 1


def test_conditional_hyperparameters_vary_only_where_active():
    hp = HyperParameters()
    hp.Choice("model", ["cnn", "mlp"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Choice("filters", [8, 16])
    with hp.conditional_scope("model", ["mlp"]):
        hp.Choice("units", [32, 64, 128])
    hp.Boolean("bn")
    values = run(GridSearchOracle(hyperparameters=hp))
    assert values == [
        {"model": "cnn", "filters": 8, "bn": False}, {"model": "cnn", "filters": 8, "bn": True},
        {"model": "cnn", "filters": 16, "bn": False}, {"model": "cnn", "filters": 16, "bn": True},
        {"model": "mlp", "units": 32, "bn": False}, {"model": "mlp", "units": 32, "bn": True},
        {"model": "mlp", "units": 64, "bn": False}, {"model": "mlp", "units": 64, "bn": True},
        {"model": "mlp", "units": 128, "bn": False}, {"model": "mlp", "units": 128, "bn": True},
    ]


def test_hyperparameters_declared_by_the_code_are_covered_without_repeats():
    def declare(hp):
        hp.Choice("a", [1, 2, 3])
        if hp.get("a") == 2:  # declared only once a trial takes a = 2
            hp.Choice("b", ["x", "y"])

    values = run(GridSearchOracle(), declare)
    # Before "b" exists, a trial runs with b's default, "x".
    effective = [(v["a"], v.get("b", "x")) for v in values]
    # As in KerasTuner, "b" joins the grid from the trial that declared it on.
    assert effective == [(1, "x"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]


def test_new_hyperparameters_under_a_condition():
    def declare(hp):
        hp.Choice("model", ["cnn", "mlp"])
        with hp.conditional_scope("model", ["cnn"]):
            hp.Int("filters", 1, 3)

    values = run(GridSearchOracle(), declare)
    keys = [(v["model"], v.get("filters")) for v in values]
    assert sorted(keys, key=str) == sorted(
        [("cnn", 1), ("cnn", 2), ("cnn", 3), ("mlp", None)], key=str)


def test_max_trials_caps_the_grid():
    oracle = grid(a=("Int", {"min_value": 0, "max_value": 9}))
    oracle.max_trials = 4
    assert [v["a"] for v in run(oracle)] == [0, 1, 2, 3]


def test_a_worker_waits_while_others_may_still_grow_the_space():
    oracle = grid(a=("Choice", {"values": [1, 2]}))
    first, second = oracle.create_trial("w1"), oracle.create_trial("w2")
    assert oracle.create_trial("w3").status == TrialStatus.IDLE
    for trial in (first, second):
        oracle.update_trial(trial.trial_id, {"default_objective": 0.0})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert oracle.create_trial("w3").status == TrialStatus.STOPPED


def test_a_huge_integer_range_is_enumerated_lazily():
    oracle = grid(seed=("Int", {"min_value": 0, "max_value": 10**15}))
    start = time.perf_counter()
    assert [v["seed"] for v in run(oracle, limit=3)] == [0, 1, 2]
    assert time.perf_counter() - start < 1.0


def test_the_trials_left_to_follow_are_kept_in_the_state():
    oracle = grid(a=("Int", {"min_value": 0, "max_value": 5}))
    run(oracle, limit=2)
    state = oracle.get_state()
    assert state == {"queue": [list(oracle.trials)[-1]], "grown": False}
    fresh = grid(a=("Int", {"min_value": 0, "max_value": 5}))
    fresh.trials, fresh._tried_so_far = oracle.trials, oracle._tried_so_far
    fresh.set_state(state)
    assert [v["a"] for v in run(fresh)] == [2, 3, 4, 5]


def test_grid_points():
    hp = HyperParameters()
    hp.Choice("a", ["p", "q"])
    with hp.conditional_scope("a", ["q"]):
        hp.Boolean("b")
    g = Grid(hp.space)
    points = [g.first()]
    while (point := g.next(points[-1])) is not None:
        points.append(point)
    assert points == [[0, None], [1, 0], [1, 1]]
    assert g.size_bound() == 4
    assert g.is_point([1, 1]) and not g.is_point([2, 0]) and not g.is_point("x")


def test_workers_share_a_static_grid_but_wait_once_trials_declare_new_hyperparameters():
    oracle = grid(a=("Choice", {"values": [1, 2, 3]}))
    running = [oracle.create_trial(f"w{i}") for i in range(3)]
    # The space is the one the search started with: three workers, three points at once.
    assert [t.hyperparameters["a"] for t in running] == [1, 2, 3]

    grown = GridSearchOracle()
    grown.update_space(HyperParameters())
    first = grown.create_trial("w0")
    first.hyperparameters.Boolean("flag")  # a trial declares a new hyperparameter
    grown.update_space(first.hyperparameters)
    second = grown.create_trial("w1")
    # What follows a running trial waits for its end, which may declare more.
    assert grown.create_trial("w2").status == TrialStatus.IDLE
    assert second.status == TrialStatus.RUNNING
