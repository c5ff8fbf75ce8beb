"""The plots: figures drawn from a real search, saved as PNG and decoded again."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402

from _search import make_tuner  # noqa: E402
from e2etune.results import (  # noqa: E402
    UnknownNameError,
    plot_history,
    plot_importance,
    plot_parallel_coordinates,
    plot_slice,
    read_results,
)
from e2etune.results.plots import HISTORY_POINTS, PLOTS, figure_png, plot  # noqa: E402


def decoded(figure, tmp_path, name: str) -> np.ndarray:
    path = tmp_path / f"{name}.png"
    path.write_bytes(figure_png(figure))
    return matplotlib.image.imread(path)


def assert_drawn(image: np.ndarray, width: int, height: int) -> None:
    assert image.shape[:2] == (height, width)
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.std(axis=0).max() > 0.05, "the image is uniform"
    dark = (pixels.sum(axis=1) < 1.5).mean()
    assert 0.001 < dark < 0.5, f"{dark:.1%} of the pixels are dark"


def history_points(figure) -> int:
    collections = [c for ax in figure.axes for c in ax.collections if c.get_gid() == HISTORY_POINTS]
    assert len(collections) == 1
    return len(collections[0].get_offsets())


@pytest.mark.parametrize("kind", list(PLOTS))
def test_every_plot_of_a_finished_search_is_a_drawn_png(finished, tmp_path, kind):
    figure = plot(kind, finished)
    width, height = (int(round(v * figure.dpi)) for v in figure.get_size_inches())
    assert_drawn(decoded(figure, tmp_path, kind), width, height)


def test_the_history_has_one_point_per_completed_trial(finished, tmp_path):
    results = read_results(finished)
    completed = [t for t in results.trials if t.status == "COMPLETED"]
    figure = plot_history(finished)
    assert history_points(figure) == len(completed) == 11
    offsets = [c for c in figure.axes[0].collections if c.get_gid() == HISTORY_POINTS][0]
    assert sorted(offsets.get_offsets()[:, 1]) == sorted(t.score for t in completed)
    assert_drawn(decoded(figure, tmp_path, "history"), 800, 500)
    by_metric = plot_history(finished, metric="val_accuracy")
    assert history_points(by_metric) == 11
    assert by_metric.axes[0].get_ylabel() == "val_accuracy"


def test_the_panels_and_axes_follow_the_params(finished):
    assert len(plot_slice(finished, params=["lr", "optimizer"]).axes) == 2 + 1  # + colorbar
    assert plot_slice(finished, params=["lr"]).axes[0].get_xscale() == "log"
    parallel = plot_parallel_coordinates(finished, params=["units", "lr"])
    labels = [t.get_text() for t in parallel.axes[0].get_xticklabels()]
    assert labels == ["units", "lr", "val_loss"]
    assert len(parallel.axes[0].collections[0].get_segments()) == 11
    bars = plot_importance(finished, params=["lr", "units"]).axes[0].patches
    assert len(bars) == 2


@pytest.mark.parametrize("function", [plot_importance, plot_parallel_coordinates, plot_slice])
def test_unknown_params_and_metrics_are_named(finished, function):
    with pytest.raises(UnknownNameError, match=r"Unknown hyperparameter 'nope'.*'lr'"):
        function(finished, params=["nope"])
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'nope'.*'val_loss'"):
        function(finished, metric="nope")


@pytest.mark.parametrize("kind", list(PLOTS))
def test_a_search_without_completed_trials_gives_a_figure_that_says_so(tmp_path, kind):
    make_tuner(tmp_path, max_trials=3).oracle.close()
    figure = plot(kind, tmp_path / "search")
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("completed trials" in t for t in texts), texts
