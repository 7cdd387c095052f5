"""--cap NAME=VALUE: the values it accepts, the exact message for each it refuses, and how caps describe
themselves in messages."""

from __future__ import annotations

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models.caps import GIB, MIB, Caps, format_cap, format_size, parse_cap


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        ("memory=8GiB", "memory", 8 * GIB),
        ("memory=512MiB", "memory", 512 * MIB),
        ("memory=2GB", "memory", 2e9),
        ("body=1e6", "body", 1e6),
        ("file=1024", "file", 1024),
        ("connections=50000", "connections", 50000),
        ("connections=50_000", "connections", 50000),
        ("values=1e7", "values", 1e7),
        ("duration=48h", "duration", 48 * 3600.0),
        ("duration=90m", "duration", 5400.0),
        ("Memory = off", "memory", None),
    ],
)
def test_accepted_values(text: str, name: str, value: float | None) -> None:
    assert parse_cap(text) == (name, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rps=100",
            "--cap: rps: expected a cap name: memory, connections, duration, body, values or file (rps is "
            "bounded by the memory cap, which bounds the backlog and samples a rate needs), got 'rps=100'",
        ),
        (
            "vus=10",
            "--cap: vus: expected a cap name: memory, connections, duration, body, values or file (vus is "
            "bounded by the connections cap (one connection per VU) and the memory cap), got 'vus=10'",
        ),
        (
            "=5",
            "--cap: NAME: expected a cap name: memory, connections, duration, body, values or file, got '=5'",
        ),
        (
            "memory",
            "--cap: memory: expected a size such as 512MiB, 8GiB or a number of bytes, or off, got 'memory'",
        ),
        (
            "memory=lots",
            "--cap: memory: expected a size such as 512MiB, 8GiB or a number of bytes, or off, got 'lots'",
        ),
        (
            "memory=-1GiB",
            "--cap: memory: expected a size such as 512MiB, 8GiB or a number of bytes, or off, got '-1GiB'",
        ),
        (
            "connections=1.5",
            "--cap: connections: expected a whole number such as 50000 or 1e6, or off, got '1.5'",
        ),
        (
            "connections=0",
            "--cap: connections: expected a whole number such as 50000 or 1e6, or off, got '0'",
        ),
        ("duration=forever", "--cap: duration: expected a duration such as 48h, or off, got 'forever'"),
    ],
)
def test_refused_values_name_the_cap_and_what_it_takes(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_cap(text)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_overrides_replace_a_value_and_say_where_it_came_from() -> None:
    caps = Caps(
        memory=4 * GIB, connections=1000, why={"memory": "half of the 8 GiB this machine has available"}
    )
    changed = caps.with_overrides({"memory": 16 * GIB, "duration": None})
    assert (changed.memory, changed.duration, changed.connections) == (16 * GIB, None, 1000)
    assert changed.explain("memory") == "the memory cap: set with --cap; --cap memory=SIZE changes it"
    assert (
        changed.explain("duration") == "the duration cap: off, with --cap; --cap duration=DURATION changes it"
    )
    assert caps.explain("memory") == (
        "the memory cap: half of the 8 GiB this machine has available; --cap memory=SIZE changes it"
    )


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(512, "512 B"), (16 * MIB, "16 MiB"), (int(11.24 * GIB), "11.2 GiB"), (2**41, "2 TiB")],
)
def test_sizes_read_in_binary_units(nbytes: int, text: str) -> None:
    assert format_size(nbytes) == text


def test_caps_format_by_kind() -> None:
    assert [format_cap("duration", 86400.0), format_cap("values", 1e6), format_cap("body", None)] == [
        "24h",
        "1,000,000",
        "off",
    ]
