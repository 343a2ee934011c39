from jp1notify.summary import describe_mention, summarize

from conftest import MINIMAL, make_config


def test_mentions_are_shown_as_people_read_them():
    assert [
        describe_mention(m)
        for m in ("<!channel>", "<!here>", "<!subteam^S0123ABCD>", "<@U0123ABCD>")
    ] == ["@channel", "@here", "@group S0123ABCD", "@user U0123ABCD"]


def test_summary_warns_about_shadowed_routes_and_unused_destinations():
    config = make_config(
        MINIMAL
        + '[destinations.spare]\nwebhook_url_env = "S"\n[[routes]]\ndestination = "alerts"\n'
    )
    text, errors = summarize(config, {"HOOK_ALERTS": "https://hooks.slack.com/services/T/B/x"})
    assert errors == []
    assert "routes #1 matches every event and does not continue" in text
    assert "destinations.spare is not used by any route" in text
    assert "alerts: environment variable HOOK_ALERTS (readable)" in text
    assert "hooks.slack.com" not in text
