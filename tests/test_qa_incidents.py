"""Adversarial QA of incidents, Slack bot threads and destination kinds: the installed command,
one process per JP1 event, against the fake Slack Web API misbehaving on purpose. Each test
here failed before the fix committed with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeslackapi import FakeSlackApi, error
from test_incidents import NIGHT_1, Site, jobnet_end

from jp1notify.incidents import enclosing

import fakeslack
from conftest import clean_env, run


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    api = FakeSlackApi()
    hook = fakeslack.FakeSlack()
    yield Site(tmp_path, api, hook)
    api.close()
    hook.close()


def send(site: Site, kind: str, path: str, time: str, exec_id: str = NIGHT_1) -> str:
    return site.send(kind, path, exec_id, "2026/11/22", time)


def incidents(site: Site) -> list[dict]:
    listed = site.command("incidents", "--json")
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_recoveries_queued_during_a_storm_still_resolve_their_parents(site):
    """A digest is a top-level message: recoveries (and later events) of incidents that already
    have a parent must not be folded into one, or the parents stay red and open for ever."""
    for i in range(4):
        send(site, "abnormal", f"/PROD/NET{i}", f"02:0{i}:00", f"@A10{i}")
    site.api.script("chat.postMessage", error("service_unavailable"))
    for i in range(4):
        send(site, "normal", f"/PROD/NET{i}", f"03:0{i}:00", f"@A10{i}")
    site.api.script("chat.postMessage", None)
    site.command("flush")
    parents = site.api.top_level()
    assert len(parents) == 4  # no digest beside them
    for parent in parents:
        assert "[RESOLVED]" in parent.current["text"]
        assert "Recovered" in site.api.replies(parent.ts)[-1].payload["text"]


def test_a_nested_jobnets_normal_end_leaves_its_failed_siblings_incident_open(site):
    """Two nested jobnets of one root run fail: the incident is the root's, so the first one
    ending normally in the rerun does not resolve it while the other is still down."""
    send(site, "abnormal", "/G/ROOT/SUB1", "02:00:00")
    send(site, "abnormal", "/G/ROOT/SUB2", "02:00:05")
    send(site, "nested_normal", "/G/ROOT/SUB1", "02:30:00")
    (incident,) = incidents(site)
    assert (incident["state"], incident["jobnet"]) == ("open", "/G/ROOT")
    send(site, "normal", "/G/ROOT", "02:40:00")
    (incident,) = incidents(site)
    assert incident["state"] == "resolved"
    (parent,) = site.api.top_level()
    assert "[RESOLVED]" in parent.current["text"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("/G/ROOT", "/G/ROOT", "/G/ROOT"),
        ("/G/ROOT/SUB", "/G/ROOT", "/G/ROOT"),
        ("/G/ROOT", "/G/ROOT/SUB/DEEP", "/G/ROOT"),
        ("/G/ROOT/SUB1", "/G/ROOT/SUB2", "/G/ROOT"),
        ("/G/ROOT/A/X", "/G/ROOT/B", "/G/ROOT"),
        ("/G/ROOT/SUB", "/G/ROOT/SUBMARINE", "/G/ROOT"),  # a prefix that is not a parent
    ],
)
def test_the_incidents_jobnet_encloses_every_jobnet_it_has_seen(a, b, expected):
    assert enclosing(a, b) == expected


def test_recovery_false_still_resolves_a_bot_destinations_parent(site):
    """`recovery = false` is documented for webhook destinations (a message of its own); a bot's
    parent message must still turn green, or it says "open" for ever."""
    site.configure(destination="ops", recovery=False)
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    send(site, "normal", "/PROD/NIGHTLY", "03:20:00")
    (parent,) = site.api.top_level()
    assert "[RESOLVED]" in parent.current["text"]


def test_history_shows_where_a_resolving_normal_end_went(site):
    """A normal end that no route takes but that resolves an incident sends its recovery: history
    must show that message (its state and number, to retry it), not "unrouted"."""
    site.configure(destination="hook")
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    site.hook.script("hook", fakeslack.Answer(404, "no_service"))
    event = jobnet_end("normal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "03:20:00")
    result = run([], site.env(event))
    site.assert_clean(result)
    assert result.returncode == 69, result.stderr
    line = site.command("history").stdout.splitlines()[-1]
    assert "4103" in line and "unrouted" not in line
    assert "hook dead (1) #2: Slack answered HTTP 404 no_service" in line


def test_a_duplicate_resolving_normal_end_does_not_claim_nobody_was_told(site):
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    send(site, "normal", "/PROD/NIGHTLY", "03:20:00")
    said = send(site, "normal", "/PROD/NIGHTLY", "03:20:00")  # JP1 delivers it twice
    assert "already recorded" in said and "ops: sent" in said
    assert "nobody was notified" not in said


def move_channel(site: Site, channel: str) -> None:
    """The operator moves the destination to another channel; the app leaves the old one."""
    text = site.config.read_text(encoding="utf-8").replace(site.api.channel, channel)
    site.config.write_text(text, encoding="utf-8")
    site.api.channel = channel


def test_an_incident_whose_parent_is_in_a_channel_no_longer_usable_goes_on_in_the_new_one(site):
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    move_channel(site, "C0NEWCHANNEL")
    said = send(site, "job", "/PROD/NIGHTLY/LOAD", "02:20:00")  # exit 0: not dead
    assert "posted a new message" in said
    new_parent = site.api.top_level()[-1]
    assert new_parent.payload["channel"] == "C0NEWCHANNEL"
    assert "KAVS0265-E" in new_parent.payload["text"] + json.dumps(new_parent.payload)
    send(site, "normal", "/PROD/NIGHTLY", "03:00:00")
    assert "[RESOLVED]" in new_parent.current["text"]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # the bot's keys, but `kind` forgotten: the webhook's keys are not what is missing
        ('token_env = "BOT_TOKEN"\nchannel = "C0123ABCD"', 'set kind = "slack_bot"'),
        # a webhook URL on a bot destination
        ('kind = "slack_bot"\nwebhook_url_env = "HOOK"\nchannel = "C0123ABCD"', "webhook_url_env"),
    ],
)
def test_a_destination_with_another_kinds_keys_is_told_which_key_is_wrong(tmp_path, keys, expected):
    config = tmp_path / "jp1notify.toml"
    config.write_text(
        f'[destinations.ops]\n{keys}\n[[routes]]\ndestination = "ops"\n', encoding="utf-8"
    )
    result = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert result.returncode == 78
    assert expected in result.stderr, result.stderr


# -- open design questions (not fixed here; see the QA report) ----------------------------------


def test_an_ignore_rule_for_normal_ends_still_lets_them_resolve_incidents(site):
    """The unrouted warning on every normal end tells operators to add an [[ignore]] rule; one
    for 4103 must not keep every incident open: an ignored normal end still resolves (an
    ignored problem event opens nothing)."""
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(text + '\n[[ignore]]\nevent_ids = ["4103"]\n', encoding="utf-8")
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    send(site, "normal", "/PROD/NIGHTLY", "03:20:00")
    assert incidents(site)[0]["state"] == "resolved"


def test_a_normal_end_naming_no_service_resolves_the_jobnets_incident(site):
    send(site, "abnormal", "/PROD/NIGHTLY", "02:10:00")
    event = jobnet_end("normal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "03:20:00")
    event["EVMSG"] = "KAVS0261-I ジョブネット(/PROD/NIGHTLY:@A100)が正常終了しました"
    site.assert_clean(run([], site.env(event)))
    assert incidents(site)[0]["state"] == "resolved"
