"""``open_store``: which store serves which URL, and what an unusable URL says."""

from __future__ import annotations

from pathlib import Path

import pytest

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory import ACCEPTED_FORMS, MemoryStore, open_store


def opened_url(url: str | Path) -> str:
    with open_store(url) as store:
        assert isinstance(store, MemoryStore)
        return store.url


def test_paths_and_urls_pick_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert opened_url(tmp_path / "a.json") == f"json://{tmp_path / 'a.json'}"
    assert opened_url(str(tmp_path / "b.JSON")) == f"json://{tmp_path / 'b.JSON'}"
    assert opened_url(f"json://{tmp_path / 'c.store'}") == f"json://{tmp_path / 'c.store'}"
    assert opened_url("json://rel/d.json") == f"json://{tmp_path / 'rel' / 'd.json'}"
    assert opened_url(tmp_path / "e.db") == f"sqlite://{tmp_path / 'e.db'}"
    assert opened_url(str(tmp_path / "f")) == f"sqlite://{tmp_path / 'f'}"
    assert (
        opened_url(f"sqlite://{tmp_path / 'g.json'}") == f"sqlite://{tmp_path / 'g.json'}"
    )  # the scheme wins
    assert opened_url("sqlite://rel/h.db") == f"sqlite://{tmp_path / 'rel' / 'h.db'}"
    assert opened_url("SQLITE://rel/i.db").startswith("sqlite:///")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://root:hunter2@127.0.0.1/perf",
            "mysql://root:***@127.0.0.1/perf: unknown memory store scheme 'mysql://'",
        ),
        ("file:///tmp/x.json", "file:///tmp/x.json: unknown memory store scheme 'file://'"),
        ("  ", "memory store: expected a path ending in .json"),
        ("json://", "json://: expected a file path after '://'"),
    ],
)
def test_unusable_urls_are_refused_with_the_accepted_forms(url: str, message: str) -> None:
    with pytest.raises(MemoryStoreError) as caught:
        open_store(url)
    assert str(caught.value).startswith(message)
    if "scheme" in message:
        assert str(caught.value).endswith(f"expected {ACCEPTED_FORMS}")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url", ["missing.db", "json://missing.store", "sqlite://missing.sqlite", "m.json"])
def test_a_reader_never_creates_a_store(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MemoryStoreError) as caught:
        open_store(url, create=False)
    assert str(caught.value) == f"{url}: no memory store there (nothing stored yet, or a mistyped path)"
    assert list(tmp_path.iterdir()) == []


def test_a_reader_opens_a_store_a_writer_created(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with open_store(path):
        pass
    with open_store(path, create=False) as store:
        assert store.find() == []
