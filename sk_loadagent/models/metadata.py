"""service.metadata.yaml (spec cycle 3): a service's endpoints, event queues, resource contract and
infrastructure profile, as the Microservice Generator Agent describes it.

Another agent writes this file, so unknown fields are kept; the fields we act on (paths, methods, expected
statuses, CPU/memory allocation) are checked.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from sk_loadagent.models._base import FieldProblem, OpenWireModel
from sk_loadagent.models.plan import HttpMethod, check_base_url


class Endpoint(OpenWireModel):
    """One HTTP endpoint. ``path`` may hold templates (``/appointments/{id}``)."""

    path: str
    method: HttpMethod = "GET"
    name: str | None = None
    description: str | None = None
    payload_example: dict[str, Any] | list[Any] | str | None = None
    expect_status: list[int] | None = None
    default: bool | None = Field(default=None, description="the endpoint a test without one targets")

    @field_validator("path")
    @classmethod
    def _is_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a path starting with '/', such as /checkout/submit")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 100 <= v <= 599 for v in value):
            raise ValueError("HTTP status codes between 100 and 599")
        return value

    def matches(self, path: str) -> bool:
        """True for this exact path, or for a concrete path that fits this path's ``{template}`` parts."""
        if path == self.path:
            return True
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path))
        return re.fullmatch(pattern, path) is not None


class EventQueue(OpenWireModel):
    """An event queue or topic the service consumes or publishes (Service Bus, RabbitMQ, Kafka...)."""

    name: str
    kind: str | None = None
    direction: str | None = None
    description: str | None = None


class ResourceContract(OpenWireModel):
    """What the service is allocated: the quota that CPU and memory usage are measured against."""

    cpu_cores: float | None = Field(default=None, gt=0)
    memory_mb: float | None = Field(default=None, gt=0)


class ServiceMetadata(OpenWireModel):
    """A service.metadata.yaml document: ``moduleId`` or ``serviceName`` names the service."""

    module_id: str | None = None
    service_name: str | None = None
    base_url: str | None = None
    description: str | None = None
    owner: str | None = None
    editions: list[str] | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    queues: list[EventQueue] | None = None
    resources: ResourceContract | None = None
    infrastructure: dict[str, Any] | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @model_validator(mode="after")
    def _named(self) -> ServiceMetadata:
        if not self.module_id and not self.service_name:
            raise FieldProblem("moduleId", "the service's moduleId (or serviceName)")
        defaults = [e.path for e in self.endpoints if e.default]
        if len(defaults) > 1:
            raise FieldProblem("endpoints", f"at most one default endpoint (got {', '.join(defaults)})")
        return self

    @property
    def module(self) -> str:
        """The module's name: ``moduleId`` if given, else ``serviceName``."""
        return self.module_id or self.service_name or ""

    def default_endpoint(self) -> Endpoint | None:
        """The endpoint marked ``default``, else the first one listed, else None."""
        return next((e for e in self.endpoints if e.default), self.endpoints[0] if self.endpoints else None)

    def endpoint_for(self, path: str) -> Endpoint | None:
        """The endpoint declared for ``path``: an exact match first, then a ``{template}`` match."""
        exact = next((e for e in self.endpoints if e.path == path), None)
        return exact or next((e for e in self.endpoints if e.matches(path)), None)

    def method_for(self, path: str) -> HttpMethod | None:
        """The HTTP method declared for ``path``, or None if the metadata does not list the path."""
        endpoint = self.endpoint_for(path)
        return endpoint.method if endpoint is not None else None

    def cpu_quota_cores(self) -> float | None:
        """The CPU cores allocated to the service (what 100 % CPU means), or None if not declared."""
        return self.resources.cpu_cores if self.resources is not None else None

    def memory_quota_mb(self) -> float | None:
        """The memory allocated to the service in MB, or None if not declared."""
        return self.resources.memory_mb if self.resources is not None else None
