"""The exception hierarchy. Every error a user can cause maps to one exit code of the CLI."""

from __future__ import annotations

from dataclasses import dataclass


class LoadAgentError(Exception):
    """Base of every error raised on purpose by sk-loadagent."""

    exit_code: int = 1


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
    """The memory store could not be opened, read or written."""

    exit_code = 2
