"""Printing for the judgement benchmark: unbuffered lines and the few number spellings the tables share."""

from __future__ import annotations

import sys


def say(text: str = "") -> None:
    """One line on stdout, flushed at once so a long run shows its progress."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def clock(seconds: float) -> str:
    """``437.2`` → ``7m17s``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
