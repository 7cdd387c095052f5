"""The exception hierarchy. Every error a user can cause maps to one exit code of the CLI."""

from __future__ import annotations

from dataclasses import dataclass


class LoadAgentError(Exception):
    """Base of every error raised on purpose by sk-loadagent. Exit code 1 belongs to the gate alone, so an
    error without a more specific class is the agent's own failure (4)."""

    exit_code: int = 4


def root_cause(exc: BaseException) -> BaseException:
    """Semantic Kernel wraps a function's exception two or three times; the user needs the innermost one."""
    seen: set[int] = set()
    while not isinstance(exc, LoadAgentError) and id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            break
        exc = inner
    return exc


@dataclass
class InputProblem:
    """One thing wrong with an input: where it is, what was expected and what was found."""

    field: str
    expected: str
    got: str | None = None

    def describe(self) -> str:
        text = f"{self.field or '<document>'}: expected {self.expected}"
        if self.got is not None:
            text += f", got {self.got}"
        return text


class InputError(LoadAgentError):
    """Bad user input: names the file, the field and what was expected (CLI exit code 2)."""

    exit_code = 2

    def __init__(self, source: str, problems: list[InputProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self._render())

    @classmethod
    def single(cls, source: str, field: str, expected: str, got: str | None = None) -> InputError:
        return cls(source, [InputProblem(field, expected, got)])

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0].describe()}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  - {p.describe()}" for p in self.problems]
        return "\n".join(lines)


class TargetUnreachableError(LoadAgentError):
    """The target could not be reached at all: no request got a response (CLI exit code 3)."""

    exit_code = 3


class TargetNotAllowedError(InputError):
    """A target outside loopback that nobody allow-listed."""


class MemoryStoreError(LoadAgentError):
    """The memory store is not one: a wrong path or URL, a file that is no store, a newer schema (exit 2).

    Once a store has opened, a failure to read or write it is the agent's (``StoreUnavailableError``).
    """

    exit_code = 2


class AgentFailure(LoadAgentError):
    """The agent itself failed, not the input and not the target: a load worker died or hung, the memory
    store is unreachable or refused a write, the disk is full (CLI exit code 4)."""

    exit_code = 4


class WorkerFailedError(AgentFailure):
    """A load worker died, failed or did not finish within the run's bound: its share of the load is lost."""


class StoreUnavailableError(MemoryStoreError, AgentFailure):
    """The memory store could not be reached, or refused a read or write after it opened (exit code 4)."""

    exit_code = 4
