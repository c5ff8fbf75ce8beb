"""Results of a search, read from its storage while it runs or after: tables, plots, a dashboard.

Everything here only reads the storage, in read transactions: it is safe
beside running workers, needs none of the user's code, and never imports
TensorFlow. pandas and matplotlib are imported only by the functions that
need them.

Each function takes the search as a project folder (`<directory>/<project_name>`,
the folder holding `search.db`; or the `directory` holding one search), a
tuner or oracle, or `storage=` (a URL or `BaseStorage`) with `project=`.

Example:
    >>> from e2etune import results
    >>> results.trials_dataframe("results/my_search")  # doctest: +SKIP
    >>> results.plot_history("results/my_search").savefig("history.png")  # doctest: +SKIP
    >>> results.hyperparameter_importance("results/my_search")  # doctest: +SKIP
"""

from e2etune.results._errors import (
    MissingDependencyError,
    NoSearchError,
    NotEnoughTrialsError,
    ResultsError,
    StorageBusyError,
    UnknownNameError,
)
from e2etune.results._reader import SearchResults, TrialRow, read_results
from e2etune.results.dashboard import make_dashboard, serve_dashboard
from e2etune.results.dataframe import trials_dataframe
from e2etune.results.importance import hyperparameter_importance
from e2etune.results.plots import (
    plot_history,
    plot_importance,
    plot_parallel_coordinates,
    plot_slice,
)

__all__ = [
    "MissingDependencyError",
    "NoSearchError",
    "NotEnoughTrialsError",
    "ResultsError",
    "SearchResults",
    "StorageBusyError",
    "TrialRow",
    "UnknownNameError",
    "hyperparameter_importance",
    "make_dashboard",
    "plot_history",
    "plot_importance",
    "plot_parallel_coordinates",
    "plot_slice",
    "read_results",
    "serve_dashboard",
    "trials_dataframe",
]
