"""The trials of a search as a pandas DataFrame (pandas is imported only when asked for)."""

from __future__ import annotations

from typing import Any

from e2etune.results._errors import require
from e2etune.results._format import flat_columns, flat_rows
from e2etune.results._reader import read_results


def trials_dataframe(source: Any = None, *, storage: Any = None,
                     project: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """The trials of a search, one row each, in creation order.

    Columns: `trial_id`, `number` (creation order), `status`, `score`,
    `best_step`, then `hp/<name>` for each hyperparameter (missing where it
    was inactive) and `metric/<name>` for each metric (its value at the
    trial's best step).

    Args:
        source: A project folder (`<directory>/<project_name>`), a tuner or
            an oracle, or `SearchResults`; None with `storage` and `project`.
        storage: A storage URL or `BaseStorage`, with `project`.
        project: The project's name in the storage.

    Raises:
        MissingDependencyError: without pandas (`pip install pandas`).
        NoSearchError: when there is no search there.

    Example:
        >>> df = trials_dataframe("results/my_search")  # doctest: +SKIP
        >>> df[df.status == "COMPLETED"].sort_values("score").head()  # doctest: +SKIP
    """
    pandas = require("pandas", "A DataFrame of the trials")
    results = read_results(source, storage=storage, project=project)
    frame = pandas.DataFrame(flat_rows(results), columns=flat_columns(results))
    return frame.astype({"score": "float64"})
