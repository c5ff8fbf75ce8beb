"""A local, read-only web page of a search that refreshes as the search runs.

Served by the standard library's `http.server` on the loopback address by
default. The page polls `/api/search.json` every few seconds (the reader
asks the storage only for what changed) and shows the trials table, the
best trial and the plots, drawn by matplotlib as PNG on the same server
(the page says so when matplotlib is missing). Nothing is ever written.
"""

from __future__ import annotations

import html
import json
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from e2etune.errors import SearchStateError
from e2etune.results import _format
from e2etune.results._errors import ResultsError
from e2etune.results._page import PAGE
from e2etune.results._reader import SearchReader, SearchResults, open_reader

#: The default port of the dashboard.
DEFAULT_PORT = 8765
#: The plots the page shows, in order.
PAGE_PLOTS = ("history", "importance", "parallel", "slice")


def _plotting_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


class DashboardServer(ThreadingHTTPServer):
    """The dashboard's HTTP server: `serve_forever()` to run, `shutdown()` to stop.

    Args:
        reader: The search to show.
        host: The address to listen on.
        port: The port (0: any free one; `url` says which).
        refresh: Seconds between two refreshes of the page.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reader: SearchReader, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, refresh: float = 3.0) -> None:
        self.reader = reader
        self.refresh = refresh
        self.plotting = _plotting_available()
        self._plot_lock = threading.Lock()
        self._plots: dict[str, tuple[int, bytes]] = {}
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def page(self) -> bytes:
        """The HTML page."""
        title = html.escape(f"{self.reader.project} - e2etune search")
        return (PAGE.replace("__TITLE__", title)
                .replace("__REFRESH_MS__", str(int(self.refresh * 1000))).encode())

    def snapshot(self) -> dict[str, Any]:
        """What `/api/search.json` answers: the summary, the columns and rows, the best trial."""
        results = self.reader.results()
        best = results.best_trials(1)
        return {
            "project": results.project,
            "location": results.location,
            "objective": results.describe_objective(),
            "direction": results.direction,
            "revision": results.revision,
            "counts": results.status_counts(),
            "columns": _format.table_header(results),
            "trials": [_format.table_row(results, t) for t in results.trials],
            "best": _format.trial_record(best[0]) if best else None,
            "plots": list(PAGE_PLOTS),
            "plotting": self.plotting,
        }

    def plot_png(self, kind: str) -> bytes:
        """The PNG of plot `kind` for the search as saved now (drawn once per revision)."""
        from e2etune.results import plots

        results: SearchResults = self.reader.results()
        with self._plot_lock:  # matplotlib draws one figure at a time here
            cached = self._plots.get(kind)
            if cached is not None and cached[0] == results.revision:
                return cached[1]
            png = plots.figure_png(plots.plot(kind, results))
            self._plots[kind] = (results.revision, png)
            return png

    def server_close(self) -> None:
        super().server_close()
        self.reader.close()


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.server.page())
            elif path == "/api/search.json":
                body = json.dumps(self.server.snapshot(), allow_nan=False,
                                  default=str).encode()
                self._send(HTTPStatus.OK, "application/json", body)
            elif path.startswith("/plot/") and path.endswith(".png"):
                kind = path[len("/plot/"):-len(".png")]
                if kind not in PAGE_PLOTS or not self.server.plotting:
                    self._error(HTTPStatus.NOT_FOUND, f"No plot {kind!r}.")
                    return
                self._send(HTTPStatus.OK, "image/png", self.server.plot_png(kind))
            else:
                self._error(HTTPStatus.NOT_FOUND, f"Nothing at {path}.")
        except (ResultsError, SearchStateError) as error:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(error))

    def do_POST(self) -> None:  # noqa: N802
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "The dashboard is read-only.")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, "application/json", json.dumps({"error": message}).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; script-src 'unsafe-inline'; "
                         "style-src 'unsafe-inline'; img-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the page polls every few seconds


def make_dashboard(source: Any = None, *, storage: Any = None, project: str | None = None,
                   host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                   refresh: float = 3.0) -> DashboardServer:
    """A dashboard server of a search, listening but not yet serving.

    Args:
        source, storage, project: The search (see `read_results`).
        host: The address to listen on; the loopback address by default, so
            only this machine sees the page.
        port: The port; 0 for any free one. Defaults to 8765.
        refresh: Seconds between two refreshes of the page. Defaults to 3.

    Raises:
        NoSearchError: when there is no search there.
        OSError: when the port is taken.
    """
    reader = open_reader(source, storage=storage, project=project)
    try:
        reader.results()  # a damaged or locked search fails here, not in the page
        return DashboardServer(reader, host, port, refresh)
    except BaseException:
        reader.close()
        raise


def serve_dashboard(source: Any = None, *, storage: Any = None, project: str | None = None,
                    host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                    refresh: float = 3.0) -> None:
    """Serves the dashboard of a search until interrupted (Ctrl-C); see `make_dashboard`."""
    server = make_dashboard(source, storage=storage, project=project, host=host, port=port,
                            refresh=refresh)
    print(f"Dashboard of {server.reader.location} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
