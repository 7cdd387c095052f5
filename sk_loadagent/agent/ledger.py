"""The events the listener has handled, by eventId, kept in a JSON file so that a redelivered event (or one
sent twice) causes one run, across restarts too. Written atomically after each event; the newest
``capacity`` ids are kept. A file that is not a ledger is refused, never overwritten."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sk_loadagent.atomic import write_atomic
from sk_loadagent.errors import InputError

LEDGER_VERSION = 1


class EventLedger:
    def __init__(self, path: str | Path, capacity: int = 10_000) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._events: OrderedDict[str, dict[str, Any]] = OrderedDict()
        if self.path.exists():
            self._events.update(self._read())

    def _read(self) -> dict[str, dict[str, Any]]:
        source = str(self.path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError.single(source, "", "an event ledger (JSON) or no file", str(exc)) from None
        if (
            not isinstance(data, dict)
            or data.get("version") != LEDGER_VERSION
            or not isinstance(data.get("events"), dict)
        ):
            raise InputError.single(
                source, "version", f"an event ledger of version {LEDGER_VERSION}", "another file"
            )
        return dict(data["events"])

    def handled(self, event_id: str) -> dict[str, Any] | None:
        """What handling ``event_id`` came to, or None if it never was."""
        return self._events.get(event_id)

    def record(self, event_id: str, outcome: dict[str, Any]) -> None:
        self._events[event_id] = {**outcome, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        self._events.move_to_end(event_id)
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps({"version": LEDGER_VERSION, "events": self._events}, indent=1))
