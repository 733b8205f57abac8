"""Scores from an operator's HTTP endpoint, fenced in.

Before every call the version's URL is parsed again by the parser that accepted it (lifecycle.endpoints) and its
host:port must still be on EXTERNAL_ENDPOINT_ALLOWED_HOSTS. The name is resolved once and the connection goes to
that checked address (the name only travels in Host and, for https, in SNI and the certificate check), so a second
lookup cannot send the call elsewhere. Redirects are never followed. One deadline covers connecting, sending and
reading the whole answer. Each endpoint has a bound on calls in flight per process and a breaker that pauses it
after repeated failures, so a slow endpoint cannot hold every web worker."""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import json
import math
import ssl
import threading
import time
from contextlib import contextmanager

from django.conf import settings

from lifecycle import endpoints

MAX_ANSWER_BYTES = 5_000_000
BREAKER_FAILURES = 5  # consecutive failed calls that open an endpoint's breaker


class EndpointError(Exception):
    """The endpoint could not give scores; `retry_after` (seconds) when it is paused or busy, not broken."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def predict(params: dict, inputs: list[dict], *, authorization: str = "") -> dict[str, list[float]]:
    """POST {"inputs": [...]} and expect {"scores": [{trait: probability}, ...]} in the same order."""
    try:
        endpoint = endpoints.parse_url(params["url"])
    except endpoints.EndpointConfigError as exc:
        raise EndpointError(f"this version's {exc}; correct config.url and train again") from None
    if not endpoints.is_allowed(endpoint, settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS):
        raise EndpointError(f"{endpoint.label} is no longer allowed (EXTERNAL_ENDPOINT_ALLOWED_HOSTS)")
    timeout_ms = min(int(params["timeoutMs"]), endpoints.TIMEOUT_MS[1])  # versions made under the old limit
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    body = json.dumps({"inputs": inputs}).encode()
    with _guarded(endpoint.label):
        payload = _call(endpoint, body, headers, timeout_ms)
        return _scores(payload, params["traits"], len(inputs))


def _scores(payload, traits: list[str], count: int) -> dict[str, list[float]]:
    rows = payload.get("scores") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or len(rows) != count:
        raise EndpointError("the endpoint must answer {\"scores\": [...]} with one entry per input")
    out: dict[str, list[float]] = {t: [] for t in traits}
    for row in rows:
        for trait in traits:
            value = row.get(trait) if isinstance(row, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise EndpointError(f"the endpoint's score for {trait!r} must be a probability in [0, 1]")
            out[trait].append(float(value))
    return out


# ------------------------------------------------------------------------------------------------ the call


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _resolve(endpoint: endpoints.Endpoint) -> tuple:
    """The one lookup of the name: (family, socket address) to connect to."""
    try:
        family, sockaddr, address = endpoints.resolve(endpoint)
    except (OSError, UnicodeError) as exc:
        raise EndpointError(f"{endpoint.host} did not resolve: {exc}") from None
    if endpoint.is_ip and address != ipaddress.ip_address(endpoint.host):
        raise EndpointError(f"{endpoint.host} resolved to {address}, not the listed address")
    if not endpoint.is_ip and endpoints.blocked(address):
        # Only an address listed as such is called there.
        raise EndpointError(f"{endpoint.host} resolved to {address}, a link-local or reserved address; "
                            "list that address itself in EXTERNAL_ENDPOINT_ALLOWED_HOSTS to call it")
    return family, sockaddr


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _PinnedConnection(endpoints.PinnedConnection):
    """The pinned connection, every step within what is left of the call's deadline."""

    def __init__(self, endpoint: endpoints.Endpoint, family: int, sockaddr: tuple, deadline: float):
        super().__init__(endpoint, family, sockaddr, timeout=lambda: _left(deadline), tls_context=_tls_context())
        self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)


class _DeadlineReader(io.RawIOBase):
    """Every read of the answer waits only for what is left of the deadline, so a trickle cannot outlast it."""

    def __init__(self, sock, deadline: float):
        # The socket's own reader keeps it open while the answer is read, as http.client expects.
        self._sock, self._raw, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        self._sock.settimeout(_left(self._deadline))
        return self._raw.readinto(buffer)

    def close(self):
        self._raw.close()
        super().close()


class _DeadlineSocket:
    def __init__(self, sock, deadline: float):
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode, *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock, *args, deadline: float, **kwargs):
        super().__init__(_DeadlineSocket(sock, deadline), *args, **kwargs)


def _call(endpoint: endpoints.Endpoint, body: bytes, headers: dict, timeout_ms: int):
    deadline = time.monotonic() + timeout_ms / 1000
    connection = None
    try:
        family, sockaddr = _resolve(endpoint)
        connection = _PinnedConnection(endpoint, family, sockaddr, deadline)
        connection.connect()
        connection.sock.settimeout(_left(deadline))  # sendall: the whole body within what is left
        connection.request("POST", endpoint.target, body=body, headers={**headers, "Host": endpoint.host_header})
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise EndpointError(f"the endpoint answered a redirect ({response.status}); redirects are not followed")
        if not 200 <= response.status < 300:
            raise EndpointError(f"the endpoint answered {response.status}")
        answer = bytearray()
        while chunk := response.read(65536):
            answer += chunk
            if len(answer) > MAX_ANSWER_BYTES:
                raise EndpointError(f"the endpoint's answer is larger than {MAX_ANSWER_BYTES} bytes")
        return json.loads(answer)
    except TimeoutError:
        raise EndpointError(f"the endpoint did not answer in {timeout_ms} ms") from None
    except ssl.SSLError as exc:
        why = getattr(exc, "verify_message", None) or exc.reason or exc
        raise EndpointError(f"TLS with the endpoint failed: {why}") from None
    except http.client.HTTPException as exc:
        raise EndpointError(f"the endpoint's answer is not valid HTTP ({type(exc).__name__})") from None
    except OSError as exc:
        raise EndpointError(f"could not reach the endpoint: {exc.strerror or exc}") from None
    except ValueError:
        raise EndpointError("the endpoint did not answer JSON") from None
    finally:
        if connection is not None:
            connection.close()


# ------------------------------------------------------------------------------ in-flight bound and breaker


class _Gate:
    def __init__(self, limit: int):
        self.slots = threading.BoundedSemaphore(limit)
        self.lock = threading.Lock()
        self.failures = 0
        self.open_until = 0.0


_gates: dict[tuple[str, int], _Gate] = {}
_gates_lock = threading.Lock()


def _gate(label: str, limit: int) -> _Gate:
    with _gates_lock:
        gate = _gates.get((label, limit))
        if gate is None:
            gate = _gates[(label, limit)] = _Gate(limit)
        return gate


def gates_reset() -> None:
    """Forget every endpoint's failures and pauses (this process only)."""
    with _gates_lock:
        _gates.clear()


@contextmanager
def _guarded(label: str):
    limit = max(1, int(settings.EXTERNAL_ENDPOINT_MAX_CONCURRENCY))
    gate = _gate(label, limit)
    with gate.lock:
        paused = gate.open_until - time.monotonic()
        failures = gate.failures
    if paused > 0:
        raise EndpointError(
            f"{label} failed {failures} times in a row; calls to it are paused for {math.ceil(paused)} s more "
            "(EXTERNAL_ENDPOINT_BREAKER_SECONDS)", retry_after=math.ceil(paused))
    if not gate.slots.acquire(blocking=False):
        raise EndpointError(f"too many calls in flight to {label} (at most {limit} per process, "
                            "EXTERNAL_ENDPOINT_MAX_CONCURRENCY); try again shortly", retry_after=1)
    try:
        yield
    except EndpointError:
        with gate.lock:
            gate.failures += 1
            if gate.failures >= BREAKER_FAILURES:  # after the pause, one more failure pauses it again
                gate.open_until = time.monotonic() + float(settings.EXTERNAL_ENDPOINT_BREAKER_SECONDS)
        raise
    else:
        with gate.lock:
            gate.failures = 0
            gate.open_until = 0.0
    finally:
        gate.slots.release()
