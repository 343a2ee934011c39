from jp1notify.classify import classify
from jp1notify.event import parse_event
from jp1notify.routing import route

from conftest import make_config

CONFIG = make_config(
    """
[destinations.alerts]
webhook_url_env = "A"
[destinations.notice]
webhook_url_env = "N"
[destinations.audit]
webhook_url_env = "U"
[[scopes]]
name = "production"
units = ["/PROD/**"]
[[ignore]]
name = "monitoring"
units = ["/MONITORING/**"]
[[ignore]]
name = "all but production starts"
event_ids = ["4102"]
exclude_units = ["/PROD/**"]
[[routes]]
name = "audit everything"
destination = "audit"
continue = true
[[routes]]
name = "prod errors"
scopes = ["production"]
levels = ["error"]
destination = ["alerts", "audit"]
mention = ["channel", "S0123ABCD"]
[[routes]]
name = "billing or payroll"
units = ["/BILLING/**", "/PAYROLL/**"]
destination = "alerts"
[[routes]]
name = "rest"
levels = ["error", "warning"]
destination = "notice"
"""
)


def decide(evid, path, **env):
    event = parse_event({"EVID": evid, "EVMSG": f"KAVS0000-I x (AJSROOT1:{path}:@A1)", **env})
    return route(event, classify(event, CONFIG), CONFIG)


def targets(decision):
    return [(d.route.name, d.destination) for d in decision.deliveries]


def test_first_match_wins_after_continue_fans_out_and_destinations_are_deduplicated():
    decision = decide("4104:0", "/PROD/NET")
    assert targets(decision) == [("audit everything", "audit"), ("prod errors", "alerts")]
    assert decision.deliveries[1].route.mentions == ("<!channel>", "<!subteam^S0123ABCD>")


def test_a_or_b_paths():
    assert targets(decide("4108:0", "/PAYROLL/N"))[-1] == ("billing or payroll", "alerts")


def test_no_match_after_audit_falls_to_rest_or_nowhere():
    assert targets(decide("4108:0", "/DEV/N"))[-1] == ("rest", "notice")
    assert targets(decide("4103:0", "/DEV/N")) == [("audit everything", "audit")]


def test_ignore_rules_and_all_but():
    assert decide("4104:0", "/MONITORING/N").ignored_by == "monitoring"
    assert decide("4102:0", "/DEV/N").ignored_by == "all but production starts"
    assert decide("4102:0", "/PROD/N").ignored_by is None


def test_self_guard_drops_events_of_the_notifiers_own_jobnet():
    own = {"AJSJOBNAME": "/JP1/MONITOR/NOTIFY"}
    assert decide("4106:0", "/JP1/MONITOR/NOTIFY", **own).ignored_by == "self_guard"
    assert decide("4103:0", "/JP1/MONITOR", **own).ignored_by == "self_guard"
    assert decide("4104:0", "/JP1/MONITOR2", **own).ignored_by is None
    with_service = {"AJSJOBNAME": "AJSROOT1:/JP1/MONITOR/NOTIFY"}
    assert decide("4107:0", "/JP1/MONITOR/NOTIFY", **with_service).ignored_by == "self_guard"
    assert decide("4107:0", "/JP1/MONITOR/NOTIFY").ignored_by is None  # run outside JP1


def test_self_guard_can_be_switched_off():
    config = CONFIG._replace(self_guard=False)
    event = parse_event({"EVID": "4107:0", "EVMSG": "x (/J/M/N:@A1)", "AJSJOBNAME": "/J/M/N"})
    assert route(event, classify(event, config), config).ignored_by is None


def test_unrouted_is_reported_as_such():
    config = CONFIG._replace(routes=CONFIG.routes[1:2])
    event = parse_event({"EVID": "4103:0", "EVMSG": "x (/DEV/N:@A1)"})
    assert route(event, classify(event, config), config).unrouted
