"""The `e2etune` command: look at a search (while it runs or after), or launch workers.

    e2etune summary PROJECT_DIR           counts, objective, best trials
    e2etune trials PROJECT_DIR --format csv
    e2etune best PROJECT_DIR -n 3         best values as JSON
    e2etune plot PROJECT_DIR --kind history --out history.png
    e2etune dashboard PROJECT_DIR         a local web page that refreshes
    e2etune launch ...                    start the workers of a distributed search

Every command but `launch` only reads the storage: it runs beside the
workers of a search, imports none of the user's code and no TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys
from typing import Any, Callable, Sequence

from e2etune.errors import SearchStateError
from e2etune.results import _format
from e2etune.results._errors import ResultsError
from e2etune.results._reader import SearchResults, read_results
from e2etune.results._source import DEFAULT_TIMEOUT

_STATUS_ORDER = ("COMPLETED", "RUNNING", "IDLE", "PRUNED", "STOPPED", "FAILED", "INVALID")
_PLOT_KINDS = ("history", "importance", "parallel", "slice")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default: `sys.argv[1:]`) and returns its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "launch":
        return _launch(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ResultsError, SearchStateError) as error:
        return _fail(args.command, str(error))
    except OSError as error:  # a file that cannot be written, a port taken
        return _fail(args.command, f"{error.strerror or error} ({error.filename or ''})"
                     if error.filename else str(error))
    except KeyboardInterrupt:
        return 130


def _fail(command: str, message: str) -> int:
    print(f"e2etune {command}: error: {message}", file=sys.stderr)
    return 1


def _launch(argv: list[str]) -> int:
    """`e2etune launch ...`: handed to the distributed launcher, imported only now."""
    try:
        launch = importlib.import_module("e2etune.distributed.launch")
    except ModuleNotFoundError as error:
        if error.name not in ("e2etune.distributed", "e2etune.distributed.launch"):
            raise
        return _fail("launch", "this installation of e2etune has no launcher "
                     "(the module e2etune.distributed.launch is missing); reinstall e2etune "
                     "with `pip install -e .` from a checkout that has it.")
    return int(launch.main(argv) or 0)


# The commands.

def _summary(args: argparse.Namespace) -> int:
    results = _read(args)
    counts = results.status_counts()
    ordered = sorted(counts, key=lambda s: (_STATUS_ORDER.index(s) if s in _STATUS_ORDER
                                            else len(_STATUS_ORDER), s))
    total = len(results.trials)
    lines = [
        f"Search:     {results.project} ({results.location})",
        f"Algorithm:  {results.oracle_class or 'unknown (no oracle state saved yet)'}",
        f"Objective:  {results.describe_objective()}",
        f"Trials:     {total}" + (": " + ", ".join(f"{counts[s]} {s}" for s in ordered)
                                  if total else ""),
    ]
    best = results.best_trials(args.num_trials)
    if best:
        lines += ["", f"Best {len(best)} trial{'s' if len(best) > 1 else ''}:",
                  _format.render_table(["rank"] + _format.table_header(results),
                                       [[str(i + 1)] + _format.table_row(results, t)
                                        for i, t in enumerate(best)])]
    else:
        lines += ["", "No completed trial yet."]
    print("\n".join(lines))
    return 0


def _trials(args: argparse.Namespace) -> int:
    results = _read(args)
    if args.format == "csv":
        sys.stdout.write(_format.to_csv(results))
    elif args.format == "json":
        records = [_format.trial_record(t) for t in results.trials]
        print(json.dumps(records, indent=2, allow_nan=False))
    else:
        print(_format.render_table(_format.table_header(results),
                                   [_format.table_row(results, t) for t in results.trials]))
    return 0


def _best(args: argparse.Namespace) -> int:
    results = _read(args)
    best = results.best_trials(args.num_trials or 1)
    if not best:
        return _fail("best", f"the search in {results.location} has no completed trial with a "
                     f"score yet ({len(results.trials)} trials so far).")
    values = [{k: _format.json_value(v) for k, v in t.values.items()} for t in best]
    print(json.dumps(values if args.num_trials else values[0], indent=2, allow_nan=False))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from e2etune.results import plots

    if args.kind == "history" and args.param:
        return _fail("plot", "--param does not apply to --kind history (it plots the score "
                     "of each trial); leave it out, or choose importance, parallel or slice.")
    out = pathlib.Path(args.out)
    if not out.parent.is_dir():
        return _fail("plot", f"cannot write {out}: the folder {out.parent} does not exist.")
    results = _read(args)
    options: dict[str, Any] = {"metric": args.metric}
    if args.kind != "history":
        options["params"] = args.param
    figure = plots.plot(args.kind, results, **options)
    figure.savefig(out)
    print(f"Wrote the {args.kind} plot of {len(results.trials)} trials to {out}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from e2etune.results.dashboard import serve_dashboard

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"e2etune dashboard: warning: listening on {args.host}: other machines can read "
              "the page (it is read-only).", file=sys.stderr)
    try:
        serve_dashboard(args.project_dir, storage=args.storage, project=args.project,
                        host=args.host, port=args.port, refresh=args.refresh)
    except ResultsError:
        raise
    except OSError as error:
        if error.filename:
            raise
        return _fail("dashboard", f"cannot listen on {args.host}:{args.port} "
                     f"({error.strerror or error}): choose another `--port`.")
    return 0


def _read(args: argparse.Namespace) -> SearchResults:
    return read_results(args.project_dir, storage=args.storage, project=args.project,
                        timeout=args.timeout)


# The parser.

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="e2etune", description="Look at an e2etune search, while it runs or after it "
        "ended (the commands only read it), or launch the workers of a distributed search.",
        epilog="e2etune launch ... starts the workers of a distributed search "
        "(`e2etune launch --help`).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summary = _command(commands, "summary", _summary, "trial counts, the objective and the "
                       "best trials")
    summary.add_argument("-n", "--num-trials", type=_positive, default=5,
                         help="how many best trials to show (default 5)")
    trials = _command(commands, "trials", _trials, "one row per trial: id, status, score, "
                      "hyperparameters, metrics")
    trials.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format (default table)")
    best = _command(commands, "best", _best, "the best hyperparameter values as JSON")
    best.add_argument("-n", "--num-trials", type=_positive, default=None,
                      help="print a list of the K best trials' values (default: the best "
                      "trial's values as one object)")
    plot = _command(commands, "plot", _plot, "draw a plot of the search to a file")
    plot.add_argument("--kind", choices=_PLOT_KINDS, required=True,
                      help="history: score per trial; importance: hyperparameter importance; "
                      "parallel: parallel coordinates; slice: score against each value")
    plot.add_argument("--out", required=True, metavar="FILE",
                      help="the image file to write (.png, .svg, .pdf)")
    plot.add_argument("--param", action="append", metavar="NAME",
                      help="a hyperparameter to show (repeat it; default: all)")
    plot.add_argument("--metric", metavar="NAME",
                      help="plot this metric instead of the objective's score")
    dashboard = _command(commands, "dashboard", _dashboard,
                         "a local read-only web page of the search that refreshes as it runs")
    dashboard.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1: this machine only)")
    dashboard.add_argument("--refresh", type=float, default=3.0,
                           help="seconds between refreshes of the page (default 3)")
    commands.add_parser("launch", help="start the workers of a distributed search")
    return parser


def _command(commands: Any, name: str, run: Callable[[argparse.Namespace], int],
             help: str) -> argparse.ArgumentParser:  # noqa: A002
    parser = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    parser.add_argument("project_dir", nargs="?", metavar="PROJECT_DIR",
                        help="the search's folder (`<directory>/<project_name>`, holding "
                        "search.db), or the `directory` holding it")
    parser.add_argument("--storage", metavar="URL",
                        help="the storage URL instead of a folder (default: E2ETUNE_STORAGE)")
    parser.add_argument("--project", metavar="NAME",
                        help="the project's name in the storage, or its folder under PROJECT_DIR")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for a storage that another process holds "
                        f"locked (default {DEFAULT_TIMEOUT:g})")
    parser.set_defaults(run=run)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number; got {text!r}")
    return value
