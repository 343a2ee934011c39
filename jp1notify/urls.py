"""URL syntax: what httpx or the socket layer would refuse, found before anything is sent.

Webhook and proxy URLs come from operators (the config, a file, an environment variable).
httpx refuses some malformed URLs only when a request is built (a control character, a port
that is not a number, a bad `xn--` name), and the socket layer refuses others while connecting
(an empty or over-long DNS label fails in Python's `idna` codec, a port over 65535 in
connect()), so a bad URL would make every send fail. `url_problem` finds them with the standard
library only: httpx is not imported on the send path before something is actually sent.
Problems are phrases that never contain the URL: a webhook URL is a secret, a proxy URL may
carry a password.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 65536  # httpx._urlparse.MAX_URL_LENGTH
# RFC 1035 section 2.3.4: 63 octets per label, 255 octets on the wire, so 253 characters as text.
MAX_LABEL_LENGTH = 63
MAX_HOST_LENGTH = 253

# The authority after any user:password@ part: a host or [IPv6], then an optional :port.
_HOST_PORT = re.compile(r"(?P<host>\[[^\]]*\]|[^\[\]:]*)(?::(?P<port>[^:]*))?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # as httpx tells an IPv4 address
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+")
# IDNA 2008 (what httpx's `idna` package applies) allows lower-case letters, other letters,
# combining marks and decimal digits (RFC 5892 PVALID, roughly); Python's codec is IDNA 2003.
_IDNA_CATEGORIES = frozenset({"Ll", "Lo", "Lm", "Mn", "Mc", "Nd"})


def url_problem(url: str) -> str | None:
    """Why httpx or the socket layer would refuse `url`, as a phrase ("has an invalid port"),
    or None. The scheme is the caller's business: it has been checked before."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(char.isspace() or not char.isprintable() for char in url):
        return "has a space or control character (a stray line break, tab or blank?)"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        if "Port" in str(exc):
            return _INVALID_PORT
        return "has a '[' or ']' that does not enclose a valid IPv6 address in its host"
    authority = _HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2])
    if not authority:
        return "has a '[' or ']' that does not enclose a valid IPv6 address in its host"
    port = authority["port"]
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        return _INVALID_PORT
    return host_problem(authority["host"])


_INVALID_PORT = (
    "has an invalid port (after the host, ':' must be followed by a number from 1 to 65535)"
)


def host_problem(host: str) -> str | None:
    """Why a URL's host (as written, an IPv6 address in brackets) cannot be connected to."""
    import ipaddress  # already loaded by urllib.parse

    if not host:
        return "has no host name (like https://hooks.slack.com/...)"
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "has an invalid IPv6 address in its host"
        return None
    if _IPV4_STYLE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "has an invalid IPv4 address as its host"
        return None
    return name_problem(host.lower())


def name_problem(host: str) -> str | None:
    """Why a host name (lower case) would not survive IDNA encoding or DNS."""
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # a trailing dot: a fully qualified name
    encoded = []
    for label in labels:
        if not label:
            return "has an empty name between dots in its host"
        problem = label_problem(label)
        if problem:
            return problem
        encoded.append(label if label.isascii() else label.encode("idna").decode("ascii"))
    if len(".".join(encoded)) > MAX_HOST_LENGTH:
        return f"has a host name longer than {MAX_HOST_LENGTH} characters"
    return None


def label_problem(label: str) -> str | None:
    """Why one name between dots of a host is unusable, or None."""
    if not label.isascii():
        return _unicode_label_problem(label)
    if len(label) > MAX_LABEL_LENGTH:
        return f"has a name longer than {MAX_LABEL_LENGTH} characters between dots in its host"
    if not _ASCII_LABEL.fullmatch(label):
        return "has a character that cannot be in a host name (letters, digits, '-' and '.' only)"
    if label.startswith("xn--"):  # an IDNA A-label: httpx decodes it
        return _a_label_problem(label)
    if label.startswith("-") or label.endswith("-"):
        return "has a name that starts or ends with '-' in its host"
    return None


def _a_label_problem(label: str) -> str | None:
    try:
        unicode = label.encode("ascii").decode("idna")
    except UnicodeError:
        return "has an invalid 'xn--' (IDNA) name in its host"
    if unicode.isascii() or _unicode_label_problem(unicode):
        return "has an invalid 'xn--' (IDNA) name in its host"
    return None


def _unicode_label_problem(label: str) -> str | None:
    """A non-ASCII label must be valid for both IDNA 2003 (Python's codec, used by the socket
    layer) and IDNA 2008 (httpx), so it must need no mapping: the codec's round trip gives it
    back unchanged, and it holds only letters, marks, digits and inner hyphens."""
    refused = "has a non-ASCII name that IDNA cannot encode in its host; write the host in ASCII"
    if not all(map(_idna_character, label)) or not _idna_2008_label(label):
        return refused
    try:
        if label.encode("idna").decode("idna") != label:
            return refused
    except UnicodeError:  # prohibited by nameprep, bidi rules, or over 63 octets encoded
        return refused
    return None


# RFC 5892: 2.6 (exceptions: DISALLOWED), 2.9 (old Hangul jamo), 2.4 (default ignorable
# code points), 2.5 (ignorable blocks).
_DISALLOWED = (  # compiled on first use (re's cache): only non-ASCII host names need it
    "[\u0640\u07fa\u302e\u302f\u3031-\u3035\u303b\u1100-\u11ff\ua960-\ua97f"
    "\ud7b0-\ud7ff\u20d0-\u20ff\u034f\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U0001d100-\U0001d24f]"
)


def _idna_character(char: str) -> bool:
    """A character IDNA 2008 may allow (roughly RFC 5892 PVALID) that IDNA 2003 knows."""
    import unicodedata

    if char == "-":
        return True
    return (
        unicodedata.category(char) in _IDNA_CATEGORIES
        and unicodedata.ucd_3_2_0.category(char) != "Cn"  # Python's codec uses Unicode 3.2
        and not re.match(_DISALLOWED, char)
    )


def _idna_2008_label(label: str) -> bool:
    """The label rules of IDNA 2008 (RFC 5891 section 4.2.3, RFC 5892 "Unstable")."""
    import unicodedata

    return (
        not (label.startswith("-") or label.endswith("-") or label[2:4] == "--")
        and not unicodedata.category(label[0]).startswith("M")
        and unicodedata.normalize("NFKC", label.casefold()) == label
        and _bidi_ok(label)
    )


_RTL = frozenset({"R", "AL"})
_RTL_ALLOWED = frozenset({"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})
_LTR_ALLOWED = frozenset({"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})


def _bidi_ok(label: str) -> bool:
    """The Bidi rule of IDNA 2008 (RFC 5893 section 2) for a label with right-to-left
    characters: all of one direction, a proper first and last character, one kind of digits."""
    import unicodedata

    kinds = [unicodedata.bidirectional(c) for c in label]
    if not any(k in ("R", "AL", "AN") for k in kinds):
        return True
    rtl = kinds[0] in _RTL
    if not rtl and kinds[0] != "L":
        return False
    allowed, endings = (
        (_RTL_ALLOWED, ("R", "AL", "EN", "AN")) if rtl else (_LTR_ALLOWED, ("L", "EN"))
    )
    last = next((k for k in reversed(kinds) if k != "NSM"), "")
    return all(k in allowed for k in kinds) and last in endings and not {"AN", "EN"} <= set(kinds)
