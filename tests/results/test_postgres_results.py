"""Reading a search saved in PostgreSQL: the Python functions and the command."""

from __future__ import annotations

import json

from _search import make_tuner
from e2etune.cli import main
from e2etune.results import read_results, trials_dataframe


def test_a_postgres_search_is_read_by_url_and_project(postgres, tmp_path, capsys):
    url = postgres.new_database()
    tuner = make_tuner(tmp_path, project="pg", max_trials=5, storage=url)
    tuner.search(verbose=0)
    results = read_results(storage=url, project="pg")
    assert [t.trial_id for t in results.trials] == list(tuner.oracle.trials)
    assert results.location.count("***") == 1 and postgres.password not in results.location
    assert len(read_results(tuner).trials) == 5  # through the tuner's own open storage
    tuner.oracle.close()
    assert len(trials_dataframe(storage=url, project="pg")) == 5
    assert main(["trials", "--storage", url, "--project", "pg", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
    assert main(["summary", "--storage", url]) == 0  # the only project
    out = capsys.readouterr().out
    assert "Trials:     5: 5 COMPLETED" in out and postgres.password not in out
