"""check_webhook_url and check_proxy_url: every URL httpx or the socket layer would refuse is
refused first, with a phrase that never contains the URL (a secret).

The tables are checked against reality: each URL in REFUSED_BY_HTTPX_OR_SOCKET must really be
refused by httpx (building the request) or by the socket layer (the `idna` codec that
getaddrinfo applies to a host name, the port range of bind/connect), without any network.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import idna
import pytest

from jp1notify.config import check_proxy_url, check_webhook_url

HOOK = "https://hooks.slack.com/services/T0123/B0123/abcDEF123"
LONG_JAPANESE_HOST = ".".join(["例え"] * 25) + ".jp"  # 25 labels of 12 characters once encoded

# url -> the phrase check_webhook_url must give
REFUSED_BY_HTTPX_OR_SOCKET = {
    "https://hooks..slack.com/services/T/B/x": "has an empty name between dots in its host",
    "https://.hooks.slack.com/services/T/B/x": "has an empty name between dots in its host",
    f"https://{'a' * 64}.slack.com/x": "has a name longer than 63 characters",
    HOOK + "\x01": "has a space or control character",
    HOOK + "\x7f": "has a space or control character",
    HOOK + "\n": "has a space or control character",
    "https://hooks.slack.com\t/services/T/B/x": "has a space or control character",
    "https://hooks.slack\x00.com/x": "has a space or control character",
    "https://ほげ\u200b.com/x": "has a space or control character",
    "https://ab\xadc.com/x": "has a space or control character",
    "https://hooks.slack.com:99999/services/T/B/x": "has an invalid port",
    "https://hooks.slack.com:65536/x": "has an invalid port",
    "https://hooks.slack.com:abc/services/T/B/x": "has an invalid port",
    "https://hooks.slack.com:-1/x": "has an invalid port",
    "https://[::1/x": "IPv6",
    "https://[::zz]/x": "IPv6",
    "https://1.2.3.999/x": "invalid IPv4 address",
    "https://xn--/x": "invalid 'xn--' (IDNA) name",
    "https://xn--zz.com/x": "invalid 'xn--' (IDNA) name",
    "https://xn--a.com/x": "invalid 'xn--' (IDNA) name",
    "https://Ⅷ.com/x": "IDNA cannot encode",
    "https://ＡＢＣ.com/x": "IDNA cannot encode",
    "https://例え-.jp/x": "IDNA cannot encode",
    "https://♥.jp/x": "IDNA cannot encode",
    f"https://{''.join(chr(0x4E00 + 37 * i) for i in range(30))}.jp/x": "IDNA cannot encode",
    f"https://{LONG_JAPANESE_HOST}/x": "longer than 253 characters",
    "https://hooks.slack.com\u3000/x": "has a space or control character",
}

# Refused on purpose although httpx would send them: they cannot reach Slack or be looked up.
REFUSED_BY_POLICY = {
    "http://hooks.slack.com/services/T/B/x": "must start with https://",  # no TLS
    "hooks.slack.com/services/T/B/x": "must start with https://",
    "ftp://hooks.slack.com/x": "must start with https://",
    "": "must start with https://",
    "https:///services/T/B/x": "has no host name",
    "https://hooks.slack.com/serv ices/T/B/x": "has a space or control character",  # a 404
    "https://hooks.slack.com:0/x": "has an invalid port",  # nothing listens on port 0
    "https://" + ".".join(["a" * 60] * 5) + "/x": "longer than 253 characters",  # RFC 1035
    "https://hooks\\slack.com/x": "cannot be in a host name",
    "https://a%20b.com/x": "cannot be in a host name",
    "https://-hooks.slack.com/x": "starts or ends with '-'",
    "https://ß.com/x": "IDNA cannot encode",  # ss (IDNA 2003) or xn--zca (IDNA 2008)?
}

GOOD = [
    HOOK,
    "https://hooks.slack.com:443/services/T/B/x",
    "https://HOOKS.Slack.COM/services/T/B/x",
    "https://hooks.slack.com./services/T/B/x",
    "https://hooks.slack.com/services/T/B/x?a=b#c",
    "http://127.0.0.1:8080/services/T/B/x",
    "http://localhost:1/x",
    "http://[::1]:8080/x",
    "https://[2001:db8::1]/x",
    "https://192.0.2.1/x",
    "https://a-b_c.example.com/x",
    "https://例え.jp/services/x",
    "https://xn--r8jz45g.jp/services/x",
    "https://日本語.テスト/x",
    "https://hooks.slack.com:/x",
]


CLIENT = httpx.Client()  # builds requests only; never sends


def refusal(url: str) -> str | None:
    """How httpx or the socket layer refuses `url` before any packet is sent, or None."""
    try:
        request = CLIENT.build_request("POST", url)
    except (httpx.InvalidURL, idna.IDNAError, UnicodeError) as exc:
        return f"httpx: {exc}"
    host = request.url.raw_host.decode("ascii")
    try:
        host.encode("idna")  # what socket.getaddrinfo does with a host name
    except UnicodeError as exc:
        return f"socket idna codec: {exc}"
    port = request.url.port
    if port is not None:
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
        except OverflowError as exc:
            return f"socket port: {exc}"
    return None


@pytest.mark.parametrize(("url", "phrase"), REFUSED_BY_HTTPX_OR_SOCKET.items())
def test_what_httpx_or_the_socket_layer_refuses_is_refused_first(url, phrase):
    assert refusal(url), "not refused by httpx or the socket layer: move it to REFUSED_BY_POLICY"
    problem = check_webhook_url(url)
    assert problem and phrase in problem
    assert url not in problem and "slack.com" not in problem


@pytest.mark.parametrize(("url", "phrase"), REFUSED_BY_POLICY.items())
def test_urls_that_cannot_reach_slack_are_refused(url, phrase):
    problem = check_webhook_url(url)
    assert problem and phrase in problem
    assert not url or url not in problem


def test_a_host_over_253_characters_is_refused_by_idna_too():
    host = ".".join(["a" * 60] * 5)
    with pytest.raises(idna.IDNAError):
        idna.encode(host)


@pytest.mark.parametrize("url", GOOD)
def test_good_urls_pass_and_httpx_takes_them(url):
    assert check_webhook_url(url) is None
    assert refusal(url) is None


def test_no_accepted_host_character_is_refused_by_httpx():
    """Every character allowed in a host name, as written and as an xn-- label, is one that
    httpx and the idna codec accept. (A sample; the whole of Unicode was checked once.)"""
    accepted = 0
    for code in [*range(0x21, 0xD800, 3), *range(0xE000, 0x10000, 3), *range(0x10000, 0x30000, 97)]:
        label = f"a{chr(code)}b"
        if check_webhook_url(f"https://{label}.example.jp/x") is not None:
            continue
        accepted += 1
        assert refusal(f"https://{label}.example.jp/x") is None, f"U+{code:04X} refused by httpx"
        if not label.isascii():
            a_label = f"https://{label.encode('idna').decode()}.example.jp/x"
            assert check_webhook_url(a_label) is None and refusal(a_label) is None, a_label
    assert accepted > 10000  # letters of many scripts remain usable


def test_url_checks_import_neither_httpx_nor_pydantic():
    probe = (
        "import sys; from jp1notify.config import check_webhook_url; "
        "check_webhook_url('https://例え.jp/services/x'); "
        "print(sorted(m for m in ('httpx', 'pydantic', 'idna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("proxy", "phrase"),
    [
        ("socks5://proxy.corp.test:1080", "SOCKS proxy"),
        ("proxy.corp.test:8080", "must start with http:// or https://"),
        ("http://proxy..corp.test:8080", "empty name between dots"),
        ("http://proxy.corp.test:80800", "invalid port"),
        ("http://user:pa#ss@proxy.corp.test:8080", "%23"),
        ("http://proxy.corp.test:8080\n", "space or control character"),
    ],
)
def test_bad_proxy_urls(proxy, phrase):
    problem = check_proxy_url(proxy)
    assert problem and phrase in problem
    assert "pa#ss" not in problem and "proxy.corp" not in problem


@pytest.mark.parametrize(
    "proxy",
    [
        "http://proxy.corp.test:8080",
        "https://proxy.corp.test",
        "http://user:p%40ss@proxy.corp.test:8080",
        "http://127.0.0.1:3128",
    ],
)
def test_good_proxy_urls(proxy):
    assert check_proxy_url(proxy) is None
    httpx.Proxy(proxy)  # and httpx takes it
