"""What `sk-loadagent run` does for CI (spec cycle 9) around the runs themselves: which editions run
(``--edition-override``), where the JUnit file goes (``--junit``), and the outputs after the gate: the JUnit
XML, the GitHub step summary and annotations, the Azure DevOps logging commands, and the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sk_loadagent.errors import InputError
from sk_loadagent.models.caps import Caps
from sk_loadagent.publish.ci import (
    ScopeResult,
    append_step_summary,
    azure_commands,
    ci_environment,
    github_annotations,
    step_summary,
    write_junit,
)
from sk_loadagent.publish.paths import safe_name


def junit_path(value: str | None) -> Path | None:
    """The --junit file, checked before any load is sent: not a folder, in a folder this run can write."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise InputError.single("--junit", value, "a file to write the JUnit XML to", "a folder")
    folder = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not folder.is_dir():
        raise InputError.single("--junit", value, "a file in a folder", f"{folder}, a file, on its path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError.single(
            "--junit", value, "a file in a folder this run can write to", f"{folder} is not writable"
        )
    return path


def edition_runs(args: argparse.Namespace, caps: Caps) -> list[tuple[str | None, Path]]:
    """The runs to make: one into --out (the plan's edition, or --edition's); with --edition-override one
    per edition of --editions that covers the module, each into ``--out/<edition>/``. Checked before any
    load is sent."""
    out = Path(args.out)
    if not getattr(args, "edition_override", False):
        return [(args.edition, out)]
    if not args.editions:
        raise InputError.single(
            "--edition-override", "--editions", "an edition.config.json listing the editions to run", "none"
        )
    if args.edition:
        raise InputError.single(
            "--edition-override",
            "--edition",
            "no single edition (every edition of --editions runs)",
            args.edition,
        )
    from sk_loadagent.suite.inputs import load_inputs

    inputs = load_inputs(args.plan, editions=args.editions, caps=caps)
    module = args.module or inputs.plan.module_id
    listed = inputs.editions.editions if inputs.editions is not None else []
    editions = [e.edition_id for e in listed if e.covers(module)]
    if not editions:
        raise InputError.single(
            args.editions, "editions", f"an edition whose modules include {module}", "none"
        )
    return [(edition, out / safe_name(edition)) for edition in editions]


def finish(results: Sequence[ScopeResult], junit: Path | None) -> int:
    """After the last run: the JUnit file, the CI outputs, with several editions a line for all of them;
    the exit code (0 when every gate passed, 1 otherwise)."""
    if junit is not None:
        print(f"JUnit: {write_junit(junit, results)}")
    if len(results) > 1:
        failed = [r.suite.edition_id or "-" for r in results if not r.passed]
        passed = len(results) - len(failed)
        tail = f" (failed: {', '.join(failed)})" if failed else ""
        print(f"\nEditions: {passed} of {len(results)} passed the gate{tail}")
    ci_outputs(results)
    return 0 if all(r.passed for r in results) else 1


def ci_outputs(results: Sequence[ScopeResult]) -> None:
    """The GitHub step summary and annotations, and Azure DevOps logging commands, where the run is."""
    summary_file, on_github, on_azure = ci_environment()
    if summary_file is not None:
        try:
            append_step_summary(summary_file, "".join(step_summary(r) for r in results))
        except OSError as exc:
            print(
                f"sk-loadagent: GITHUB_STEP_SUMMARY: {summary_file}: not written ({exc.strerror})",
                file=sys.stderr,
            )
    lines = github_annotations(results) if on_github else []
    lines += azure_commands(results) if on_azure else []
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
