"""Runbooks: their config errors, placeholder expansion with hostile event values, and how they
appear in the Slack message (escaped, within Slack's limits)."""

from __future__ import annotations

import re

import pytest

from jp1notify.classify import classify
from jp1notify.config import ConfigError
from jp1notify.event import parse_event
from jp1notify.guidance import (
    ContextResult,
    expand,
    parse_template,
    placeholder_values,
    runbooks_for,
)
from jp1notify.message import MESSAGE_LIMIT, render

from conftest import MINIMAL, make_config

RUNBOOK = """
[[runbooks]]
units = ["/PROD/NIGHTLY/**"]
text = "Check the input file. Rerun from the failed job: ajsrerun -F {service} -a {jobnet}:{exec_id}"
url = "https://wiki.example.co.jp/jp1/nightly"
"""


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_config(MINIMAL + extra)
    return info.value.problems


def event(message: str, **values: str):
    env = {"EVID": "4107:0", "EVMSG": message, "EVDATE": "2026/11/22", "EVTIME": "02:13:05"}
    env.update({"EVHOST": "jp1mgr01", **values})
    return parse_event(env)


JOB_FAILED = event("KAVS0265-E job (AJSROOT1:/PROD/NIGHTLY/LOAD/JOB1:@A100) ended abnormally")


def guidance_text(config, ev, context: str | None = None, language: str = "en") -> str | None:
    rendered = render(ev, classify(ev, config), "route #1", (), language, config, context)
    attachments = rendered.payload["attachments"]
    return attachments[1]["text"] if len(attachments) > 1 else None


# -- config ------------------------------------------------------------------------------------


def test_the_issue_examples_are_a_valid_config():
    config = make_config(
        MINIMAL
        + RUNBOOK
        + """
[context]
command = ["ajsshow", "-F", "{service}", "-g", "1", "-R", "{jobnet}"]
levels = ["error"]
timeout_seconds = 5
max_lines = 15
"""
    )
    assert config.runbooks[0].url == "https://wiki.example.co.jp/jp1/nightly"
    assert config.context.command[-1] == "{jobnet}" and config.context.levels == {"error"}


def test_an_unknown_placeholder_names_the_key_and_the_known_ones():
    found = problems('[[runbooks]]\ntext = "a"\n[[runbooks]]\ntext = "rerun {jobnt}"\n')
    assert found == [
        "runbooks #2 text: unknown placeholder {jobnt} (known: {service} {jobnet} {unit} "
        "{exec_id} {host} {event_id} {date} {time} {root}); did you mean {jobnet}?"
    ]


@pytest.mark.parametrize("text", ["a { b", "a } b", "{unit", "unit}", "{{unit}"])
def test_an_unbalanced_brace_is_an_error(text):
    (problem,) = problems(f"[[runbooks]]\ntext = {text!r}\n")
    assert problem.startswith("runbooks #1 text: a '")
    assert "opens or closes no placeholder" in problem


def test_doubled_braces_are_literal():
    assert expand("{{unit}} {unit}", {"unit": "/A"}) == ("{unit} /A", ())


def test_the_context_command_errors_name_the_argument():
    found = problems('[context]\ncommand = ["ajsshow", "-F", "{servce}"]\n')
    assert found[0].startswith("context.command #3: unknown placeholder {servce}")
    found = problems('[context]\ncommand = ["{unit}"]\n')
    assert found[0].startswith("context.command #1: the program cannot hold a placeholder")
    found = problems('[context]\ncommand = "ajsshow -F AJSROOT1"\n')
    assert found[0].startswith("context.command: write the command as a list of arguments")
    found = problems("[context]\ncommand = ['C:\\JP1\\show.bat', '{unit}']\n")
    assert "is a batch file" in found[0]
    found = problems('[context]\ncommand = ["ajsshow"]\nlevels = ["info"]\ntimeout_seconds = 0\n')
    assert found == [
        "context.levels #1: 'info' is not allowed (allowed: error, warning)",
        "context.timeout_seconds: must be more than 0",
    ]


def test_a_runbook_url_is_checked_like_other_urls():
    (problem,) = problems('[[runbooks]]\ntext = "x"\nurl = "http://wiki.example.co.jp/a"\n')
    assert problem.startswith("runbooks #1 url: 'http://wiki.example.co.jp/a' must start with")
    (problem,) = problems('[[runbooks]]\ntext = "x"\nurl = "https://wiki example/a"\n')
    assert "space" in problem
    (problem,) = problems('[[runbooks]]\ntext = "x"\nscopes = ["nope"]\n')
    assert problem == "runbooks #1 scopes: unknown scope 'nope' (known: other)"


def test_check_config_lists_runbooks_and_the_context_command():
    from jp1notify.summary import summarize

    config = make_config(
        MINIMAL + RUNBOOK + '[context]\ncommand = ["no-such-ajsshow-here", "{jobnet}"]\n'
    )
    summary = summarize(config, {"HOOK_ALERTS": "https://hooks.slack.com/services/T/B/x"})
    assert "runbooks #1: units /PROD/NIGHTLY/**" in summary.text
    assert "no-such-ajsshow-here {jobnet}" in summary.text
    assert "no-such-ajsshow-here is not found on this PATH" in summary.text
    assert not summary.errors
    config = make_config(MINIMAL + '[[runbooks]]\ntext = "x"\nlevels = ["info"]\n')
    summary = summarize(config, {})
    assert "runbooks #1 levels: runbooks are shown for error and warning events only" in (
        summary.text
    )


# -- placeholders ------------------------------------------------------------------------------


def test_placeholders_of_a_job_event():
    values = placeholder_values(JOB_FAILED)
    assert values == {
        "service": "AJSROOT1",
        "jobnet": "/PROD/NIGHTLY/LOAD",
        "unit": "/PROD/NIGHTLY/LOAD/JOB1",
        "exec_id": "@A100",
        "host": "jp1mgr01",
        "event_id": "4107",
        "date": "2026/11/22",
        "time": "02:13:05",
        "root": "/PROD/NIGHTLY/LOAD",
    }


def test_root_comes_from_the_root_object_name_attribute_when_jp1_passes_it():
    ev = event(
        "KAVS0265-E job (AJSROOT1:/PROD/NIGHTLY/SUB/JOB1:@A100) ended",
        **{"EV:ROOT_OBJECT_NAME": "AJSROOT1:/PROD/NIGHTLY"},
    )
    assert placeholder_values(ev)["root"] == "/PROD/NIGHTLY"
    assert placeholder_values(ev)["jobnet"] == "/PROD/NIGHTLY/SUB"


def test_a_missing_value_is_shown_as_a_visible_marker():
    ev = event("KAVS0262-E jobnet (/PROD/NIGHTLY) ended", EVID="4104")  # no service, no exec ID
    text, missing = expand("ajsrerun -F {service} -a {jobnet}:{exec_id}", placeholder_values(ev))
    assert text == "ajsrerun -F {service?} -a /PROD/NIGHTLY:{exec_id?}"
    assert missing == ("service", "exec_id")


def test_values_holding_braces_are_never_expanded_again():
    values = {"unit": "{jobnet}}{{", "jobnet": "/X"}
    assert expand("<{unit}>", values) == ("<{jobnet}}{{>", ())
    assert parse_template("{unit}{{") == (parse_template("{unit}")[0], "{")


# -- in the message ----------------------------------------------------------------------------


def test_runbook_and_link_appear_for_a_matching_problem_event():
    config = make_config(MINIMAL + RUNBOOK)
    text = guidance_text(config, JOB_FAILED)
    assert text == (
        "*What to do*\nCheck the input file. Rerun from the failed job: ajsrerun -F AJSROOT1 -a "
        "/PROD/NIGHTLY/LOAD:@A100\n<https://wiki.example.co.jp/jp1/nightly|Runbook>"
    )
    assert guidance_text(config, JOB_FAILED, language="ja").startswith("*対応手順*\n")


def test_no_runbook_for_info_events_or_other_units():
    config = make_config(MINIMAL + RUNBOOK)
    started = event("KAVS0263-I job (AJSROOT1:/PROD/NIGHTLY/LOAD/JOB1:@A100) started", EVID="4105")
    assert runbooks_for(started, classify(started, config), config) == ()
    assert guidance_text(config, started) is None
    other = event("KAVS0265-E job (AJSROOT1:/DEV/X/JOB1:@A100) ended")
    assert guidance_text(config, other) is None


def test_every_matching_runbook_in_file_order_at_most_three():
    entries = "".join(f'[[runbooks]]\nname = "step {i}"\ntext = "do {i}"\n' for i in range(5))
    config = make_config(MINIMAL + entries)
    found = runbooks_for(JOB_FAILED, classify(JOB_FAILED, config), config)
    assert [r.text for r in found] == ["do 0", "do 1", "do 2"]


def test_hostile_event_values_are_escaped_in_the_runbook():
    config = make_config(MINIMAL + '[[runbooks]]\ntext = "rerun {unit} on {host} & check"\n')
    hostile = event(
        "KAVS0265-E job (AJSROOT1:/PROD/<!channel> &amp; <!subteam^S1|x>/J}{x:@A1) ended",
        EVHOST="<!here>",
    )
    text = guidance_text(config, hostile)
    assert "<!" not in text
    assert "/PROD/&lt;!channel&gt; &amp;amp; &lt;!subteam^S1|x&gt;/J}{x" in text
    assert "on &lt;!here&gt; &amp; check" in text


def test_a_runbook_url_cannot_break_its_link_markup():
    config = make_config(
        MINIMAL + '[[runbooks]]\nname = "DB <team>|x"\ntext = "t"\n'
        'url = "https://wiki.example.co.jp/a?x=1&y=2|<!channel>"\n'
    )
    text = guidance_text(config, JOB_FAILED)
    link = text.splitlines()[-1]
    assert link == "<https://wiki.example.co.jp/a?x=1&amp;y=2%7C%3C!channel%3E|DB &lt;team&gt;¦x>"


def test_long_runbooks_and_context_stay_within_slacks_limit():
    long_values = {"EVHOST": "h" * 1000}
    config = make_config(
        MINIMAL + "".join(f'[[runbooks]]\ntext = "{"x" * 900} {{host}}"\n' for _ in range(3))
    )
    ev = event("KAVS0265-E job (AJSROOT1:/PROD/" + "N" * 900 + "/J:@A1) ended", **long_values)
    context = ContextResult("<&>" * 1000).dumps()
    rendered = render(ev, classify(ev, config), "route #1", (), "en", config, context)
    text = rendered.payload["attachments"][1]["text"]
    assert len(text) <= MESSAGE_LIMIT
    assert "runbook" in rendered.truncated and "context" in rendered.truncated
    assert text.count("```") == 2 and text.rstrip().endswith("```")
    assert not re.search(r"&[a-z]{0,3}…", text)  # never cut inside an entity


def test_context_output_is_escaped_in_a_code_block_that_it_cannot_close():
    config = make_config(MINIMAL)
    output = "KAVS1234-E <!channel> & <http://evil|x>\n```\n*bold*"
    text = guidance_text(config, JOB_FAILED, ContextResult(output).dumps())
    body = text.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert "<" not in body and "```" not in body
    assert body.startswith("KAVS1234-E &lt;!channel&gt; &amp; &lt;http://evil|x&gt;")
    assert text.startswith("*Context*\n```\n")


@pytest.mark.parametrize(
    ("result", "en", "ja"),
    [
        (
            ContextResult("partial", "n", "timeout", "5"),
            "The context command timed out after 5 s and was stopped.",
            "詳細情報のコマンドが 5 秒でタイムアウトしたため停止しました。",
        ),
        (
            ContextResult(None, "n", "not_found", "ajsshow"),
            "The context command ajsshow was not found.",
            "詳細情報のコマンド ajsshow が見つかりません。",
        ),
    ],
)
def test_what_went_wrong_with_the_context_command_is_said_in_the_message(result, en, ja):
    config = make_config(MINIMAL)
    assert guidance_text(config, JOB_FAILED, result.dumps()).endswith(en)
    assert guidance_text(config, JOB_FAILED, result.dumps(), "ja").endswith(ja)


def test_a_garbled_stored_context_is_left_out():
    config = make_config(MINIMAL)
    for stored in ("not json", "[1]", '{"text": 5}', ""):
        assert guidance_text(config, JOB_FAILED, stored) is None
