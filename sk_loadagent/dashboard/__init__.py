"""The Studio dashboard over memory (``sk-loadagent dashboard``) and the live view of a running suite
(``sk-loadagent run --dashboard``), on Starlette and uvicorn (extra ``dashboard``).

The dashboard draws the report's own view models (``publish.report.views``) per stored series: tiles
grouped and filtered by edition, module and test type, each series' score and p95 across builds with its
change points, the latest run of each edition side by side, a retry heatmap, and any stored run's
report.html. Pages load nothing from elsewhere; every figure comes from the store.
"""

from sk_loadagent.dashboard._app import StoreAccess, create_app
from sk_loadagent.dashboard._build import TILE_RUNS, TREND_RUNS, key_of_token, series_token
from sk_loadagent.dashboard._live import LiveFeed, LiveServer, live_app
from sk_loadagent.dashboard._views import Overview, SeriesPage, SeriesTile

__all__ = [
    "TILE_RUNS",
    "TREND_RUNS",
    "LiveFeed",
    "LiveServer",
    "Overview",
    "SeriesPage",
    "SeriesTile",
    "StoreAccess",
    "create_app",
    "key_of_token",
    "live_app",
    "series_token",
]
