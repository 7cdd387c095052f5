"""Surface blocks of a plan test: the brokers a test publishes to and reads its service's output from, and
the WebSocket endpoint a test holds sessions on.

A test with ``surface: amqp`` (or ``nats``, ``redis``) carries a block of the same name. Every block names the
broker (``url``), what each message carries (``publish``: where to, and a JSON document or a text body that
may hold references such as ``${uuid}``) and the output the service writes to (``consume``). The agent puts
a correlation id in each message's properties or headers; a service that copies it to its output message is
measurable without parsing bodies. An optional ``deadLetter`` output holds the messages the service (or the
broker) gave up on: a correlated message there fails its call as ``deadLetter``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.durations import Duration

SurfaceName = Literal["http", "websocket", "grpc", "amqp", "nats", "redis", "webhook", "job"]
SURFACES: tuple[str, ...] = ("http", "websocket", "grpc", "amqp", "nats", "redis", "webhook", "job")
BROKER_SURFACES: tuple[str, ...] = ("amqp", "nats", "redis")
HTTP_SURFACES: tuple[str, ...] = ("webhook", "job")  # requests to the plan's baseUrl
BUILT_IN_SURFACES: tuple[str, ...] = ("websocket", "grpc", *BROKER_SURFACES, *HTTP_SURFACES)  # with a block
CORRELATION_HEADER = "x-correlation-id"  # NATS headers and Redis stream fields (AMQP: correlation_id)
SURFACE_SCHEMES: dict[str, tuple[str, ...]] = {
    "amqp": ("amqp", "amqps"),
    "nats": ("nats", "tls"),
    "redis": ("redis", "rediss"),
    "websocket": ("ws", "wss"),
    "grpc": ("grpc", "grpcs"),
}
_EXAMPLES = {
    "amqp": "amqp://guest:guest@127.0.0.1:5672/",
    "nats": "nats://127.0.0.1:4222",
    "redis": "redis://127.0.0.1:6379/0",
    "websocket": "ws://127.0.0.1:8080/ws",
    "grpc": "grpc://127.0.0.1:50051",
}


def broker_url_problem(surface: str, value: str) -> str | None:
    """What is wrong with a broker URL for ``surface`` (None when it is fine)."""
    parts = urlsplit(value)
    schemes = SURFACE_SCHEMES[surface]
    if parts.scheme not in schemes or not parts.hostname:
        shown = " or ".join(f"{s}://" for s in schemes)
        article = "an" if surface == "amqp" else "a"
        return f"{article} {shown} URL with a host, such as {_EXAMPLES[surface]}"
    return None


class MessageBody(WireModel):
    """What one message carries: a JSON document or a text body (either may hold references)."""

    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_body(self) -> MessageBody:
        if self.json_body is not None and self.body is not None:
            raise FieldProblem("body", "either json or body, not both")
        return self

    def template(self) -> dict[str, Any]:
        """The parts a call renders per message (references filled in by the flow machinery)."""
        out: dict[str, Any] = {"headers": dict(self.headers)}
        if self.json_body is not None:
            out["json"] = self.json_body
        else:
            out["body"] = self.body or ""
        return out


class _Broker(WireModel):
    _surface: ClassVar[str]  # the surface whose URL schemes ``url`` takes
    url: str = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = broker_url_problem(cls._surface, value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def target(self) -> str:
        raise NotImplementedError


class AmqpPublish(MessageBody):
    exchange: str = ""
    routing_key: str = Field(min_length=1, description="the queue's name when exchange is the default ''")


class _Consume(WireModel):
    match: dict[str, str] | None = Field(
        default=None,
        description="a flow step that only consumes: {JSONPath: value} that picks its message, e.g. "
        '{"$.appointmentId": "${apptId}"}',
    )

    @field_validator("match")
    @classmethod
    def _one_path(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) != 1:
            raise ValueError("one JSONPath and the value it must have, such as {$.id: ${id}}")
        _json_path(next(iter(value)))
        return value


class AmqpQueue(_Consume):
    queue: str = Field(min_length=1)


class AmqpSurface(_Broker):
    """RabbitMQ: publish with confirms; read ``consume.queue``; depth by passive declare of ``depth``."""

    _surface = "amqp"

    publish: AmqpPublish | None = None
    consume: AmqpQueue
    dead_letter: AmqpQueue | None = None
    depth: list[str] | None = Field(
        default=None,
        description="queues whose depth is sampled (default: the published queue when exchange is '', and "
        "consume.queue)",
    )

    def target(self) -> str:
        if self.publish is None:
            return f">{self.consume.queue}"
        where = self.publish.routing_key if not self.publish.exchange else self.publish.exchange
        return f"{where}>{self.consume.queue}"

    def depth_queues(self) -> list[str]:
        if self.depth is not None:
            return list(self.depth)
        published = self.publish is not None and not self.publish.exchange
        queues = [self.publish.routing_key] if self.publish is not None and published else []
        return [*queues, self.consume.queue]


class NatsSubject(_Consume):
    subject: str = Field(min_length=1)


class NatsPublish(MessageBody):
    subject: str = Field(min_length=1)


class JetStreamSpec(WireModel):
    stream: str = Field(min_length=1)
    consumer: str | None = Field(default=None, min_length=1)


class NatsSurface(_Broker):
    """NATS: core publish, or JetStream publish with its ack when ``jetstream`` names the stream."""

    _surface = "nats"

    publish: NatsPublish | None = None
    consume: NatsSubject
    jetstream: JetStreamSpec | None = None
    dead_letter: NatsSubject | None = None

    def target(self) -> str:
        return f"{self.publish.subject if self.publish else ''}>{self.consume.subject}"


class RedisStream(_Consume):
    stream: str = Field(min_length=1)


class RedisPublish(MessageBody):
    stream: str = Field(min_length=1)
    maxlen: int | None = Field(default=None, ge=1, description="XADD MAXLEN ~ (approximate trimming)")


class RedisSurface(_Broker):
    """Redis Streams: XADD to ``publish.stream``, read ``consume.stream``; depth by XLEN (and XPENDING of
    ``group``, the service's consumer group)."""

    _surface = "redis"

    publish: RedisPublish | None = None
    consume: RedisStream
    group: str | None = Field(default=None, min_length=1)
    dead_letter: RedisStream | None = None

    def target(self) -> str:
        return f"{self.publish.stream if self.publish else ''}>{self.consume.stream}"


class WebSocketSubscribe(WireModel):
    """Pushed messages: ``send`` once when a session opens; ``timestamp`` the JSONPath of a publish-side
    time (epoch seconds, or milliseconds when above 1e11) in each pushed message."""

    send: MessageBody | None = None
    timestamp: str | None = Field(default=None, min_length=1)

    @field_validator("timestamp")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _json_path(value)


def _json_path(value: str | None) -> str | None:
    if value is None:
        return None
    from sk_loadagent.models.jsonpath import compile_json_path

    try:
        compile_json_path(value)
    except ValueError as exc:
        raise ValueError(f"a JSONPath such as $.id ({exc})") from None
    return value


class WebSocketSurface(WireModel):
    """WebSocket sessions: each call sends ``send`` and waits for the reply whose ``correlate`` value (a
    JSONPath, read in the sent and the received message) is the one it sent."""

    url: str | None = Field(
        default=None,
        min_length=1,
        description="ws:// or wss:// (default: the baseUrl as ws(s):// + path)",
    )
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    send: MessageBody
    correlate: str | None = Field(
        default=None,
        description="JSONPath of the id in the sent and the reply message (none: the next one)",
    )
    subscribe: WebSocketSubscribe | None = None
    messages_per_connection: int | None = Field(
        default=None, ge=1, description="churn: a session reconnects after this many messages"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        problem = broker_url_problem("websocket", value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("path")
    @classmethod
    def _path_ok(cls, value: str) -> str:
        from sk_loadagent.models.plan import check_endpoint

        return check_endpoint(value)

    @field_validator("correlate")
    @classmethod
    def _correlate(cls, value: str | None) -> str | None:
        return _json_path(value)

    def target(self) -> str:
        return self.path if self.url is None else urlsplit(self.url).path or "/"

    def resolved(self, base_url: str) -> WebSocketSurface:
        """This block with its URL: the given one, else the base URL's host as ws(s):// with ``path``."""
        if self.url is not None:
            return self
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return self.model_copy(
            update={"url": f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{self.path}"}
        )


class HttpRequestSpec(MessageBody):
    """A request to the plan's service (baseUrl + path); path, header values and body may hold references."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    path: str = Field(min_length=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path_ok(cls, value: str) -> str:
        from sk_loadagent.models.flow import parse_template
        from sk_loadagent.models.plan import check_endpoint

        check_endpoint("".join(p if isinstance(p, str) else "x" for p in parse_template(value)))
        return value

    def chosen_method(self) -> str:
        return self.method or ("POST" if self.json_body is not None or self.body is not None else "GET")

    def template(self) -> dict[str, Any]:
        return {**super().template(), "method": self.chosen_method(), "path": self.path}


class WebhookSurface(WireModel):
    """A webhook: each call sends ``trigger`` (an HTTP request to the service that carries
    ``${webhook.url}``, a URL of the agent's loopback receiver unique to the call) and ends when the
    service delivers to that URL."""

    url: None = Field(default=None, exclude=True)  # the trigger goes to the plan's baseUrl
    trigger: HttpRequestSpec

    def target(self) -> str:
        return f"{self.trigger.chosen_method()} {self.trigger.path}"


class JobPoll(WireModel):
    path: str = Field(min_length=1, description="the status path; ${job.id} is the id the submit returned")
    interval: Duration = Field(default=0.25, description="the pause between polls")

    @field_validator("path")
    @classmethod
    def _path_ok(cls, value: str) -> str:
        return HttpRequestSpec._path_ok(value)

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("a duration greater than 0, such as 250ms")
        return value


class JobSurface(WireModel):
    """A long-running job: ``submit``, read the job's ``id`` from the reply, poll ``poll.path`` until every
    ``until`` condition holds (or a ``failWhen`` one does), within the test's timeout."""

    url: None = Field(default=None, exclude=True)  # the requests go to the plan's baseUrl
    submit: HttpRequestSpec
    id: str = Field(
        min_length=1, description="JSONPath of the job id in the submit reply, or header:Location"
    )
    poll: JobPoll
    until: dict[str, Any] = Field(min_length=1, description="JSONPath: value conditions that mean done")
    fail_when: dict[str, Any] | None = Field(
        default=None, description="JSONPath: value conditions of a failure"
    )

    @field_validator("id")
    @classmethod
    def _id_path(cls, value: str) -> str:
        if value.startswith("header:"):
            return value
        checked = _json_path(value)
        assert checked is not None
        return checked

    @field_validator("until", "fail_when")
    @classmethod
    def _conditions(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from sk_loadagent.models.jsonpath import compile_json_path

        for key in value or {}:
            try:
                compile_json_path(key)
            except ValueError as exc:
                raise FieldProblem(key, f"a JSONPath such as $.status ({exc})", repr(key)) from None
        return value

    def target(self) -> str:
        return f"{self.submit.chosen_method()} {self.submit.path}"


class GrpcSurface(WireModel):
    """gRPC calls of one method of a ``.proto`` (compiled at run time): unary or server streaming, found in
    the proto; ``request`` is the request message as YAML (its texts may hold references)."""

    url: str = Field(min_length=1, description="grpc://host:port (plaintext) or grpcs://host:port (TLS)")
    proto: str = Field(min_length=1, description="the .proto file (relative to the plan's folder)")
    service: str = Field(min_length=1, description="the service, e.g. vetclinic.AppointmentService")
    method: str = Field(min_length=1)
    request: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = broker_url_problem("grpc", value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def target(self) -> str:
        return f"{self.service}/{self.method}"


SurfaceBlock = (
    GrpcSurface | AmqpSurface | NatsSurface | RedisSurface | WebSocketSurface | WebhookSurface | JobSurface
)


def message_template(block: SurfaceBlock) -> tuple[dict[str, Any], str]:
    """What each call of ``block`` renders (references filled per call), and where the block holds it
    (``send``, ``publish``, ...; ``consume.match`` for a broker step that only consumes)."""
    if isinstance(block, GrpcSurface):
        return dict(block.request), "request"
    if isinstance(block, WebSocketSurface):
        return block.send.template(), "send"
    if isinstance(block, WebhookSurface):
        return block.trigger.template(), "trigger"
    if isinstance(block, JobSurface):
        return {"submit": block.submit.template(), "poll": block.poll.path}, ""
    if block.publish is not None:
        return block.publish.template(), "publish"
    match = block.consume.match or {}
    return {"match": next(iter(match.values()), "")}, "consume"


def broker_shape_problem(block: SurfaceBlock, *, in_flow: bool) -> tuple[str, str] | None:
    """(field, expected) when a broker block neither publishes nor picks its message, or does both."""
    if isinstance(block, GrpcSurface | WebSocketSurface | WebhookSurface | JobSurface):
        return None
    match = block.consume.match
    if block.publish is None and not in_flow:
        return "publish", "what each message carries (only a flow step may consume without publishing)"
    if block.publish is None and match is None:
        return "consume.match", "the message this step waits for, such as {$.appointmentId: ${apptId}}"
    if block.publish is not None and match is not None:
        return "consume.match", "no match beside publish (a published message is found by its correlation id)"
    return None


__all__ = [
    "BROKER_SURFACES",
    "BUILT_IN_SURFACES",
    "CORRELATION_HEADER",
    "HTTP_SURFACES",
    "SURFACES",
    "SURFACE_SCHEMES",
    "AmqpSurface",
    "GrpcSurface",
    "HttpRequestSpec",
    "JetStreamSpec",
    "JobPoll",
    "JobSurface",
    "MessageBody",
    "NatsSurface",
    "RedisSurface",
    "SurfaceBlock",
    "SurfaceName",
    "WebSocketSubscribe",
    "WebSocketSurface",
    "WebhookSurface",
    "broker_shape_problem",
    "broker_url_problem",
    "message_template",
]
