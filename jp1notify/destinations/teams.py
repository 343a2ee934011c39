"""`kind = "teams"`: a Microsoft Teams channel through a Workflows webhook (Power Automate,
"Post to a channel when a webhook request is received").

Office 365 connectors (`*.webhook.office.com`) were retired in 2026; Workflows only take
Adaptive Cards (../shared/reference/destinations.md section 2). The URL's host changed more than
once (`prod-NN.<region>.logic.azure.com`, then `…environment.api.powerplatform.com`) and tools
that checked it broke, so any https URL is taken; the whole URL (with its `sig=`) is the secret.

The payload is the `attachments` envelope with one Adaptive Card (version CARD_VERSION):
a header in a Container styled by level (cards have no colour bar), a FactSet, the JP1 message,
runbooks and the context output; a recovery is a short green card; a storm is one digest card.

Event text is hostile. Teams renders a Markdown subset in TextBlock and in Fact.title/value
(https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format):
bold, italic, lists and `[title](url)` links; HTML is not rendered, and a mention needs an
`msteams.entities` entry, which jp1notify never sends. So:
- free text (title, JP1 message, runbook steps, context output) goes in RichTextBlock TextRuns,
  which Adaptive Cards never parse as Markdown (adaptivecards.io schema, TextRun): shown as is,
  no escape to leak (a backslash escape shows as a backslash on Teams mobile:
  MicrosoftDocs/msteams-docs#5793, microsoft/AdaptiveCards#7474);
- fact values (a FactSet has no TextRun) are backslash-escaped (`escape_markdown`), so that
  `[x](https://evil)` cannot become a link nor `_` italics; `<` `>` too, so no `<at>` forms.

Size: "The message size limit is 28 KB" (msteams-docs add-incoming-webhook.md): the JP1 message,
then the context output, then the runbooks are cut until the payload fits SIZE_LIMIT bytes, said
in `Rendered.truncated`.

Answers (destinations.md 2.2; apprise `workflows.py` accepts 200 and 202; alertmanager
`msteamsv2` retries 5xx only): 202 Accepted means the flow was started, not that the card was
posted (a failing flow shows only in its run history). ANSWERS below is the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jp1notify import __version__
from jp1notify.delivery import (
    DELIVERED,
    RETRY,
    Disposition,
    Verdict,
    cut_text,
    describe_body,
    retry_after,
)
from jp1notify.destinations import Item, Sent, Thread

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.incidents import Incident
    from jp1notify.message import Digest, DigestItem, Rendered
    from jp1notify.runs import Run

# Workflows render Adaptive Cards 1.2 to 1.4 (alertmanager msteamsv2 sends 1.2, apprise 1.4);
# RichTextBlock needs 1.2, Container `bleed` 1.2.
CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# "The message size limit is 28 KB": kept well below, JSON as sent (UTF-8), for the envelope.
SIZE_LIMIT = 26_000
MESSAGE_LIMIT = 3000  # characters of the JP1 message, as on Slack
CUT_MARK = "…"
# Container styles and TextBlock colours by level (adaptivecards.io: Container.style, Colors).
STYLES = {"error": "attention", "warning": "warning", "info": "accent", "success": "good"}
COLORS = {"error": "attention", "warning": "warning", "info": "accent", "success": "good"}
# Characters that make markup inline in Teams' Markdown subset: emphasis (`*` `_` `~`), code,
# link labels (`[` `]`: without them `(url)` is plain text), and `<` `>` (an `<at>` form); `\`
# first, so that escapes cannot be undone. Only these: each escape shows as a backslash on
# Teams mobile, and JP1 writes parentheses, `@` and `-` in nearly every line.
MARKDOWN_SPECIAL = "\\`*_~[]<>"
# At the start of a line these make a list or a heading.
MARKDOWN_LEADING = "-+#"
EXTRA_LABELS = {"en": {"level": "Level"}, "ja": {"level": "レベル"}}
DIGEST_BLOCKS = 40  # jobnet blocks in one digest card; the rest go in the next one


def escape_markdown(text: str) -> str:
    """Text inert in Teams' Markdown (CommonMark backslash escapes), on one line (a fact is
    one): no link, emphasis, code, list or `<at>` form can come out of it."""
    flat = " ".join(text.splitlines())
    escaped = "".join(f"\\{c}" if c in MARKDOWN_SPECIAL else c for c in flat)
    return f"\\{escaped}" if escaped[:1] in MARKDOWN_LEADING and escaped else escaped


def text_run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def rich(text: str, **style: Any) -> dict[str, Any]:
    """A RichTextBlock of one TextRun: `text` is shown as is, never parsed as Markdown."""
    return {"type": "RichTextBlock", "inlines": [text_run(text, **style)]}


def header(title: str, level: str) -> dict[str, Any]:
    """The coloured band at the top of a card: the title on the level's container style."""
    return {
        "type": "Container",
        "style": STYLES.get(level, "emphasis"),
        "bleed": True,
        "items": [rich(title, weight="Bolder", size="Medium", color=COLORS.get(level, "default"))],
    }


def heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": escape_markdown(text), "weight": "Bolder", "wrap": True}


def footer(text: str) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": escape_markdown(text),
        "size": "Small",
        "isSubtle": True,
        "wrap": True,
    }


def fact_set(facts: Sequence[tuple[str, str | None]]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [
            {"title": escape_markdown(title), "value": escape_markdown(value)}
            for title, value in facts
            if value
        ],
    }


def envelope(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The Workflows request: one Adaptive Card in `attachments` (destinations.md 2.2)."""
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


def payload_size(payload: dict[str, Any]) -> int:
    """Bytes of the payload as delivery.attempt_once sends it."""
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: max(0, limit - len(CUT_MARK))] + CUT_MARK, True


# -- one event -------------------------------------------------------------------------------


class Parts:
    """The cuttable texts of a card (in the order they are cut), so that it fits SIZE_LIMIT."""

    ORDER = ("message", "context", "runbook")

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {name: [] for name in self.ORDER}
        self.cuts: list[str] = []

    def add(self, name: str, text: str, limit: int) -> str:
        fitted, was_cut = cut(text, limit)
        if was_cut and name not in self.cuts:
            self.cuts.append(name)
        self.texts[name].append(fitted)
        return fitted


def render_event(item: Item, config: Config) -> Rendered:
    """An event's card; cut until it fits SIZE_LIMIT."""
    from jp1notify.message import Rendered

    card, parts = _event_card(item, config, {})
    shrink: dict[str, int] = {}
    for _ in range(12):  # each round cuts the longest part by what is still too much
        excess = payload_size(card) - SIZE_LIMIT
        if excess <= 0:
            break
        name, length = _longest(parts)
        if length == 0:
            break
        shrink[name] = max(0, length - excess - 64)
        card, parts = _event_card(item, config, shrink)
    return Rendered(card, tuple(parts.cuts))


def _longest(parts: Parts) -> tuple[str, int]:
    sizes = [(max((len(t) for t in parts.texts[n]), default=0), n) for n in Parts.ORDER]
    length, name = max(sizes)
    return name, length


def _event_card(
    item: Item, config: Config, shrink: Mapping[str, int]
) -> tuple[dict[str, Any], Parts]:
    from jp1notify.message import LABELS, event_name

    if item.recovery and item.incident is not None:
        return _recovery_card(item, config, shrink)
    labels = LABELS[_language(item)]
    event = item.event
    level = item.classification.level
    name = event_name(event, _language(item))
    if item.run is not None and item.run.slow:
        name = labels["slow_title"].format(name=name)
    parts = Parts()
    title = f"[{labels[level]}] {name}: {event.unit.path or labels['unit_unknown']}"
    body: list[dict[str, Any]] = [header(cut(title, 300)[0], level)]
    body.append(fact_set(_facts(item, config)))
    message = event.message or f"({labels['missing']}: EVMSG)"
    body.append(rich(parts.add("message", message, shrink.get("message", MESSAGE_LIMIT))))
    actions = _guidance(item, config, labels, parts, shrink, body)
    route = _route_text(item.route, labels)
    body.append(footer(f"jp1notify {__version__} | {labels['route']}: {route}"))
    return envelope(body, actions), parts


def _language(item: Item) -> str:
    return item.language if item.language in ("en", "ja") else "en"


def _facts(item: Item, config: Config) -> list[tuple[str, str | None]]:
    from jp1notify.message import LABELS, format_event_time, severity_text
    from jp1notify.runs import run_text

    language = _language(item)
    labels = LABELS[language]
    event = item.event
    unit = event.unit
    host = " ".join(x for x in (event.host, f"({event.ip})" if event.ip else None) if x)
    return [
        (labels["event"], " ".join(x for x in (event.event_id, event.message_id) if x)),
        (labels["unit"], unit.path),
        (labels["exec_id"], unit.exec_id),
        (labels["service"], unit.service),
        (labels["host"], host),
        (labels["time"], format_event_time(event, config.timezone)),
        (labels["run_time"], run_text(item.run, language) if item.run else None),
        (labels["scope"], item.classification.scope),
        (EXTRA_LABELS[language]["level"], labels[item.classification.level]),
        (labels["severity"], severity_text(event.severity, language)),
        (labels["notes"], "; ".join(_notes(item)) or None),
    ]


def _notes(item: Item) -> list[str]:
    from jp1notify.event import describe_problems

    return describe_problems(item.event, _language(item))


def _route_text(name: str, labels: dict[str, str]) -> str:
    number = name.removeprefix("route #")
    return f"{labels['route']} #{number}" if number != name and number.isdigit() else name


def _guidance(
    item: Item,
    config: Config,
    labels: dict[str, str],
    parts: Parts,
    shrink: Mapping[str, int],
    body: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """What to do (runbooks, their links as buttons) and the context output, for a problem
    event; the buttons are returned as the card's actions. Config text is shown as is too."""
    from jp1notify.guidance import (
        ContextResult,
        expand,
        is_problem,
        placeholder_values,
        runbooks_for,
    )

    if not is_problem(item.classification):
        return []
    actions: list[dict[str, Any]] = []
    runbooks = runbooks_for(item.event, item.classification, config)
    if runbooks:
        body.append(heading(labels["what_to_do"]))
        values = placeholder_values(item.event)
        for runbook in runbooks:
            text = expand(runbook.text, values)[0]
            body.append(rich(parts.add("runbook", text, shrink.get("runbook", 1500))))
            if runbook.url:
                title = runbook.name if not runbook.name.startswith("runbooks #") else None
                actions.append(
                    {
                        "type": "Action.OpenUrl",
                        "title": cut_text(title or labels["runbook"], 80),
                        "url": runbook.url,
                    }
                )
    result = ContextResult.loads(item.context)
    if result:
        body.append(heading(labels["context"]))
        body += _context(result, labels, parts, shrink.get("context", 2500))
    return actions[:6]  # Teams shows at most six actions in a row


def _context(result: Any, labels: dict[str, str], parts: Parts, limit: int) -> list[dict[str, Any]]:
    note_key = f"context_{result.code}"
    note = labels[note_key].format(value=result.value or "") if note_key in labels else ""
    blocks = []
    if result.text is None:
        blocks.append(rich(note or labels["context_none"]))
        return blocks
    blocks.append(rich(parts.add("context", result.text, limit), fontType="Monospace"))
    if note:
        blocks.append(rich(note, isSubtle=True))
    return blocks


# -- recovery ----------------------------------------------------------------------------------


def _recovery_card(
    item: Item, config: Config, shrink: Mapping[str, int]
) -> tuple[dict[str, Any], Parts]:
    """Short and green: "[OK] Recovered: /PROD/NIGHTLY", recovered after ..., the run time,
    the JP1 message."""
    from jp1notify.message import LABELS

    incident: Incident = item.incident  # type: ignore[assignment]
    labels = LABELS[_language(item)]
    parts = Parts()
    title = labels["recovered_title"].format(ok=labels["success"], unit=incident.jobnet)
    body = [header(cut(title, 300)[0], "success"), rich(_recovered_after(item, config))]
    if item.run is not None:
        body.append(rich(f"{labels['run_time']}: {_run_text(item.run, _language(item))}"))
    if item.event.message:
        limit = shrink.get("message", MESSAGE_LIMIT)
        body.append(rich(parts.add("message", item.event.message, limit), isSubtle=True))
    body.append(footer(f"jp1notify {__version__}"))
    return envelope(body, []), parts


def _recovered_after(item: Item, config: Config) -> str:
    from jp1notify.message import _recovered_after as after

    return after(item.incident, _language(item), config)  # type: ignore[arg-type]


def _run_text(run: Run, language: str) -> str:
    from jp1notify.runs import run_text

    return run_text(run, language)


# -- digest --------------------------------------------------------------------------------------


def render_digest(items: Sequence[DigestItem], language: str, config: Config) -> Digest:
    """One card for a storm: counts by level in the header, then each jobnet with its events
    (message.py's order and lines, unescaped: they go in TextRuns). Jobnets that do not fit
    SIZE_LIMIT (or DIGEST_BLOCKS) wait for the next digest."""
    from jp1notify.catalog import LEVELS
    from jp1notify.message import LABELS, Digest, _by_jobnet

    language = language if language in ("en", "ja") else "en"
    labels = LABELS[language]
    groups = _by_jobnet(items, config.timezone)
    included: list[int] = []
    blocks: list[dict[str, Any]] = []
    for jobnet, indexes in groups[:DIGEST_BLOCKS]:
        block = _jobnet_block(jobnet, [items[i] for i in indexes], language, config)
        trial = _digest_card([*blocks, block], [*included, *indexes], items, labels, LEVELS)
        if included and payload_size(trial) > SIZE_LIMIT:
            break
        blocks.append(block)
        included += indexes
    return Digest(_digest_card(blocks, included, items, labels, LEVELS), tuple(included))


def _digest_card(
    blocks: list[dict[str, Any]],
    included: list[int],
    items: Sequence[DigestItem],
    labels: dict[str, str],
    levels: Sequence[str],
) -> dict[str, Any]:
    carried = [items[i] for i in included]
    worst = min((item.level for item in carried), key=levels.index)
    counts = labels["count_separator"].join(
        labels["count_level"].format(count=n, level=labels[level])
        for level in levels
        if (n := sum(1 for item in carried if item.level == level))
    )
    title = labels["digest_title"].format(level=labels[worst], count=len(carried), counts=counts)
    end = footer(f"jp1notify {__version__} | " + labels["digest_footer"].format(count=len(carried)))
    return envelope([header(title, worst), *blocks, end], [])


def _jobnet_block(
    jobnet: str | None, items: list[DigestItem], language: str, config: Config
) -> dict[str, Any]:
    """A jobnet's path in bold, then two lines per event (what, when, where; the JP1 message's
    first line), at most five events and a count of the rest."""
    from jp1notify.message import LABELS, _shown

    labels = LABELS[language]
    shown = _shown(items)
    lines = [_event_lines(item, jobnet, language, config) for item in shown]
    hidden = len(items) - len(shown)
    if hidden > 0:
        lines.append(labels["digest_more"].format(count=hidden))
    path = cut(jobnet or labels["unit_unknown"], 200)[0]
    return {
        "type": "RichTextBlock",
        "separator": True,
        "inlines": [text_run(path + "\n", weight="Bolder"), text_run("\n".join(lines))],
    }


def _event_lines(item: DigestItem, jobnet: str | None, language: str, config: Config) -> str:
    from jp1notify.message import LABELS, event_name, format_event_time
    from jp1notify.runs import short_text

    labels = LABELS[language]
    event = item.event
    path = event.unit.path
    host = event.host or event.ip
    parts = [
        format_event_time(event, config.timezone, short=True) or labels["time_unknown"],
        f"[{labels[item.level]}]",
        event.event_id,
        event_name(event, language),
        short_text(item.run, language) if item.run else None,
        path.rsplit("/", 1)[-1] if path and path != jobnet else None,
        event.unit.exec_id,
        labels["digest_host"].format(host=host) if host else None,
    ]
    head = cut(" ".join(p for p in parts if p), 250)[0]
    message = (event.message or f"({labels['missing']}: EVMSG)").splitlines() or [""]
    return f"{head}\n    {cut(message[0], 200)[0]}"


# -- answers -------------------------------------------------------------------------------------

FIX_FLOW = (
    "open the workflow in Teams (Workflows app) or Power Automate, check that it is turned on and "
    "that its owner still has access, and copy its URL again (the URL changes when the trigger "
    "is re-created)"
)
ANSWERS: dict[int, tuple[Disposition, str]] = {
    400: (
        Disposition.INVALID,
        "the workflow refused the card; report it with the --dry-run output",
    ),
    413: (
        Disposition.INVALID,
        "the card is larger than the workflow takes; report it with the --dry-run output",
    ),
    401: (Disposition.GONE, f"the workflow refused the URL's signature: {FIX_FLOW}"),
    403: (Disposition.GONE, f"the workflow refused the request (turned off?): {FIX_FLOW}"),
    404: (Disposition.GONE, f"no workflow answers at this URL (deleted?): {FIX_FLOW}"),
}


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify a Workflows answer (the body and headers already redacted): ANSWERS for the
    flow's own refusals, retries for the way there."""
    html = describe_body(body).startswith("an HTML page")
    if 200 <= status < 300 and not html:
        return Verdict(DELIVERED, "accepted" if status == 202 else "ok")
    if status == 429:
        return Verdict(RETRY, f"rate limited by Teams (HTTP {status})", retry_after(headers, body))
    if status >= 500 or status == 408:
        wait = retry_after(headers, body) if "retry-after" in headers else None
        return Verdict(RETRY, f"Teams answered HTTP {status}, {_said(body)}", wait)
    if status in ANSWERS and not html:
        disposition, hint = ANSWERS[status]
        return Verdict(disposition, f"Teams answered HTTP {status} {_said(body)}: {hint}")
    return _not_teams(status, body, headers)


def _said(body: str) -> str:
    """The flow's error code (`{"error": {"code": "WorkflowNotFound", ...}}`), else an excerpt."""
    try:
        code = json.loads(body).get("error", {}).get("code")
    except (ValueError, AttributeError, RecursionError):
        code = None
    return f"({cut_text(code, 60)})" if isinstance(code, str) and code else describe_body(body)


def _not_teams(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """A proxy's page, a captive portal's redirect, an unknown 4xx: retried with its reason."""
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    what = f"an answer that is not Teams' (HTTP {status}, {describe_body(body)})"
    if 300 <= status < 400:
        return Verdict(RETRY, f"{what}: Workflows do not redirect; check http.proxy")
    if 200 <= status < 300:
        return Verdict(RETRY, f"{what}; check http.proxy and the network")
    return Verdict(
        Disposition.REFUSED, f"{what}; a proxy or filter may be blocking it: check http.proxy"
    )


class Teams:
    """A destination of kind teams, holding its Workflows URL."""

    threads = False  # a Workflows webhook returns no message ID to update or reply to
    digests = True

    def __init__(self, destination: Destination, config: Config, url: str) -> None:
        self.name = destination.name
        self.config = config
        self.url = url

    def render(self, item: Item) -> Rendered:
        return render_event(item, self.config)

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        return render_digest(items, language, self.config)

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        return Sent(http.post(self.url, self.render(item).payload, timeout, judge))

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        return Sent(http.post(self.url, payload, timeout, judge))
