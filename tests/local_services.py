"""The local services tests use (PostgreSQL, NATS, RabbitMQ, Redis), and what a test does when one is
missing: on a developer's machine it skips with the reason; under ``CI=true`` it fails, so a CI run can never
pass by skipping.

PostgreSQL is ``SK_LOADAGENT_TEST_POSTGRES`` (default: the local server, trust auth, database ``test``);
each test works in a schema of its own that is dropped afterwards. NATS is ``SK_LOADAGENT_TEST_NATS``
(default ``nats://127.0.0.1:4222``), RabbitMQ ``SK_LOADAGENT_TEST_AMQP`` (default the guest account on
127.0.0.1:5672), Redis ``SK_LOADAGENT_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``); tests use subjects,
queues and streams of their own and delete what they declared.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import NoReturn

import pytest

PG_URL = os.environ.get("SK_LOADAGENT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def service_missing(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _postgres_problem(url: str) -> str | None:
    """Why ``url`` cannot be used (checked once per session), or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'sk-loadagent[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {url}: {str(exc).strip().splitlines()[0]}"
    return None


def postgres_server(url: str = PG_URL) -> str:
    """The server URL, or a skip (a failure under CI=true) saying why there is none."""
    problem = _postgres_problem(url)
    if problem is not None:
        service_missing(problem)
    return url


def new_schema(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def schema_url(server: str, schema: str) -> str:
    """The store URL of ``schema`` on ``server`` (the store creates the schema)."""
    return f"{server}{'&' if '?' in server else '?'}schema={schema}"


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


NATS_URL = os.environ.get("SK_LOADAGENT_TEST_NATS", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("SK_LOADAGENT_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


@functools.cache
def _listening_problem(url: str, what: str) -> str | None:
    """Why nothing accepts connections at ``url``'s host and port (checked once per session), or None."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=3):
            return None
    except OSError as exc:
        return f"{what} is not reachable at {parts.hostname}:{parts.port}: {exc.strerror or exc}"


def nats_server(url: str = NATS_URL) -> str:
    """The NATS URL, or a skip (a failure under CI=true) saying why there is none."""
    problem = _listening_problem(url, "NATS")
    if problem is not None:
        service_missing(problem)
    return url


def rabbitmq_server(url: str = AMQP_URL) -> str:
    """The RabbitMQ URL, or a skip (a failure under CI=true) saying why there is none."""
    problem = _listening_problem(url, "RabbitMQ")
    if problem is not None:
        service_missing(problem)
    return url


REDIS_URL = os.environ.get("SK_LOADAGENT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_server(url: str = REDIS_URL) -> str:
    """The Redis URL, or a skip (a failure under CI=true) saying why there is none."""
    problem = _listening_problem(url, "Redis")
    if problem is not None:
        service_missing(problem)
    return url
