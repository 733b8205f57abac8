"""An external_endpoint model's config: the endpoint URL, its allow-list and its secret.

One strict parser reads `config.url` when the config is saved, when the model is snapshotted and before every
call, so the URL that was checked is the URL that is called. Anything a second parser could read differently
(credentials, backslashes, spaces or control characters, non-ASCII, odd host spellings) is refused outright.
The allow-list (EXTERNAL_ENDPOINT_ALLOWED_HOSTS) holds `host:port` entries; a bare host stands for the
scheme's default port. `config.authorization` (the Authorization header's value) is a secret: it stays in the
stored config, out of versions, and is shown masked everywhere."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
TIMEOUT_MS = (10, 10_000)  # the whole call, well under the web worker's timeout (gunicorn: 30 s)
DEFAULT_TIMEOUT_MS = 2000
SECRET_KEYS = ("authorization",)
SECRET_SHOWN = "••••••"  # sent back unchanged in a config, it keeps the stored secret
MAX_URL_LENGTH = 2000
MAX_SECRET_LENGTH = 4096

_NAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\Z")
_NETLOC = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[^\[\]:]+)(?::(?P<port>[0-9]{1,5}))?\Z")


class EndpointConfigError(ValueError):
    """A config an endpoint cannot be called with; `field` names the config key (`config.url`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str  # a lower-case DNS name, or an IP address in its canonical spelling
    port: int
    target: str  # path and query, as sent in the request line
    is_ip: bool

    @property
    def label(self) -> str:
        """host:port, as the allow-list spells it."""
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        host = _bracketed(self.host)
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _host(raw: str) -> tuple[str, bool] | None:
    """(canonical host, is an IP address), or None when the spelling is not a plain name or address."""
    if raw.startswith("["):
        try:
            return ipaddress.IPv6Address(raw[1:-1]).compressed, True
        except ValueError:
            return None
    try:
        return str(ipaddress.IPv4Address(raw)), True
    except ValueError:
        pass
    # A numeric last label ("2130706433", "127.1", "0x7f.1") would be read as an address by the resolver.
    last = raw.rsplit(".", 1)[-1]
    if not _NAME.match(raw) or last.isdigit() or last.startswith("0x"):
        return None
    return raw, False


def parse_url(url) -> Endpoint:
    if not isinstance(url, str) or not url:
        raise EndpointConfigError("config.url", "config.url must be an http(s) URL of the scoring endpoint")
    if len(url) > MAX_URL_LENGTH:
        raise EndpointConfigError("config.url", f"config.url must be at most {MAX_URL_LENGTH} characters")
    if "\\" in url:
        raise EndpointConfigError("config.url", "config.url must not contain a backslash")
    if any(not "!" <= ch <= "~" for ch in url):
        raise EndpointConfigError("config.url", "config.url must be plain ASCII without spaces or control "
                                                "characters (percent-encode the path; give the host in ASCII)")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not url.lower().startswith(f"{parts.scheme}://"):
        raise EndpointConfigError("config.url", "config.url must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise EndpointConfigError("config.url", "config.url must not carry credentials (user:password@); "
                                                "put the Authorization header's value in config.authorization")
    if "#" in url:
        raise EndpointConfigError("config.url", "config.url must not have a fragment (#...)")
    netloc = _NETLOC.match(parts.netloc.lower())
    host = _host(netloc["host"]) if netloc else None
    if host is None:
        raise EndpointConfigError("config.url", "config.url must name the host as a DNS name or an IP address, "
                                                "optionally with :port")
    port = int(netloc["port"]) if netloc["port"] else DEFAULT_PORTS[parts.scheme]
    if not 1 <= port <= 65535:
        raise EndpointConfigError("config.url", "config.url's port must be from 1 to 65535")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Endpoint(scheme=parts.scheme, host=host[0], port=port, target=target, is_ip=host[1])


def allow_list(entries) -> set[tuple[str, int | None]]:
    """The allow-list's entries as (host, port); port None: the scheme's default port. Entries that are no
    plain host[:port] match nothing."""
    allowed = set()
    for entry in entries or ():
        netloc = _NETLOC.match(str(entry).strip().lower())
        host = _host(netloc["host"]) if netloc else None
        if host is not None:
            allowed.add((host[0], int(netloc["port"]) if netloc["port"] else None))
    return allowed


def is_allowed(endpoint: Endpoint, entries) -> bool:
    allowed = allow_list(entries)
    return ((endpoint.host, endpoint.port) in allowed
            or (endpoint.port == DEFAULT_PORTS[endpoint.scheme] and (endpoint.host, None) in allowed))


def check_config(config, allowed_hosts, *, require_url: bool = True) -> dict:
    """The call parameters a version keeps (url, timeoutMs, traits; never the secret). A draft's config may
    still lack its url (`require_url=False`); what it has must already be valid."""
    config = config or {}
    if "headers" in config:
        raise EndpointConfigError("config.headers", "config.headers is not supported; put the Authorization "
                                                    "header's value in config.authorization")
    url = config.get("url")
    if url is not None or require_url:
        endpoint = parse_url(url)
        if not is_allowed(endpoint, allowed_hosts):
            raise EndpointConfigError(
                "config.url", f"{endpoint.label} is not allowed; an operator adds it (host:port) to "
                              "EXTERNAL_ENDPOINT_ALLOWED_HOSTS")
    timeout = config.get("timeoutMs", DEFAULT_TIMEOUT_MS)
    low, high = TIMEOUT_MS
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
        raise EndpointConfigError("config.timeoutMs", f"config.timeoutMs must be a whole number of milliseconds "
                                                      f"from {low} to {high} (the deadline of the whole call)")
    traits = config.get("traits") or ["score"]
    if not isinstance(traits, list) or not all(isinstance(t, str) and t for t in traits):
        raise EndpointConfigError("config.traits", "config.traits must be a list of the trait names the "
                                                   "endpoint returns")
    secret = config.get("authorization")
    if secret not in (None, "") and (not isinstance(secret, str) or len(secret) > MAX_SECRET_LENGTH
                               or any(not " " <= ch <= "~" for ch in secret) or secret == SECRET_SHOWN):
        raise EndpointConfigError("config.authorization", "config.authorization must be the Authorization "
                                                          f"header's value: at most {MAX_SECRET_LENGTH} printable "
                                                          "ASCII characters")
    return {"url": url, "timeoutMs": timeout, "traits": traits}


def shown_config(config):
    """The config as the API, the pages and the audit show it: secrets masked, never echoed."""
    if not isinstance(config, dict):
        return config
    return {k: (SECRET_SHOWN if k in SECRET_KEYS and v else v) for k, v in config.items()}


def secrets_kept(config, stored):
    """A config sent back as it was shown keeps the stored secrets: the mask means "unchanged"."""
    if not isinstance(config, dict) or not isinstance(stored, dict):
        return config
    return {k: (stored[k] if k in SECRET_KEYS and v == SECRET_SHOWN and stored.get(k) else v)
            for k, v in config.items()}


# ------------------------------------------------------------------ calling an address that was checked


def blocked(address) -> bool:
    """Link-local, multicast, unspecified or reserved: cloud metadata services answer on link-local addresses,
    and no endpoint or receiver an operator means lives there."""
    plain = getattr(address, "ipv4_mapped", None) or address
    return plain.is_link_local or plain.is_multicast or plain.is_unspecified or plain.is_reserved


def resolve(endpoint: Endpoint) -> tuple[int, tuple, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The one lookup of the name: (family, socket address, address) to check and then connect to.
    Raises OSError (or UnicodeError) when the name does not resolve."""
    infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{endpoint.host} did not resolve")
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr, ipaddress.ip_address(sockaddr[0].split("%")[0])


class PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the address that was resolved and checked; the name goes only into Host and, for https, SNI
    and the certificate check, so a second lookup cannot send the call elsewhere. `timeout()` gives the seconds
    each step may take (a fixed figure, or what is left of a deadline)."""

    def __init__(self, endpoint: Endpoint, family: int, sockaddr: tuple, *, timeout: Callable[[], float],
                 tls_context: ssl.SSLContext | None = None):
        super().__init__(sockaddr[0], endpoint.port, timeout=timeout())
        self._endpoint, self._family, self._sockaddr = endpoint, family, sockaddr
        self._timeout, self._tls_context = timeout, tls_context

    def connect(self):
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._timeout())
            sock.connect(self._sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._endpoint.scheme == "https":
                sock.settimeout(self._timeout())
                context = self._tls_context or ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self._endpoint.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
