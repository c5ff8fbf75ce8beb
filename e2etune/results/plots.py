"""Plots of a search as matplotlib figures (matplotlib is imported only when a plot is made).

Each function reads the search (a project folder, `storage=` with
`project=`, a tuner or oracle, or `SearchResults`) and returns a
`matplotlib.figure.Figure`, made without pyplot: save it with
`figure.savefig("plot.png")`, or show it in a notebook. Only completed
trials are plotted; a search without any yet gives a figure that says so.
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable

from e2etune.engine.hyperparameters import Boolean, Choice
from e2etune.engine.hyperparameters.numerical import to_unit
from e2etune.results._errors import NotEnoughTrialsError, require
from e2etune.results._reader import SearchResults, TrialRow, read_results
from e2etune.results.importance import hyperparameter_importance

#: The `gid` of the scatter of `plot_history`: one point per completed trial.
HISTORY_POINTS = "trials"


def _figure(width: float = 8.0, height: float = 5.0):
    require("matplotlib", "Plotting a search", "plots")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _scored(results: SearchResults, metric: str | None) -> list[tuple[TrialRow, float]]:
    pairs = [(t, results.value_of(t, metric)) for t in results.trials]
    return [(t, v) for t, v in pairs if v is not None]


def _what(results: SearchResults, metric: str | None) -> str:
    return metric or results.objective_name


def _message(figure, text: str):
    axes = figure.add_subplot()
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, transform=axes.transAxes)
    axes.set_axis_off()
    return figure


def plot_history(source: Any = None, *, storage: Any = None, project: str | None = None,
                 metric: str | None = None):
    """The score of each completed trial in creation order, and the best so far.

    Args:
        source, storage, project: The search (see `read_results`).
        metric: Plot this metric instead of the objective's score.

    Returns:
        A `matplotlib.figure.Figure`; its scatter (gid "trials") has one
        point per completed trial.
    """
    results = read_results(source, storage=storage, project=project)
    metric = results.check_metric(metric)
    figure, scored = _figure(), _scored(results, metric)
    what = _what(results, metric)
    if not scored:
        return _message(figure, f"No completed trials with a {what} yet.")
    axes = figure.add_subplot()
    numbers = [t.number for t, _ in scored]
    values = [v for _, v in scored]
    pick = min if results.direction_of(metric) == "min" else max
    best = [pick(values[: i + 1]) for i in range(len(values))]
    axes.scatter(numbers, values, s=28, color="tab:blue", label=what, zorder=3,
                 gid=HISTORY_POINTS)
    axes.step(numbers, best, where="post", color="tab:red", label="best so far")
    axes.set_xlabel("trial number (creation order)")
    axes.set_ylabel(what)
    axes.set_title(f"{results.project}: {len(scored)} completed of {len(results.trials)} trials")
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    return figure


def plot_importance(source: Any = None, *, storage: Any = None, project: str | None = None,
                    params: list[str] | None = None, metric: str | None = None,
                    n_trees: int = 64, seed: int = 0):
    """A bar per hyperparameter: the share of the score's variance it explains alone.

    See `hyperparameter_importance` for the method and the arguments.

    Returns:
        A `matplotlib.figure.Figure`, most important at the top.
    """
    results = read_results(source, storage=storage, project=project)
    results.check_hyperparameters(params)
    results.check_metric(metric)
    figure = _figure()
    try:
        importance = hyperparameter_importance(results, params=params, metric=metric,
                                               n_trees=n_trees, seed=seed)
    except NotEnoughTrialsError as error:
        return _message(figure, str(error).replace("; ", ";\n"))
    axes = figure.add_subplot()
    names = list(importance)[::-1]
    shares = [importance[n] for n in names]
    bars = axes.barh(names, shares, color="tab:blue")
    for bar, share in zip(bars, shares):
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {share:.0%}",
                  va="center")
    axes.set_xlim(0, max(1.0, max(shares, default=0) * 1.15))
    axes.set_xlabel(f"share of the variance of {_what(results, metric)} explained alone")
    axes.set_title(f"{results.project}: hyperparameter importance (functional ANOVA)")
    return figure


class _Axis:
    """Where the values of one hyperparameter go on a [0, 1] axis, and the ticks that say so."""

    def __init__(self, results: SearchResults, name: str, trials: list[TrialRow]) -> None:
        self.name = name
        hp = results.hyperparameter(name)
        values = [t.values[name] for t in trials if name in t.values]
        if isinstance(hp, (Choice, Boolean)) or any(isinstance(v, (str, bool)) for v in values):
            listed = list(hp.values) if isinstance(hp, Choice) else (
                [False, True] if isinstance(hp, Boolean) else sorted(set(values), key=str))
            self.categories = listed
            self.scale = None
        else:
            self.categories = None
            if hp is not None and hasattr(hp, "sampling"):
                self.scale = (float(hp.min_value), float(hp.max_value), hp.sampling)
            else:
                low, high = (min(values), max(values)) if values else (0.0, 1.0)
                self.scale = (float(low), float(high), "linear")

    @property
    def log(self) -> bool:
        """Whether the axis is on a log scale."""
        return self.scale is not None and self.scale[2] == "log"

    def position(self, value: Any) -> float:
        """Where `value` goes, in [0, 1]."""
        if self.categories is not None:
            index = next((i for i, c in enumerate(self.categories) if c == value
                          and isinstance(c, bool) == isinstance(value, bool)), 0)
            return index / max(len(self.categories) - 1, 1)
        low, high, sampling = self.scale
        return to_unit(float(value), low, high, sampling)

    def ticks(self) -> list[tuple[float, str]]:
        """Positions and labels of the axis' ticks."""
        if self.categories is not None:
            return [(self.position(c), str(c)) for c in self.categories]
        low, high, sampling = self.scale
        if sampling == "log" and low > 0:
            first, last = math.ceil(math.log10(low)), math.floor(math.log10(high))
            decades = [10.0 ** k for k in range(first, last + 1)]
            points = sorted({low, high, *decades})
        else:
            points = [low + (high - low) * i / 4 for i in range(5)]
        return [(self.position(p), f"{p:.3g}") for p in points]


def plot_parallel_coordinates(source: Any = None, *, storage: Any = None,
                              project: str | None = None, params: list[str] | None = None,
                              metric: str | None = None):
    """One vertical axis per hyperparameter and one for the score; a line per completed trial.

    Numeric axes follow the hyperparameter's range on its sampling's scale
    (log for `sampling="log"`); a choice's values are spread along its
    axis. A line skips the axis of a hyperparameter that was inactive in
    its trial. The colour of a line is its score (brighter: better).

    Args:
        source, storage, project: The search (see `read_results`).
        params: The hyperparameters to show (None: all).
        metric: Show this metric instead of the objective's score.
    """
    results = read_results(source, storage=storage, project=project)
    names = results.check_hyperparameters(params)
    metric = results.check_metric(metric)
    figure, scored = _figure(max(8.0, 1.6 * (len(names) + 1)), 5.0), _scored(results, metric)
    what = _what(results, metric)
    if not scored:
        return _message(figure, f"No completed trials with a {what} yet.")
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    trials = [t for t, _ in scored]
    axes_of = [_Axis(results, name, trials) for name in names]
    values = [v for _, v in scored]
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    norm = Normalize(low, high) if high > low else Normalize(low - 1, high + 1)
    colours = colormaps["viridis_r" if results.direction_of(metric) == "min" else "viridis"]
    lines = []
    for trial, value in scored:
        points = [(i, axis.position(trial.values[axis.name]))
                  for i, axis in enumerate(axes_of) if axis.name in trial.values]
        points.append((len(axes_of), (value - low) / spread))
        lines.append(points)
    axes = figure.add_subplot()
    collection = LineCollection(lines, colors=colours(norm(values)), linewidths=1.4, alpha=0.8)
    axes.add_collection(collection)
    for i, axis in enumerate(axes_of):
        axes.axvline(i, color="black", linewidth=0.8)
        for position, label in axis.ticks():
            axes.text(i + 0.03, position, label, fontsize=8, va="center")
    axes.axvline(len(axes_of), color="black", linewidth=0.8)
    for i in range(5):
        axes.text(len(axes_of) + 0.03, i / 4, f"{low + spread * i / 4:.3g}", fontsize=8,
                  va="center")
    axes.set_xticks(range(len(axes_of) + 1), [a.name for a in axes_of] + [what])
    axes.set_xlim(-0.1, len(axes_of) + 0.4)
    axes.set_ylim(-0.05, 1.05)
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    figure.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=axes, label=what)
    axes.set_title(f"{results.project}: {len(scored)} completed trials")
    return figure


def plot_slice(source: Any = None, *, storage: Any = None, project: str | None = None,
               params: list[str] | None = None, metric: str | None = None):
    """One panel per hyperparameter: the score of each completed trial against its value.

    A log-scaled hyperparameter has a log axis; a choice's values are spread
    along its axis (a little jitter keeps equal points apart). A trial where
    the hyperparameter was inactive is left out of its panel. The colour is
    the trial's number, so the panels show where the search went with time.

    Args:
        source, storage, project: The search (see `read_results`).
        params: The hyperparameters to show (None: all).
        metric: Show this metric instead of the objective's score.
    """
    results = read_results(source, storage=storage, project=project)
    names = results.check_hyperparameters(params)
    metric = results.check_metric(metric)
    columns = min(len(names), 3) or 1
    rows = math.ceil(len(names) / columns) or 1
    figure, scored = _figure(4.0 * columns, 3.4 * rows), _scored(results, metric)
    what = _what(results, metric)
    if not scored or not names:
        return _message(figure, f"No completed trials with a {what} yet." if not scored
                        else "The search has no hyperparameters.")
    import numpy as np

    jitter = np.random.default_rng(0)
    trials = [t for t, _ in scored]
    last = max(t.number for t in trials) or 1
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        axis = _Axis(results, name, trials)
        active = [(t, v) for t, v in scored if name in t.values]
        if axis.categories is not None:
            xs = [axis.categories.index(t.values[name]) if t.values[name] in axis.categories
                  else 0 for t, _ in active]
            xs = list(np.asarray(xs, dtype=float) + jitter.uniform(-0.12, 0.12, len(xs)))
            axes.set_xticks(range(len(axis.categories)), [str(c) for c in axis.categories])
        else:
            xs = [t.values[name] for t, _ in active]
            if axis.log:
                axes.set_xscale("log")
        points = axes.scatter(xs, [v for _, v in active], c=[t.number for t, _ in active],
                              cmap="viridis", vmin=0, vmax=last, s=22)
        inactive = len(scored) - len(active)
        axes.set_xlabel(name + (f" (inactive in {inactive})" if inactive else ""))
        if index % columns == 0:
            axes.set_ylabel(what)
        axes.grid(alpha=0.3)
    figure.colorbar(points, ax=figure.axes, label="trial number")
    figure.suptitle(f"{results.project}: {len(scored)} completed trials")
    return figure


#: The plots by the name the CLI and the dashboard give them.
PLOTS: dict[str, Callable[..., Any]] = {
    "history": plot_history,
    "importance": plot_importance,
    "parallel": plot_parallel_coordinates,
    "slice": plot_slice,
}


def plot(kind: str, source: Any = None, **options: Any):
    """The plot `kind` ("history", "importance", "parallel" or "slice") of a search.

    `options` are the plot function's arguments (`params=` is not taken by
    "history").
    """
    if kind not in PLOTS:
        raise ValueError(f"Unknown plot {kind!r}; the plots are {', '.join(PLOTS)}.")
    if kind == "history":
        options.pop("params", None)
    return PLOTS[kind](source, **options)


def figure_png(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
