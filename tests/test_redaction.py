from jp1notify.redaction import REDACTED, redact


def test_known_secret_and_its_path_are_redacted():
    url = "http://127.0.0.1:8080/custom/hook/abcdef123456"
    text = f"failed {url} and again /custom/hook/abcdef123456"
    assert redact(text, [url]) == f"failed {REDACTED} and again {REDACTED}"


def test_secret_shapes_are_redacted_even_when_unknown():
    text = (
        "see https://hooks.slack.com/services/T0AAA/B0BBB/ccccDDDD and /services/T1/B2/xyz "
        "token xoxb-1234-abcd proxy http://user:pa55@proxy:8080"
    )
    out = redact(text)
    for secret in ("T0AAA", "/services/T1/B2/xyz", "xoxb-1234", "user:pa55"):
        assert secret not in out
    assert "proxy:8080" in out


def test_plain_text_is_untouched():
    assert redact("jobnet /PROD/NET ended abnormally", ["https://x/services/a/b/c"]) == (
        "jobnet /PROD/NET ended abnormally"
    )


def test_a_secret_is_redacted_in_every_form_a_server_may_echo_it():
    from urllib.parse import quote

    url = "https://example.invalid/workflows/abc/triggers/manual?api=1&sig=SiGnAtUrE0123456789xyz"
    hook = "http://127.0.0.1:5555/services/T0FAKE/B0FAKE/XyZsecretToken0123456789"
    proxy = "http://bob:s3cretpw@proxy.example:8080"
    echoes = [
        hook,
        quote(hook, safe=""),  # in a query string
        quote(hook),
        hook.replace("/", "\\/"),  # in JSON
        hook.split("://")[1],  # without the scheme
        "XyZsecretToken0123456789",  # the token alone
        "sig=SiGnAtUrE0123456789xyz",
        quote(url, safe=""),
        "user bob:s3cretpw",
        "password s3cretpw",
    ]
    for echo in echoes:
        out = redact(f"error: {echo} (end)", [url, hook, proxy])
        for secret in ("XyZsecretToken0123456789", "SiGnAtUrE0123456789xyz", "s3cretpw"):
            assert secret not in out, (echo, out)
        assert out.startswith("error: ") and out.endswith(" (end)")


def test_a_secret_inside_base64_is_redacted_whatever_surrounds_it():
    import base64

    hook = "http://127.0.0.1:5555/services/T0FAKE/B0FAKE/XyZsecretToken0123456789"
    proxy = "http://jp1user:Pr0xyPassw0rdZZ@proxy.example:3128"
    for before in ("", "a", "ab", "blocked url="):
        for secret in (hook, "jp1user:Pr0xyPassw0rdZZ"):
            echoed = base64.b64encode(f"{before}{secret} and more".encode()).decode()
            out = redact(f"page {echoed}", [hook, proxy])
            assert REDACTED in out
            for kept in out.replace(REDACTED, " ").split():
                decoded = base64.b64decode(kept + "===", validate=False) if kept != "page" else b""
                assert b"secretToken" not in decoded and b"Passw0rd" not in decoded


def test_credentials_of_an_auth_header_and_of_proxy_variables():
    from jp1notify.redaction import proxy_secrets

    assert redact("Authorization: Basic am9objpzZWNyZXQ=") == f"Authorization: Basic {REDACTED}"
    assert "tok3n" not in redact("proxy said: bearer abc.tok3n-123456")
    environ = {"https_proxy": "http://u:pw123456@p:8080", "HTTP_PROXY": "http://p:8080", "X": "@"}
    assert proxy_secrets(environ) == ["http://u:pw123456@p:8080"]
    assert "pw123456" not in redact("upstream failed for u:pw123456", proxy_secrets(environ))
