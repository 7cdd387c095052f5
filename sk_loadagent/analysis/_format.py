"""How analysis spells numbers in reasons and artifacts, in one place so every message reads the same."""

from __future__ import annotations

import math


def signed_pct(delta: float) -> str:
    """A relative change as the spec writes it: ``0.35`` -> ``"+35%"``, ``-0.031`` -> ``"-3%"``."""
    value = round(delta * 100)
    return f"{value:+d}%" if value != 0 else "+0%"


def signed_pct_spaced(delta: float) -> str:
    """The same change as a person writes it in a sentence: ``0.62`` -> ``"+62 %"``."""
    return signed_pct(delta)[:-1] + " %"


def signed_pp(delta: float) -> str:
    """An absolute change of a rate in percentage points: ``0.012`` -> ``"+1.2pp"``."""
    value = round(delta * 100, 1)
    return f"{value:+.1f}pp" if value != 0 else "+0.0pp"


def pct(rate: float) -> str:
    """A rate as a percentage with the precision a person reads: ``0.025`` -> ``"2.5 %"``."""
    value = rate * 100
    if value == 0:
        return "0 %"
    if abs(value) < 0.1:
        return f"{value:.2g} %"
    return f"{value:.1f} %" if abs(value) < 10 else f"{value:.0f} %"


def ms(value: float) -> str:
    """Milliseconds without false precision: ``812.4`` -> ``"812 ms"``, ``3.14`` -> ``"3.1 ms"``."""
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms".replace(".0 ms", " ms")
    return f"{value:.2g} ms"


def number(value: float) -> str:
    """A plain figure (rps, MB, percent of a core) with at most one decimal."""
    if math.isclose(value, round(value)):
        return f"{round(value)}"
    return f"{value:.1f}"


def p_value(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"
