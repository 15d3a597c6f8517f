"""Where HomeConsent may send a browser or a webhook on a telehealth app's behalf.

An app registers return URLs and a webhook URL; the server posts to the webhook itself. Unless
settings.CONSENT_APP_URLS_ALLOW_LOCAL (on in the embedded default, for test receivers on 127.0.0.1;
off in production) or DEBUG, those URLs must be https to a public host: no loopback, private,
link-local or otherwise non-global address, neither written in the URL (checked at registration)
nor resolved from its name (checked when the webhook is sent, on the very address connected to, so
a name that re-resolves elsewhere between check and connect gains nothing).
"""

import http.client
import ipaddress
import socket
import urllib.request

from django.conf import settings

from homeconsent.errors import ErrorCode

APP_URL_NOT_PUBLIC = ErrorCode(
    "telehealth_app_url_not_public",
    "URL「{url}」は使えません。インターネットから届く https の URL を指定してください"
    "（localhost・127.0.0.1・社内向け（プライベート）アドレスは使えません）。",
    "URL '{url}' cannot be used: give an https URL reachable from the internet "
    "(not localhost, a loopback or a private address).",
)


class AddressNotPublic(OSError):
    """The webhook host resolved to an address HomeConsent does not post to."""


def local_allowed() -> bool:
    return bool(settings.DEBUG or settings.CONSENT_APP_URLS_ALLOW_LOCAL)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_public_host(host: str) -> bool:
    """False for localhost names and literal non-global addresses; names are judged at send time."""
    host = (host or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return is_public_address(host)
    except ValueError:
        return True  # a name: resolved and checked when posting


def public_address(host: str, port: int) -> tuple:
    """The first resolved address of host:port, refused unless every resolved address is public."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    refused = [info[4][0] for info in infos if not is_public_address(info[4][0])]
    if refused or not infos:
        raise AddressNotPublic(f"{host} resolves to a non-public address ({', '.join(refused) or 'none'})")
    return infos[0]


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address while verifying the certificate for the host name."""

    def connect(self):
        family, socktype, proto, _, address = public_address(self.host, self.port)
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(self.timeout)
            sock.connect(address)
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class PublicHTTPSHandler(urllib.request.HTTPSHandler):
    """https only, to public addresses only (http:// has no handler here, so it fails)."""

    def https_open(self, req):
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)


def public_only_opener(*handlers):
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        PublicHTTPSHandler(),
        *handlers,
    ):
        opener.add_handler(handler)
    return opener
