"""Trials as columns and records: the shared shape of the text table, CSV, JSON and DataFrame."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterable, Sequence

from e2etune.results._reader import SearchResults, TrialRow

#: The columns every trial has, before its hyperparameters and metrics.
BASE_COLUMNS = ("trial_id", "number", "status", "score", "best_step")
#: The prefixes of the hyperparameter and metric columns of the CSV and the DataFrame.
HP_PREFIX, METRIC_PREFIX = "hp/", "metric/"


def json_value(value: Any) -> Any:
    """`value` as strict JSON allows it: a NaN or an infinity becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def trial_record(trial: TrialRow) -> dict[str, Any]:
    """One trial as a JSON object: id, number, status, score, best step, values, metrics."""
    return {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "status": trial.status,
        "score": json_value(trial.score),
        "best_step": trial.best_step,
        "hyperparameters": {k: json_value(v) for k, v in trial.values.items()},
        "metrics": {k: json_value(v) for k, v in trial.metrics.items()},
        "message": trial.message,
    }


def flat_columns(results: SearchResults) -> list[str]:
    """The columns of the CSV and the DataFrame: base, `hp/<name>`, then `metric/<name>`."""
    return (list(BASE_COLUMNS) + [HP_PREFIX + n for n in results.hyperparameter_names()]
            + [METRIC_PREFIX + n for n in results.metric_names()])


def flat_rows(results: SearchResults) -> list[list[Any]]:
    """One list per trial, in the order of `flat_columns` (None where a trial has no value)."""
    names, metrics = results.hyperparameter_names(), results.metric_names()
    return [[t.trial_id, t.number, t.status, t.score, t.best_step]
            + [t.values.get(n) for n in names] + [t.metrics.get(n) for n in metrics]
            for t in results.trials]


def to_csv(results: SearchResults) -> str:
    """The trials as CSV, with a header line; an empty field where a trial has no value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(flat_columns(results))
    for row in flat_rows(results):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                         for v in row])
    return buffer.getvalue()


def cell(value: Any) -> str:
    """A value as a table shows it: floats to 6 significant digits, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_header(results: SearchResults) -> list[str]:
    """The columns of the text table (plain names: the metrics and hyperparameters as named)."""
    return ["trial", "status", "score"] + results.hyperparameter_names() + results.metric_names()


def table_row(results: SearchResults, trial: TrialRow) -> list[str]:
    """One trial in the text table's columns."""
    return ([trial.trial_id, trial.status, cell(trial.score)]
            + [cell(trial.values.get(n)) for n in results.hyperparameter_names()]
            + [cell(trial.metrics.get(n)) for n in results.metric_names()])


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns aligned with two spaces between them, a rule under the header."""
    rows = [list(map(str, row)) for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
