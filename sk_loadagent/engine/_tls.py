"""TLS for the engine: the client context a test's ``tls`` options describe, their checks before any load,
and the reason a handshake failed in words a user can act on.

Every transport builds its context here, so the fast path and httpx verify, offer and refuse the same things.
The fast path's context also resumes sessions: each new connection offers the session (ticket) of the last
connection that completed a handshake, so a run that reconnects pays a full handshake only now and then.
"""

from __future__ import annotations

import re
import ssl
from collections import Counter
from pathlib import Path

from sk_loadagent.models.plan import TlsOptions

MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
HANDSHAKE_TIMEOUT = "handshake timeout"

# OpenSSL's reason codes that mean the two sides share no protocol version (or the peer is not TLS at all).
_VERSION_REASONS = {
    "UNSUPPORTED_PROTOCOL",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "NO_PROTOCOLS_AVAILABLE",
    "VERSION_TOO_LOW",
    "VERSION_TOO_HIGH",
}
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
_CLIENT_CERT_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
}


class TlsOptionError(ValueError):
    """A ``tls`` option that cannot work: ``field`` is its wire name, ``expected`` what would."""

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(f"{field}: expected {expected}, got {got}")
        self.field = field
        self.expected = expected
        self.got = got


class ResumingContext(ssl.SSLContext):
    """A client context whose new connections offer the session of an earlier handshake for resumption.

    The session is kept and offered again while the server keeps resuming it (a TLS 1.3 ticket that nginx or
    OpenSSL issued stays valid for its lifetime); only after a full handshake is a newer one taken. Reading a
    session from Python copies it, peer certificate included (about 0.1 ms), so it is not done per connection.
    """

    _latest: ssl.SSLObject | None = None  # the last connection that completed a handshake
    _session: ssl.SSLSession | None = None  # what new connections offer
    _stale = True  # the last handshake was a full one: take a newer session when there is one
    resumed = 0  # connections whose handshake resumed a session

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        if session is None and not server_side:
            session = self._offer()
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def _offer(self) -> ssl.SSLSession | None:
        latest = self._latest
        if self._stale and latest is not None:
            # Taken late, not at the handshake: a TLS 1.3 ticket arrives after it, with the first response.
            fresh = latest.session
            if fresh is not None and (fresh.has_ticket or (latest.version() != "TLSv1.3" and fresh.id)):
                self._session, self._stale = fresh, False
        return self._session

    def handshake_done(self, ssl_object: ssl.SSLObject | None) -> None:
        """A connection finished its handshake: count a resumption, or note that a newer session is due."""
        if ssl_object is None:
            return
        self._latest = ssl_object
        if ssl_object.session_reused:
            self.resumed += 1
        else:
            self._stale = True


def client_context(options: TlsOptions, *, alpn: list[str] | None = None) -> ResumingContext:
    """The client context for ``options``; raises TlsOptionError naming the option that cannot work."""
    context = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    if options.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.ca_file is not None:
        _load_ca(context, options.ca_file)
    else:
        context.load_default_certs()
    if options.cert_file is not None:
        _load_client_certificate(context, options.cert_file, options.key_file)
    if options.min_version is not None:
        context.minimum_version = MIN_VERSIONS[options.min_version]
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def check_options(options: TlsOptions) -> None:
    """Build the context once, so a bad file or a key that does not match fails before any load."""
    if options.ca_file is not None or options.cert_file is not None:
        client_context(options)


def _no_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's pass phrase.
    raise TlsOptionError("keyFile", "an unencrypted PEM private key", "a key that needs a pass phrase")


def _load_ca(context: ssl.SSLContext, path: str) -> None:
    _readable("caFile", path)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise TlsOptionError("caFile", "a PEM file of CA certificates", f"{path} ({_words(exc)})") from None


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str | None) -> None:
    """certFile and keyFile (or the key after the certificate in certFile); a fault names its option."""
    _readable("certFile", cert)
    if key is not None:
        _readable("keyFile", key)
    if "-----BEGIN CERTIFICATE-----" not in _pem_text(cert):
        raise TlsOptionError("certFile", "a PEM client certificate", f"{cert} (no certificate in it)")
    key_file, key_field = (key, "keyFile") if key is not None else (cert, "certFile")
    if "PRIVATE KEY-----" not in _pem_text(key_file):
        expected = (
            "a PEM private key" if key else "a PEM certificate followed by its private key (or set keyFile)"
        )
        raise TlsOptionError(key_field, expected, f"{key_file} (no private key in it)")
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in (exc.reason or "").upper():
            raise TlsOptionError(
                key_field,
                f"the private key of the certificate in certFile ({cert})",
                f"{key_file} (another key)",
            ) from None
        raise TlsOptionError(
            "certFile", "a PEM client certificate and its key", f"{cert} ({_words(exc)})"
        ) from None


def _pem_text(path: str) -> str:
    return Path(path).read_bytes().decode("latin-1")


def _readable(field: str, path: str) -> None:
    file = Path(path)
    if not file.exists():
        raise TlsOptionError(field, "an existing PEM file", f"{path} (no file at this path)")
    if file.is_dir():
        raise TlsOptionError(field, "a PEM file", f"{path} (a directory)")
    try:
        with file.open("rb"):
            pass
    except PermissionError:
        raise TlsOptionError(field, "a readable PEM file", f"{path} (permission denied)") from None


def _words(exc: ssl.SSLError) -> str:
    """OpenSSL's reason in words (``NO_CERTIFICATE_OR_CRL_FOUND`` → ``no certificate or crl found``)."""
    text = exc.reason or re.sub(r"^\[\w+\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(exc))
    return text.lower().replace("_", " ")


# -- why a handshake failed ---------------------------------------------------------------------------------
def failure_reason(exc: BaseException) -> str:
    """A short reason for a TLS failure: what failed and why, e.g. ``certificate verify failed: self-signed
    certificate``, ``protocol mismatch: the server offers no TLS version this client accepts``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = (exc.verify_message or exc.reason or "unknown").rstrip(".")
        return f"certificate verify failed: {detail}"
    if isinstance(exc, TimeoutError | ssl.SSLWantReadError | ssl.SSLWantWriteError) or (
        isinstance(exc, ConnectionAbortedError) and "handshake" in str(exc).lower()
    ):
        return HANDSHAKE_TIMEOUT
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if reason in _VERSION_REASONS:
            return f"protocol mismatch: no TLS version both sides accept ({_words(exc)})"
        if reason in _NOT_TLS_REASONS:
            return f"protocol mismatch: the server did not answer in TLS ({_words(exc)})"
        if reason in _CLIENT_CERT_REASONS:
            return f"client certificate rejected ({_words(exc)})"
        return f"handshake failed ({_words(exc)})"
    return f"handshake failed ({exc.__class__.__name__}: {exc})"


def is_tls_failure(exc: BaseException | None) -> bool:
    """True for an exception the TLS layer raised (as opposed to TCP's refused, reset or unreachable)."""
    seen = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def tls_cause(exc: BaseException) -> BaseException:
    """The ssl exception inside a wrapper (httpx wraps it in ConnectError), else ``exc`` itself."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def fix_for(reason: str) -> str:
    """The option that fixes a failure with this reason."""
    if reason.startswith("certificate verify failed"):
        if "mismatch" in reason:
            return "set tls.serverName to a name the certificate lists, or pass --insecure"
        if "expired" in reason or "not yet valid" in reason:
            return "renew the server's certificate, or pass --insecure"
        return "pass --ca-file FILE or tls.caFile, or --insecure"
    if reason.startswith("protocol mismatch: no TLS version"):
        return "set tls.minVersion to a version the server offers"
    if reason.startswith("protocol mismatch"):
        return "use http:// if the server speaks plain HTTP"
    if reason.startswith("client certificate"):
        return "set tls.certFile and tls.keyFile to a client certificate the server trusts"
    if reason == HANDSHAKE_TIMEOUT:
        return "check that the port serves TLS, or raise the test's timeout"
    return "check the server's TLS configuration and the test's tls options"


def describe_failures(failures: Counter[str]) -> str:
    """``certificate verify failed: self-signed certificate — pass --ca-file FILE ...`` for the commonest
    reason, with the others counted after it."""
    (first, _), *rest = failures.most_common()
    text = f"{first} — {fix_for(first)}"
    if rest:
        text += "; also " + ", ".join(f"{n} × {reason}" for reason, n in rest)
    return text
