"""The dashboard's pages and JSON over a Studio-like store (Starlette's TestClient, no browser): tiles,
filters, the attention list, editions side by side, the retry heatmap, a series across builds, a stored
run's report, and the states of an empty, missing or newer store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from dashboard_builders import fill_store
from starlette.testclient import TestClient

from sk_loadagent.dashboard import create_app, key_of_token, series_token
from sk_loadagent.memory import SeriesKey, open_store


def overview(client: TestClient, query: str = "") -> dict[str, Any]:
    answer = client.get(f"/api/overview{query}")
    assert answer.status_code == 200
    return dict(answer.json())


def tiles(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for group in page["groups"] for t in group["tiles"]]


def test_one_tile_per_stored_series_grouped_by_module_worst_first(client: TestClient) -> None:
    page = overview(client)

    assert page["series_total"] == 8
    assert [g["name"] for g in page["groups"]] == ["CheckoutService", "NotificationService"]
    assert all(len(g["tiles"]) == 4 for g in page["groups"])
    first = page["groups"][0]["tiles"][0]
    assert (first["edition_id"], first["test_type"], first["tile"]["status"]) == (
        "vetclinic-premium",
        "spike",
        "degraded",
    )
    assert first["tile"]["regression"] is True
    assert first["runs_shown"] == 12
    assert page["counts"] == {"degraded": 1, "pass": 7}
    html = client.get("/").text
    assert html.count('class="tile ') == 8
    assert "⚠ Regression detected" in html


def test_filters_by_edition_module_and_test_type_and_groups_by_edition(client: TestClient) -> None:
    premium = overview(client, "?edition=vetclinic-premium&group=edition")
    assert [g["name"] for g in premium["groups"]] == ["vetclinic-premium"]
    assert len(tiles(premium)) == 4

    spikes = overview(client, "?module=NotificationService&testType=spike")
    assert [(t["module_id"], t["test_type"]) for t in tiles(spikes)] == [("NotificationService", "spike")] * 2
    assert spikes["series_total"] == 8  # the choices still offer every value
    assert spikes["choices"]["test_types"] == ["load", "spike"]

    nothing = overview(client, "?module=NoSuchService")
    assert nothing["groups"] == []
    assert nothing["problem"] == "No stored series matches these filters."


def test_the_regressed_series_leads_the_attention_list_with_its_reason(client: TestClient) -> None:
    attention = overview(client)["attention"]

    assert len(attention) == 1
    assert attention[0]["module_id"] == "CheckoutService"
    assert "p95 latency ↑35% vs. baseline (810 ms vs 600 ms)" in attention[0]["tile"]["summary"]
    assert "Needs a look: 1 of 8 series" in client.get("/").text


def test_editions_side_by_side_with_each_ones_delta_and_deviation(client: TestClient) -> None:
    page = overview(client)
    rows = {(r["module_id"], r["test_type"]): r for r in page["editions"]}

    assert page["editions_shown"] == ["vetclinic", "vetclinic-premium"]
    assert len(rows) == 4
    spike = rows[("CheckoutService", "spike")]
    assert spike["base_edition"] == "vetclinic"
    cells = {c["edition"]: c for c in spike["cells"]}
    assert (cells["vetclinic-premium"]["delta_p95"], cells["vetclinic-premium"]["regressed"]) == (
        "+35%",
        True,
    )
    assert cells["vetclinic-premium"]["delta_fraction"] == pytest.approx(0.35)
    assert (cells["vetclinic"]["delta_p95"], cells["vetclinic"]["regressed"]) == ("+3%", False)
    assert cells["vetclinic-premium"]["deviation"] == "+0%"
    assert cells["vetclinic"]["deviation"] is None


def test_retry_heatmap_per_module_and_test_type(client: TestClient) -> None:
    heatmap = overview(client)["retry_heatmap"]

    assert (heatmap["rows"], heatmap["columns"]) == (
        ["CheckoutService", "NotificationService"],
        ["load", "spike"],
    )
    cells = {(heatmap["rows"][c["row"]], heatmap["columns"][c["column"]]): c for c in heatmap["cells"]}
    assert (cells[("CheckoutService", "spike")]["value"], cells[("CheckoutService", "spike")]["color"]) == (
        6,
        "red",
    )
    assert (
        cells[("NotificationService", "spike")]["color"],
        cells[("CheckoutService", "load")]["color"],
    ) == (
        "yellow",
        "yellow",
    )
    assert cells[("CheckoutService", "spike")]["label"] == (
        "CheckoutService spike: 6 retries in 6 of 24 runs (5 recovered, 1 escalated)"
    )


def test_a_series_shows_score_and_p95_across_builds_with_its_change_point(client: TestClient) -> None:
    key = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")
    token = next(t["token"] for t in tiles(overview(client)) if key_of_token(t["token"]) is not None
                 and key_of_token(t["token"]).scope == key)  # fmt: skip

    page = client.get(f"/api/series/{token}").json()

    assert [c["title"] for c in page["charts"]] == [
        "p95 across stored runs of the series",
        "Score across stored runs",
    ]
    p95 = page["charts"][0]
    assert [m["label"] for m in p95["marks"] if m["role"] == "change"] == ["change +25% (p=0.015)"]
    assert any(r["role"] == "baseline" for r in p95["rules"])
    assert len(page["runs"]) == 12
    assert page["runs"][0]["trace_id"] == "build-12"  # newest first
    assert page["change_points"][0].startswith("p95 27.51 → 34.50 ms (+25%")
    html = client.get(f"/series/{token}").text
    assert html.count("<svg") == 2
    assert "from run build-7" in html


def test_a_stored_runs_report_draws_its_history_up_to_that_run(client: TestClient) -> None:
    run_id = "CheckoutService-vetclinic-load-00004"

    report = client.get(f"/api/runs/{run_id}").json()
    html = client.get(f"/runs/{run_id}")

    history = report["tests"][0]["history"][0]
    assert len(history["lines"][0]["points"]) == 5  # builds 1 to 5: nothing stored after it
    assert report["tests"][0]["tile"]["title"] == "checkout-load"
    assert html.status_code == 200
    assert "checkout-load" in html.text
    token = series_token(SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit",
                                   report_profile(client, run_id)))  # fmt: skip
    assert f'<a href="/series/{token}">← this series in the dashboard</a>' in html.text


def report_profile(client: TestClient, run_id: str) -> str:
    return next(t["load_profile"] for t in tiles(overview(client)) if t["latest_run"].startswith(run_id[:-5]))


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/runs/no-such-run", "No stored run no-such-run with readable perf-metrics."),
        ("/series/not-a-token", "That is not a series id of this dashboard."),
        (f"/series/{series_token(SeriesKey('x', 'y'))}", "No stored run of the series module=y edition=x"),
        ("/no/such/page", "Nothing at /no/such/page on this dashboard."),
    ],
)
def test_what_is_not_there_is_a_404_page_saying_so(client: TestClient, path: str, says: str) -> None:
    answer = client.get(path)

    assert answer.status_code == 404
    assert says in answer.text


def test_every_page_allows_no_request_to_another_origin(client: TestClient) -> None:
    for path in ("/", "/api/overview", "/runs/CheckoutService-vetclinic-load-00004", "/favicon.ico"):
        policy = client.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert "http" not in policy


def test_an_empty_store_shows_the_empty_state(tmp_path: Path) -> None:
    open_store(tmp_path / "memory.sqlite").close()
    with TestClient(create_app(str(tmp_path / "memory.sqlite"))) as client:
        answer = client.get("/")

    assert answer.status_code == 200
    assert "No runs stored yet: run `sk-loadagent run --memory` with this store, then reload." in answer.text


def test_a_missing_store_shows_the_empty_state_until_runs_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite"
    with TestClient(create_app(str(path))) as client:
        before = client.get("/")
        assert not path.exists()  # the dashboard reads; it never creates a store
        with open_store(path) as store:
            fill_store(store, builds=2)
        after = overview(client)

    assert before.status_code == 200
    assert f"No memory store at {path} yet: nothing has been stored." in before.text
    assert len(tiles(after)) == 8


@pytest.mark.parametrize("kind", ["sqlite", "json"])
def test_a_store_written_by_a_newer_schema_says_so(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        path = tmp_path / "memory.sqlite"
        open_store(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = '9' WHERE key = 'schemaVersion'")
    else:
        path = tmp_path / "memory.json"
        path.write_text(json.dumps({"schemaVersion": 9, "runs": []}), encoding="utf-8")
    with TestClient(create_app(str(path))) as client:
        page = client.get("/")
        run = client.get("/runs/x")

    assert page.status_code == 200
    assert "This store was written by a newer sk-loadagent, so this one cannot read it" in page.text
    assert "schemaVersion: expected 4 or older (a newer sk-loadagent wrote this store" in page.text
    assert run.status_code == 503


@pytest.mark.parametrize("kind", ["json", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_json_and_postgres_stores_serve_what_sqlite_serves(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "memory.json") if kind == "json" else str(request.getfixturevalue("pg_url"))
    seen = []
    for where in (str(tmp_path / "memory.sqlite"), url):
        with open_store(where) as store:
            fill_store(store, builds=3)
        with TestClient(create_app(where)) as client:
            page = overview(client)
        seen.append([(t["token"], t["tile"]["status"], t["p95_trend"]) for t in tiles(page)])

    assert len(seen[0]) == 8
    assert seen[1] == seen[0]
