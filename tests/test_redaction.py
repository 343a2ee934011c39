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
