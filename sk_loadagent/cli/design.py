"""``sk-loadagent design``: a test-suite plan from an OpenAPI document and service metadata, no LLM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sk_loadagent.errors import InputError
from sk_loadagent.models.plan import TEST_TYPES

if TYPE_CHECKING:
    from sk_loadagent.agent.designer import DesignedSuite
    from sk_loadagent.memory import MemoryStore

# The parser is built for every command: what only this command needs is imported when it runs.


def add_design_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--openapi", required=True, metavar="F", help="the service's OpenAPI 3 document")
    p.add_argument("--metadata", required=True, metavar="M", help="service.metadata.yaml")
    p.add_argument("--editions", metavar="E", help="edition.config.json (tier, traffic model, SLOs)")
    p.add_argument(
        "--edition", metavar="ID", help="edition to design for (default: the first one the metadata lists)"
    )
    p.add_argument("--annotations", metavar="A", help="studio.annotation.yaml (run: [soak] adds a soak)")
    p.add_argument(
        "--memory", metavar="URL", help="memory store to take rates from (baseline, breaking point)"
    )
    p.add_argument(
        "--test-type",
        action="append",
        choices=[t for t in TEST_TYPES if t != "custom"],
        metavar="T",
        help="test types to design instead of the edition tier's (repeatable)",
    )
    p.add_argument(
        "-o", "--out", default="test-suite.plan.yaml", metavar="PLAN", help="where to write the plan"
    )
    p.add_argument(
        "--thresholds-out", metavar="T", help="also write perf-thresholds.yaml from the edition's SLOs"
    )
    p.add_argument("--force", action="store_true", help="replace files that already exist")


def _target(path: str, option: str, force: bool) -> Path:
    target = Path(path)
    if target.is_dir():
        raise InputError.single(option, path, "a file path", "a directory")
    if target.exists() and not force:
        raise InputError.single(
            option, path, "a path with no file yet (--force replaces it)", "an existing file"
        )
    return target


def design_from_args(args: argparse.Namespace, store: MemoryStore | None) -> DesignedSuite:
    """Design from the files the command line names (``design`` and ``agent``'s fallback)."""
    from sk_loadagent.agent.designer import design_from_files

    return design_from_files(
        args.openapi,
        args.metadata,
        editions=args.editions,
        edition_id=args.edition,
        annotations=args.annotations,
        store=store,
        test_types=getattr(args, "test_type", None),
    )


def design_command(args: argparse.Namespace) -> int:
    from sk_loadagent.atomic import write_atomic
    from sk_loadagent.memory import open_store

    plan_path = _target(args.out, "--out", args.force)
    thresholds_path = (
        _target(args.thresholds_out, "--thresholds-out", args.force) if args.thresholds_out else None
    )
    store = open_store(args.memory, create=False) if args.memory else None
    try:
        suite = design_from_args(args, store)
    finally:
        if store is not None:
            store.close()
    thresholds = suite.thresholds_yaml()
    if thresholds_path is not None and thresholds is None:
        raise InputError.single(
            "--thresholds-out",
            args.thresholds_out,
            "an edition with slos in --editions to take the limits from",
            "no SLOs for the edition",
        )
    write_atomic(plan_path, suite.to_yaml())
    plan = suite.plan
    print(f"Wrote {plan_path}: {len(plan.tests)} test(s) for {plan.module_id} / {plan.edition_id or '-'}")
    for designed in suite.tests:
        print(f"  {designed.test.label()}: {designed.test.method} {designed.test.endpoint}")
    for item in suite.left_out:
        print(f"  left out: {item}")
    if thresholds_path is not None and thresholds is not None:
        write_atomic(thresholds_path, thresholds)
        print(f"Wrote {thresholds_path}: the SLOs of edition {plan.edition_id}")
    sys.stdout.flush()
    return 0
