"""`send --set NAME=VALUE` (and --set-b64, --set-url): the event on the command line, as JP1/IM
automated actions and JP1/Base local actions hand it over (actionargs.py). Pure parts, then
`cli.main` in-process, then the installed command against the fake Slack. Under Wine's cmd.exe:
tests/test_windows_actions.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from jp1notify.actionargs import (
    Encoding,
    Setting,
    decode,
    event_from_settings,
    parse_setting,
)
from jp1notify.cli import main
from jp1notify.errors import EventError, SettingError
from jp1notify.event import describe_problems

from conftest import clean_env, run

UNIT_MESSAGE = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/日次:@A100)が異常終了しました"
HOSTILE = {
    "quotes": 'say "no" and \'yes\' "',
    "percent": "%PATH% %%PATH%% %~dp0 %1",
    "shell": "a & b | c < d > e ^ f && g || h `id` $(id) ; rm -rf x",
    "japanese": "ジョブネット（全角）が異常終了しました ①",
    "equals": "a=b==c=",
    "newline": "line one\nline two\r\nline three",
}


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode("ascii")


def settings(**values: str) -> list[Setting]:
    return [parse_setting(f"{name}={value}", Encoding.PLAIN) for name, value in values.items()]


# -- parsing NAME=VALUE ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EVMSG=a=b=c", Setting("EVMSG", "a=b=c", Encoding.PLAIN)),
        ("evmsg=x", Setting("EVMSG", "x", Encoding.PLAIN)),
        ("EVID=", Setting("EVID", "", Encoding.PLAIN)),
        ("EVENV3=grp", Setting("EVENV3", "grp", Encoding.PLAIN)),
        ("ev:OBJECT_NAME=/a/b", Setting("EV:OBJECT_NAME", "/a/b", Encoding.PLAIN)),
        ("EVPROCESSID=-1", Setting("EVPROCESSID", "-1", Encoding.PLAIN)),
    ],
)
def test_a_setting_splits_at_the_first_equals_sign(text, expected):
    assert parse_setting(text, Encoding.PLAIN) == expected


@pytest.mark.parametrize(
    "name", ["EVPID", "PATH", "AJSEXECID", "EVENV0", "EVENV10", "EV:", "EV:a b", "ＥＶＩＤ", ""]
)
def test_a_name_jp1notify_does_not_read_is_refused_with_the_allowed_ones(name):
    with pytest.raises(SettingError) as caught:
        parse_setting(f"{name}=x", Encoding.PLAIN)
    assert "allowed: EVID, EVMSG, EVDATE" in str(caught.value)
    assert "EV:<extended attribute>" in str(caught.value)


def test_a_setting_without_an_equals_sign_is_refused():
    with pytest.raises(SettingError, match="expected NAME=VALUE, found 'EVMSG'"):
        parse_setting("EVMSG", Encoding.BASE64)


# -- decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*HOSTILE.values(), UNIT_MESSAGE, ""])
def test_base64_and_url_encoding_give_back_the_text(text):
    for encoding, encoded in ((Encoding.BASE64, b64(text)), (Encoding.URL, quote(text, safe=""))):
        assert decode(Setting("EVMSG", encoded, encoding)) == (text, None)


def test_base64_tolerates_url_safe_letters_missing_padding_and_white_space():
    text = "ジョブ>>??~~"
    standard = b64(text)
    urlsafe = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    assert "-" in urlsafe or "_" in urlsafe
    assert decode(Setting("EVMSG", urlsafe, Encoding.BASE64))[0] == text
    spaced = " ".join(standard[i : i + 4] for i in range(0, len(standard), 4))
    assert decode(Setting("EVMSG", spaced, Encoding.BASE64))[0] == text


def test_url_encoding_reads_plus_as_a_space():
    assert decode(Setting("EVMSG", quote_plus("a + b"), Encoding.URL))[0] == "a + b"


@pytest.mark.parametrize(
    ("encoding", "value", "words"),
    [
        (Encoding.BASE64, UNIT_MESSAGE, "Base64"),  # JP1 passed it unencoded
        (Encoding.BASE64, "abcde", "Base64"),  # one character too many
        (Encoding.BASE64, "$EVMSG", "Base64"),  # the variable was not substituted
        (Encoding.URL, "100% sure", "URL encoding"),
        (Encoding.URL, "%E3%8", "URL encoding"),
    ],
)
def test_a_value_that_does_not_decode_is_kept_as_it_came_with_a_note(encoding, value, words):
    decoded, problem = decode(Setting("EVMSG", value, encoding))
    assert decoded == value
    assert problem is not None and (problem.code, problem.var, problem.value) == (
        "not_decoded",
        "EVMSG",
        words,
    )


def test_cp932_bytes_decode_like_a_windows_environment():
    event = event_from_settings([Setting("EVMSG", b64(UNIT_MESSAGE, "cp932"), Encoding.BASE64)])
    assert event.message == UNIT_MESSAGE
    assert event.unit.path == "/PROD/日次"
    assert not event.problems


def test_bytes_neither_utf8_nor_cp932_become_replacement_characters_with_a_note():
    garbage = base64.b64encode(b"KAVS0262-E \x81 \x81 end").decode()
    event = event_from_settings([Setting("EVMSG", garbage, Encoding.BASE64)])
    assert event.message is not None and "\ufffd" in event.message
    assert [p.code for p in event.problems] == ["bad_bytes", "no_unit"]


# -- the event ---------------------------------------------------------------------------------


def test_the_event_is_parsed_as_from_the_environment():
    event = event_from_settings(
        [
            *settings(EVID="00004104:00000000", EVDATE="2026/11/22", EVTIME="02:13:05"),
            Setting("EVHOST", "jp1mgr01", Encoding.PLAIN),
            Setting("EVMSG", b64(UNIT_MESSAGE), Encoding.BASE64),
        ]
    )
    assert (event.event_id, event.extended_id, event.host) == ("4104", "0000", "jp1mgr01")
    assert event.unit.path == "/PROD/日次" and event.unit.exec_id == "@A100"
    assert event.dedup_key == "|".join(
        ["4104", "jp1mgr01", "AJSROOT1", "/PROD/日次", "@A100", "2026/11/22", "02:13:05"]
    )
    assert event.missing == ("EVIPADDR",)


def test_the_first_setting_of_a_name_wins_and_a_repeat_is_noted():
    event = event_from_settings(
        [
            Setting("EVMSG", b64(UNIT_MESSAGE), Encoding.BASE64),
            Setting("EVMSG", "not base64!", Encoding.BASE64),
            *settings(EVID="4104:0"),
        ]
    )
    assert event.message == UNIT_MESSAGE
    assert [(p.code, p.value) for p in event.problems] == [
        ("stray_words", "--set-b64 EVMSG=not base64!")
    ]


def test_ten_kilobytes_are_cut_at_jp1s_limit_with_a_note():
    event = event_from_settings(settings(EVID="4104:0", EVMSG="x" * 10240))
    assert event.message == "x" * 1023
    assert [(p.code, p.value) for p in event.problems] == [("cut", "10240"), ("no_unit", None)]


def test_without_evid_and_evmsg_the_error_speaks_of_the_command_line():
    with pytest.raises(EventError, match=r"no JP1 event on the command line.*--set EVID=\$EVID"):
        event_from_settings(settings(EVID="", EVMSG="  ", EVHOST="h"))


def test_stray_words_are_a_note_in_both_languages():
    event = event_from_settings(settings(EVID="4104:0", EVMSG="it"), ["s", "fine", "now"])
    assert event.problems[-1].code == "stray_words"
    assert "words outside any --set: 's fine now'" in describe_problems(event, "en")[-1]
    assert "--set 以外の語がありました: 「s fine now」" in describe_problems(event, "ja")[-1]
    not_decoded = event_from_settings([Setting("EVMSG", "%zz", Encoding.URL)])
    assert describe_problems(not_decoded, "en")[-1] == (
        "EVMSG is not valid URL encoding; it is shown as it came"
    )
    assert describe_problems(not_decoded, "ja")[-1].startswith("EVMSG は URL encoding として")


# -- cli.main in-process -----------------------------------------------------------------------

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[[routes]]
destination = "alerts"
"""
HOOK = "https://hooks.slack.com/services/T0000/B0000/notarealsecretatall"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "jp1notify.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def dry_run(config: Path, capsys, *args: str, **environ: str) -> dict:
    code = main(["--dry-run", "--config", str(config), *args], {"HOOK_ALERTS": HOOK, **environ})
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_set_wins_over_the_environment_which_is_ignored_entirely(config, capsys):
    environ = {"EVID": "4107:0", "EVMSG": "from the environment", "EVHOST": "envhost"}
    report = dry_run(config, capsys, "--set", "EVID=4104:0", "--set", "EVMSG=cli", **environ)
    assert report["event"]["event_id"] == "4104"
    assert report["event"]["message"] == "cli"
    assert report["event"]["host"] is None  # not taken from the environment either
    without = dry_run(config, capsys, **environ)
    assert without["event"]["message"] == "from the environment"


def test_the_three_options_mix_in_one_command_line(config, capsys):
    report = dry_run(
        config,
        capsys,
        "--set",
        "EVID=4104:0",
        "--set-url",
        "EVHOST=" + quote("mgr 01"),
        "--set-b64",
        "EVMSG=" + b64(UNIT_MESSAGE),
    )
    assert (report["event"]["host"], report["event"]["message"]) == ("mgr 01", UNIT_MESSAGE)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--set", "EVPID=1"], "argument --set: 'EVPID' is not a JP1 event variable"),
        (["--set-b64", "EVMSG"], "argument --set-b64: expected NAME=VALUE"),
        (["--env-file", "x.env", "--set", "EVID=1"], "either by --set or by --env-file"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--set", "EVID=4104", "--dry"], None),  # no abbreviations: a stray word, not --dry-run
    ],
)
def test_usage_errors(config, capsys, args, said):
    code = main(["send", "--config", str(config), *args], {"HOOK_ALERTS": "not a url"})
    err = capsys.readouterr().err
    if said is None:  # sent (to a bad URL: a config error), not a dry run
        assert code == 78, err
        assert "1 word(s) outside any --set" in err
        return
    assert code == 64
    assert said in err


# -- the installed command and the fake Slack --------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, slack) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "jp1notify.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path, clean_env(HOOK_ALERTS=slack.url("alerts"))


def action(config: Path, *extra: str, time: str = "02:13:05") -> list[str]:
    """The command line a JP1/IM action definition gives, values already substituted."""
    return [
        "send",
        "--config",
        str(config),
        "--set",
        "EVID=00004104:00000000",
        "--set",
        "EVDATE=2026/11/22",
        "--set",
        f"EVTIME={time}",
        "--set",
        "EVHOST=jp1mgr01",
        *extra,
    ]


@pytest.mark.parametrize("option", ["--set", "--set-b64", "--set-url"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_values_arrive_at_slack_intact(site, slack, option, kind):
    config, env = site
    message = f"{UNIT_MESSAGE} {HOSTILE[kind]}"
    value = {"--set": message, "--set-b64": b64(message), "--set-url": quote(message)}[option]
    result = run(action(config, option, f"EVMSG={value}"), env)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    text = json.dumps(payload, ensure_ascii=False)
    assert "/PROD/日次" in text
    assert "<!" not in text.replace("<!channel>", "")  # event text made no mention
    send, *rest = action(config, option, f"EVMSG={value}")
    report = run([send, "--dry-run", *rest], env)  # options before the first --set
    assert json.loads(report.stdout)["event"]["message"] == message.strip()


def test_ten_kilobytes_empty_values_and_equals_signs(site, slack):
    config, env = site
    long = run(action(config, "--set", "EVMSG=" + UNIT_MESSAGE + "=" * 10240), env)
    assert long.returncode == 0, long.stderr
    empty = run(
        action(
            config, "--set", "EVIPADDR=", "--set-b64", "EVMSG=" + b64(UNIT_MESSAGE), time="03:00:00"
        ),
        env,
    )
    assert empty.returncode == 0, empty.stderr
    first, second = (json.dumps(p, ensure_ascii=False) for p in slack.payloads("alerts"))
    assert (
        f"EVMSG was cut to JP1's limit of 1023 characters (it had {len(UNIT_MESSAGE) + 10240})"
        in first
    )
    assert "missing: EVIPADDR" in second


def test_the_same_action_run_twice_is_sent_once(site, slack):
    config, env = site
    args = action(config, "--set-b64", "EVMSG=" + b64(UNIT_MESSAGE))
    assert run(args, env).returncode == 0
    again = run(args, env)
    assert again.returncode == 0, again.stderr
    assert len(slack.payloads("alerts")) == 1


def test_a_value_split_by_a_quote_is_still_sent_with_a_note(site, slack):
    config, env = site
    # What `--set "EVMSG=$EVMSG"` becomes when the message holds `" now "`: three words.
    result = run(action(config, "--set", f"EVMSG={UNIT_MESSAGE} it", "is", "fine"), env)
    assert result.returncode == 0, result.stderr
    assert "2 word(s) outside any --set" in result.stderr
    (payload,) = slack.payloads("alerts")
    assert "words outside any --set: 'is fine'" in json.dumps(payload, ensure_ascii=False)


def test_an_undecodable_value_is_still_sent_with_a_note(site, slack):
    config, env = site
    result = run(action(config, "--set-b64", f"EVMSG={UNIT_MESSAGE}"), env)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    text = json.dumps(payload, ensure_ascii=False)
    assert "EVMSG is not valid Base64; it is shown as it came" in text
    assert "/PROD/日次" in text


def test_an_unknown_name_is_a_usage_error_and_sends_nothing(site, slack):
    config, env = site
    result = run(action(config, "--set", "EVSEQNO=12"), env)
    assert result.returncode == 64
    assert "'EVSEQNO' is not a JP1 event variable jp1notify reads (allowed: EVID" in result.stderr
    assert slack.requests == 0
