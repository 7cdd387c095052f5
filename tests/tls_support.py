"""Certificates and loopback servers for the TLS and proxy tests.

``Pki`` writes a test CA (trustme), server certificates (for 127.0.0.1 and localhost, for another name only,
already expired, self-signed) and a client certificate into a folder. ``HttpsServer`` answers every HTTP/1.1
request with ``200 ok`` over TLS in its own thread and event loop, recording what each handshake negotiated.
``LoopbackProxy`` is a CONNECT and forward proxy that sends everything to 127.0.0.1, whatever host a request
names, and counts what passed through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
LOOPBACK = ipaddress.ip_address("127.0.0.1")
_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


@dataclass
class Pki:
    """PEM files of a test CA and the certificates the tests serve or present."""

    folder: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._issue("server", "127.0.0.1", "localhost")
        self._issue("other-host", "other.test")
        self._issue("named", "service.test")
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        self._issue("expired", "127.0.0.1", "localhost", not_before=past, not_after=past)
        client = self.ca.issue_cert("client@loadagent.test")
        client.cert_chain_pems[0].write_to_path(str(self.folder / "client.crt"))
        client.private_key_pem.write_to_path(str(self.folder / "client.key"))
        other = self.ca.issue_cert("someone-else@loadagent.test")
        other.private_key_pem.write_to_path(str(self.folder / "other.key"))
        key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
        locked = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
        (self.folder / "encrypted.key").write_bytes(locked)
        _self_signed(self.folder / "self-signed.pem")

    def _issue(self, name: str, *hosts: str, **validity: datetime.datetime) -> None:
        cert = self.ca.issue_cert(*hosts, **validity)  # type: ignore[arg-type]
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.folder / f"{name}.pem"))

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def path(self, name: str) -> Path:
        return self.folder / name

    def server_context(
        self,
        cert: str = "server",
        *,
        require_client_cert: bool = False,
        minimum: ssl.TLSVersion | None = None,
        maximum: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.folder / f"{cert}.pem"))
        context.set_alpn_protocols(["h2", "http/1.1"])
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_file))
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        return context


def _self_signed(path: Path) -> None:
    """A certificate for 127.0.0.1 signed by its own key: what a test environment often serves."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem_key + cert.public_bytes(serialization.Encoding.PEM))


class _LoopThread:
    """An event loop in a daemon thread; ``serve`` starts a server on it and returns its port."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None

    def serve(self, handler: object, context: ssl.SSLContext | None = None) -> int:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)  # type: ignore[arg-type]

        self._server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        async def shut_down() -> None:
            if self._server is not None:
                self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut_down(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class HttpsServer:
    """``200 ok`` to every request, kept alive; ``alpn`` and ``versions`` record each handshake.

    Blocking sockets, a thread per connection: a refused handshake sends its TLS alert at once, as nginx
    does (asyncio's server closes without flushing it, which a client would see as a reset).
    """

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.requests = 0
        self.connections = 0
        self.alpn: list[str | None] = []
        self.versions: list[str | None] = []
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.scheme = "https" if context is not None else "http"
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._context is None and conn.recv(1, socket.MSG_PEEK) == b"\x16":
                conn.sendall(BAD_REQUEST)  # a TLS ClientHello to a plain server: nginx's answer
                return
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
                self.alpn.append(conn.selected_alpn_protocol())  # type: ignore[attr-defined]
                self.versions.append(conn.version())  # type: ignore[attr-defined]
            self.connections += 1
            stream = conn.makefile("rb")
            while head := _read_head(stream):
                self.requests += 1
                conn.sendall(OK)
                if b"connection: close" in head.lower():
                    break
        except (OSError, ValueError):
            pass
        finally:
            self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        for conn in list(self._open):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)


def _read_head(stream: BinaryIO) -> bytes:
    """One request head (and its Content-Length body, read and dropped); empty at the end of the stream."""
    lines = []
    while (line := stream.readline(65537)) not in (b"\r\n", b"\n"):
        if not line:
            return b""
        lines.append(line)
    head = b"".join(lines)
    length = _LENGTH.search(head)
    if length:
        stream.read(int(length.group(1)))
    return head


class LoopbackProxy:
    """An HTTP proxy: CONNECT host:port opens a tunnel, an absolute-form request is forwarded; either way
    to 127.0.0.1 at the requested port. ``targets`` lists the host:port each request named."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._thread = _LoopThread()
        self.port = self._thread.serve(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head, body = await _read_message(reader)
            method, target = _request_line(head)
            if method == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._forward(head + body, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.targets.append(target)
        port = int(target.rsplit(":", 1)[1])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _forward(
        self, request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Absolute-form requests, kept alive: each goes upstream (origin-form) on one connection of ours."""
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                _, target = _request_line(request)
                url = re.fullmatch(r"http://([^/]+?)(?::(\d+))?(/.*)?", target)
                if url is None:
                    return
                self.targets.append(target)
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", int(url.group(2) or 80))
                line, rest = request.split(b"\r\n", 1)
                method = line.split(b" ", 1)[0]
                upstream[1].write(method + b" " + (url.group(3) or "/").encode() + b" HTTP/1.1\r\n" + rest)
                head, body = await _read_message(upstream[0])
                writer.write(head + body)
                head, body = await _read_message(reader)
                request = head + body
        finally:
            if upstream is not None:
                upstream[1].close()

    def stop(self) -> None:
        self._thread.stop()


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and the Content-Length body of one HTTP/1.1 request or response."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = _LENGTH.search(head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return head, body


def _request_line(head: bytes) -> tuple[str, str]:
    method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return method, target


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        sink.close()
