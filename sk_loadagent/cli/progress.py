"""Live progress on the terminal while a test runs: elapsed/remaining, rps, p95, errors."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sk_loadagent.engine import Progress


def _bar(done: float, width: int = 20) -> str:
    filled = max(0, min(width, round(done * width)))
    return "#" * filled + "-" * (width - filled)


def format_progress(label: str, p: Progress) -> str:
    total = p.elapsed + p.remaining
    done = p.elapsed / total if total > 0 else 1.0
    p95 = f"{p.p95_ms:7.2f} ms" if p.p95_ms is not None else "      - ms"
    late = f"  late {p.late_starts}" if p.late_starts else ""
    return (
        f"{label[:32]:<32} [{_bar(done)}] {p.elapsed:6.1f}s/{total:.0f}s  {p.phase:<9} "
        f"rps {p.rps:8.1f}  p95 {p95}  errors {p.errors}{late}"
    )


class ProgressPrinter:
    """On a terminal one line is redrawn in place; elsewhere (CI logs) a line is printed every few seconds."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self._last_print = 0.0
        self._label: str | None = None

    def __call__(self, label: str, progress: Progress) -> None:
        line = format_progress(label, progress)
        if self.tty:
            if self._label is not None and label != self._label:
                self.stream.write("\n")
            self.stream.write("\r" + line)
        else:
            now = time.monotonic()
            finished = progress.remaining <= 0
            if label == self._label and not finished and now - self._last_print < self.interval:
                return
            self._last_print = now
            self.stream.write(line + "\n")
        self._label = label
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._label is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._label = None
