"""TLS trust: which certificate authorities vouch for a destination's certificate.

The operating system's trust store, through truststore (0.10): on the JP1 host the Windows
certificate store (CryptoAPI), on macOS the keychain, on Linux OpenSSL's default locations,
which honour SSL_CERT_FILE and SSL_CERT_DIR. So a TLS-inspecting proxy whose CA the company
already deployed to its Windows machines is trusted with no setting at all; `http.ca_file` adds
a CA for the rest (a proxy CA that is not in the store).

`http.ca_file` is added to the operating system's store, never instead of it, on every platform
(truststore 0.10.5 source, src/truststore/):
- Linux (_openssl.py `_configure_context`): every connection loads OpenSSL's default locations
  into the same context that `load_verify_locations` loaded the file into;
- Windows (_windows.py `_verify_peercerts_impl`): the chain is built with the system roots
  first; only if that fails, again with a chain engine whose roots are the context's own CAs
  (`_verify_using_custom_ca_certs`);
- macOS (_macos.py): the file's CAs become anchors with `SecTrustSetAnchorCertificatesOnly(
  trust, False)`, "We always want system certificates".

If truststore cannot be used here (left out of a build; an old Windows whose crypt32 lacks a
function it calls), TLS is verified as before it: certifi's CA bundle through httpx (or
SSL_CERT_FILE/SSL_CERT_DIR), plus `http.ca_file`, with one warning line. Refusing to build a
client instead would hold every alert; certifi still verifies Slack's own certificate, so only
a proxy CA that is nowhere but in the system store goes unseen.

truststore is imported only when an HTTPS client is made (about 4 ms after httpx on Linux,
more on Windows with ctypes): never for plain-http loopback, never by a process that only
records its event.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import ssl


class Trust(NamedTuple):
    context: ssl.SSLContext
    store: str  # the trust anchors, in an operator's words (check-config)
    problem: str | None  # why the operating system's store is not used; None when it is


def load(ca_file: str | None) -> Trust:
    """The TLS context that verifies destinations: the OS trust store plus `ca_file` if set. A
    `ca_file` that is not a PEM certificate raises (ssl.SSLError, OSError): the caller says so."""
    try:
        context = _os_store_context()
        store, problem = os_store_name(), None
    except Exception as exc:  # noqa: BLE001 - any failure here falls back, never loses an alert
        problem = f"{type(exc).__name__}: {exc}"
        context, store = _fallback_context()
        _warn_once(
            f"jp1notify: the operating system's trust store cannot be used ({problem}); "
            f"verifying TLS with {store} instead, where a proxy's CA in the system store is not "
            "seen: set http.ca_file to it if needed (docs/operators.md, TLS-inspecting proxies)"
        )
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
        store += f", plus http.ca_file {ca_file}"
    return Trust(context, store, problem)


def _os_store_context() -> ssl.SSLContext:
    import ssl

    import truststore

    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _fallback_context() -> tuple[ssl.SSLContext, str]:
    """What jp1notify verified with before truststore: httpx's choice (SSL_CERT_FILE, else
    SSL_CERT_DIR, else certifi's bundle)."""
    import httpx

    if os.environ.get("SSL_CERT_FILE"):
        store = f"SSL_CERT_FILE {os.environ['SSL_CERT_FILE']}"
    elif os.environ.get("SSL_CERT_DIR"):
        store = f"SSL_CERT_DIR {os.environ['SSL_CERT_DIR']}"
    else:
        store = "certifi's CA bundle"
    return httpx.create_ssl_context(trust_env=True), store


def os_store_name() -> str:
    """The operating system's trust store as truststore reads it here, in an operator's words."""
    if sys.platform == "win32":
        return "the Windows certificate store (Trusted Root Certification Authorities)"
    if sys.platform == "darwin":
        return "the macOS keychain"
    import ssl

    paths = ssl.get_default_verify_paths()  # existing paths only; SSL_CERT_FILE/_DIR first
    found = [f"file {paths.cafile}"] if paths.cafile else []
    found += [f"folder {paths.capath}"] if paths.capath else []
    where = ", ".join(found) or "none at OpenSSL's default locations"
    return f"the system trust store (OpenSSL: {where})"


@functools.cache
def _warn_once(line: str) -> None:
    """One line on stderr per process (JP1 keeps a job's stderr), however many clients are made."""
    print(line, file=sys.stderr)
