"""Synthetic test functions for the optimizer benchmarks.

Plain numpy callables: each takes an array whose last axis holds the ``d``
coordinates (a single point of shape ``(d,)`` or a batch ``(m, d)``) and
returns one value per point (a float for a single point). Formulas, domains
and optima follow Surjanovic & Bingham, "Virtual Library of Simulation
Experiments: Test Functions and Datasets" (https://www.sfu.ca/~ssurjano).

``PROBLEMS`` maps a name to ``(fn, bounds, f_min)`` with ``bounds`` a
``(d, 2)`` array of lower and upper limits and ``f_min`` the known global
minimum.

Example:
    >>> fn, bounds, f_min = PROBLEMS["branin"]
    >>> round(float(fn(np.array([np.pi, 2.275]))) - f_min, 6)
    0.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _result(values: np.ndarray) -> np.ndarray | float:
    return float(values) if np.ndim(values) == 0 else values


def branin(x: np.ndarray) -> np.ndarray | float:
    """Branin-Hoo on ``[-5, 10] x [0, 15]``; minimum 0.397887 at three points."""
    x = np.asarray(x, dtype=float)
    x1, x2 = x[..., 0], x[..., 1]
    b, c, t = 5.1 / (4.0 * np.pi**2), 5.0 / np.pi, 1.0 / (8.0 * np.pi)
    return _result((x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * np.cos(x1) + 10.0)


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN3_A = np.array(
    [[3.0, 10.0, 30.0], [0.1, 10.0, 35.0], [3.0, 10.0, 30.0], [0.1, 10.0, 35.0]]
)
_HARTMANN3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]], dtype=float
)
_HARTMANN6_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_HARTMANN6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=float,
)


def _hartmann(x: np.ndarray, a: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    x = np.asarray(x, dtype=float)
    inner = np.sum(a * (x[..., None, :] - p) ** 2, axis=-1)
    return _result(-np.exp(-inner) @ _HARTMANN_ALPHA)


def hartmann3(x: np.ndarray) -> np.ndarray | float:
    """Hartmann 3-d on ``[0, 1]^3``; minimum -3.86278 at (0.114614, 0.555649, 0.852547)."""
    return _hartmann(x, _HARTMANN3_A, _HARTMANN3_P)


def hartmann6(x: np.ndarray) -> np.ndarray | float:
    """Hartmann 6-d on ``[0, 1]^6``; minimum -3.32237 at
    (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)."""
    return _hartmann(x, _HARTMANN6_A, _HARTMANN6_P)


def rosenbrock(x: np.ndarray) -> np.ndarray | float:
    """Rosenbrock in any dimension (4 here, on ``[-5, 10]^4``); minimum 0 at ones."""
    x = np.asarray(x, dtype=float)
    head, tail = x[..., :-1], x[..., 1:]
    return _result(np.sum(100.0 * (tail - head**2) ** 2 + (head - 1.0) ** 2, axis=-1))


def ackley(x: np.ndarray) -> np.ndarray | float:
    """Ackley with a=20, b=0.2, c=2 pi (5-d on ``[-32.768, 32.768]^5``); minimum 0 at 0."""
    x = np.asarray(x, dtype=float)
    root_mean_square = np.sqrt(np.mean(x**2, axis=-1))
    mean_cos = np.mean(np.cos(2.0 * np.pi * x), axis=-1)
    return _result(-20.0 * np.exp(-0.2 * root_mean_square) - np.exp(mean_cos) + 20.0 + np.e)


def levy(x: np.ndarray) -> np.ndarray | float:
    """Levy in any dimension (5 here, on ``[-10, 10]^5``); minimum 0 at ones."""
    w = 1.0 + (np.asarray(x, dtype=float) - 1.0) / 4.0
    first = np.sin(np.pi * w[..., 0]) ** 2
    head = w[..., :-1]
    middle = np.sum((head - 1.0) ** 2 * (1.0 + 10.0 * np.sin(np.pi * head + 1.0) ** 2), axis=-1)
    last = w[..., -1]
    return _result(first + middle + (last - 1.0) ** 2 * (1.0 + np.sin(2.0 * np.pi * last) ** 2))


def _box(low: float, high: float, d: int) -> np.ndarray:
    return np.tile([low, high], (d, 1)).astype(float)


PROBLEMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray | float], np.ndarray, float]] = {
    "branin": (branin, np.array([[-5.0, 10.0], [0.0, 15.0]]), 0.397887),
    "hartmann3": (hartmann3, _box(0.0, 1.0, 3), -3.86278),
    "hartmann6": (hartmann6, _box(0.0, 1.0, 6), -3.32237),
    "rosenbrock4": (rosenbrock, _box(-5.0, 10.0, 4), 0.0),
    "ackley5": (ackley, _box(-32.768, 32.768, 5), 0.0),
    "levy5": (levy, _box(-10.0, 10.0, 5), 0.0),
}


#: The minimum of :func:`mixed`, reached at ``optimizer="sgd"``, ``learning_rate=10**-1.8``,
#: ``momentum=0.9``, ``units=160``, ``activation="gelu"``.
MIXED_MIN = 0.0


def mixed(values: dict) -> float:
    """A smooth stand-in for a training loss over a mixed, conditional space.

    The space (see ``benchmarks/bayesian.py``): ``learning_rate`` log-Float in
    ``[1e-5, 1e-1]``; ``units`` Int 16..256 step 16; ``activation`` one of
    ``relu, tanh, gelu``; ``optimizer`` one of ``adam, sgd``; ``momentum``
    Float in ``[0, 0.99]``, active only for ``sgd``. Adam's best learning rate
    is lower (1e-3.2) and its best loss 0.08 worse; SGD needs the right
    momentum, and its best learning rate moves with it.
    """
    log_lr = np.log10(values["learning_rate"])
    if values["optimizer"] == "adam":
        loss = 0.08 + 0.5 * (log_lr + 3.2) ** 2
    else:
        momentum = values["momentum"]
        loss = 0.6 * (log_lr + 1.8 + 0.8 * (momentum - 0.9)) ** 2 + 1.5 * (momentum - 0.9) ** 2
    activation = {"relu": 0.03, "tanh": 0.12, "gelu": 0.0}[values["activation"]]
    loss += 0.4 * ((values["units"] - 160) / 240.0) ** 2 + activation
    return float(loss)
