"""The Slack message: a pure function from (event, classification, route) to a webhook payload.

Shape: a top-level `text` (what phone notifications show, with the route's mention) and one
legacy attachment: level colour bar, title, fields, the JP1 message, footer and `ts`.
Untrusted text (everything from the event) is escaped, so it cannot ping `@channel` or forge a
link; mentions come from the config only. Every part is kept within Slack's limits and a cut is
marked with "…" and reported in `Rendered.truncated`.

A digest (`render_digest`) carries many events of one destination in one message: counts by
level in the title, then each jobnet with its events, and one broadcast mention at most.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify import __version__
from jp1notify.catalog import LEVELS
from jp1notify.classify import Classification
from jp1notify.config import Config, Runbook, default_name
from jp1notify.event import FIELDS, Event, describe_problems
from jp1notify.event import event_datetime as event_datetime  # re-exported: event.py owns it
from jp1notify.event import parse_event_time as parse_event_time
from jp1notify.guidance import (
    ContextResult,
    expand,
    is_problem,
    placeholder_values,
    runbooks_for,
)

if TYPE_CHECKING:
    from jp1notify.incidents import Incident
    from jp1notify.runs import Run

# Slack limits. Webhook text: https://docs.slack.dev/messaging/formatting-message-text
# ("truncated above 40,000 characters"); attachment parts follow Block Kit's section limits
# (https://docs.slack.dev/reference/block-kit/blocks/section-block): text 3,000, fields 10 x 2,000.
TEXT_LIMIT = 3000  # far below Slack's 40,000: the summary line is read on a phone lock screen
TITLE_LIMIT = 150  # the header block limit; attachment titles are not documented, keep to it
MESSAGE_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
CUT_MARK = "…"

DEFAULT_COLORS = {"error": "#D40E0D", "warning": "#E8A317", "info": "#439FE0", "success": "#2EB67D"}

LABELS = {
    "en": {
        "error": "ERROR",
        "warning": "WARNING",
        "info": "INFO",
        "success": "OK",
        "event": "Event",
        "unit": "Unit",
        "exec_id": "Execution ID",
        "service": "Scheduler service",
        "host": "Host",
        "time": "Date/time",
        "scope": "Scope",
        "severity": "Severity",
        "notes": "Notes",
        "missing": "missing",
        "unknown_event": "Event {id}",
        "no_event": "JP1 event",
        "route": "route",
        "unit_unknown": "(unit unknown)",
        "time_unknown": "(time unknown)",
        "digest_host": "(host: {host})",
        "digest_title": "[{level}] {count} JP1 events: {counts}",
        "digest_more": "…and {count} more events of this jobnet (details: jp1notify history)",
        "digest_footer": "digest of {count} events; details: jp1notify history",
        "count_level": "{count} {level}",
        "count_separator": ", ",
        "resolved": "RESOLVED",
        "recovered_title": "[{ok}] Recovered: {unit}",
        "recovered_after": "recovered after {downtime}, first failed {first}",
        "incident": "Incident",
        "incident_open": "open: {count} events, latest {latest}",
        "incident_open_one": "open since {first}",
        "incident_resolved": "resolved at {at}, down {downtime} ({count} events)",
        "downtime": "Down for",
        "first_failed": "First failed",
        "what_to_do": "What to do",
        "runbook": "Runbook",
        "context": "Context",
        "context_none": "(the context command wrote nothing)",
        "context_timeout": "The context command timed out after {value} s and was stopped.",
        "context_exit": "The context command ended with exit code {value}.",
        "context_not_found": "The context command {value} was not found.",
        "context_not_started": "The context command could not start: {value}",
        "context_missing": "The context command was not run: the event has no {value}.",
        "run_time": "Run time",
        "slow_title": "{name} (slow run)",
        "slow_usual": "usual {usual}, the median of the last {known} normal runs",
        "slow_raised": (
            "A slow run ({usual}): shown as {level} for that, JP1 reported {was}. Look at what "
            "slowed it down (data volume, waits for other units, the host's load)."
        ),
        "slow_kept": "A slow run ({usual}).",
    },
    "ja": {
        "error": "エラー",
        "warning": "警告",
        "info": "情報",
        "success": "正常",
        "event": "イベント",
        "unit": "ユニット",
        "exec_id": "実行ID",
        "service": "スケジューラーサービス",
        "host": "ホスト",
        "time": "発生日時",
        "scope": "スコープ",
        "severity": "重大度",
        "notes": "注意",
        "missing": "欠落",
        "unknown_event": "イベント {id}",
        "no_event": "JP1イベント",
        "route": "ルート",
        "unit_unknown": "(ユニット不明)",
        "time_unknown": "(日時不明)",
        "digest_host": "(ホスト: {host})",
        "digest_title": "[{level}] JP1イベント {count}件: {counts}",
        "digest_more": (
            "…このジョブネットではさらに {count} 件のイベントがあります(詳細: jp1notify history)"
        ),
        "digest_footer": "{count} 件のまとめ通知。詳細: jp1notify history",
        "count_level": "{level} {count}",
        "count_separator": "、",
        "resolved": "復旧",
        "recovered_title": "[{ok}] 復旧: {unit}",
        "recovered_after": "{downtime} 後に復旧(最初の異常 {first})",
        "incident": "インシデント",
        "incident_open": "継続中: イベント {count} 件、最新 {latest}",
        "incident_open_one": "{first} から継続中",
        "incident_resolved": "{at} に復旧、停止時間 {downtime}(イベント {count} 件)",
        "downtime": "停止時間",
        "first_failed": "最初の異常",
        "what_to_do": "対応手順",
        "runbook": "手順書",
        "context": "詳細情報",
        "context_none": "(詳細情報のコマンドは何も出力しませんでした)",
        "context_timeout": "詳細情報のコマンドが {value} 秒でタイムアウトしたため停止しました。",
        "context_exit": "詳細情報のコマンドが終了コード {value} で終了しました。",
        "context_not_found": "詳細情報のコマンド {value} が見つかりません。",
        "context_not_started": "詳細情報のコマンドを開始できませんでした: {value}",
        "context_missing": "イベントに {value} がないため、詳細情報のコマンドを実行しませんでした。",
        "run_time": "実行時間",
        "slow_title": "{name}(遅延)",
        "slow_usual": "通常 {usual}、直近の正常終了 {known} 回の中央値",
        "slow_raised": (
            "通常より大幅に遅い実行です({usual})。このため {level} として通知しています"
            "(JP1 の報告は {was})。遅延の原因(データ量、他のユニットの待ち合わせ、ホストの負荷)を"
            "確認してください。"
        ),
        "slow_kept": "通常より大幅に遅い実行です({usual})。",
    },
}

# EVSEV values (docs/jp1.md) as JP1's Japanese screens name them, so that a Japanese message
# carries no English fragment. A value not in the table is shown as it came.
SEVERITIES_JA = {
    "emergency": "緊急",
    "alert": "警報",
    "critical": "致命的",
    "error": "エラー",
    "warning": "警告",
    "notice": "通知",
    "information": "情報",
    "debug": "デバッグ",
}

_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_BACKTICK_RUN = re.compile(r"`(?=`)")  # each backtick followed by another


class Rendered(NamedTuple):
    payload: dict[str, Any]
    truncated: tuple[str, ...]  # names of the parts that were cut


def escape(text: str) -> str:
    """Slack's three control characters: https://docs.slack.dev/messaging/formatting-message-text"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> tuple[str, bool]:
    """Cut already-escaped text to `limit` characters, marked with "…", never inside an entity."""
    if len(text) <= limit:
        return text, False
    head = _PARTIAL_ENTITY.sub("", text[: limit - len(CUT_MARK)])
    return head + CUT_MARK, True


def shorten_path(path: str, limit: int) -> str:
    """Escaped `path` within `limit`, dropping leading segments first: the end of a unit path
    (jobnet and job names) is what a reader needs."""
    escaped = escape(path)
    if len(escaped) <= limit:
        return escaped
    segments = path.split("/")
    for start in range(2, len(segments)):
        candidate = CUT_MARK + escape("/" + "/".join(segments[start:]))
        if len(candidate) <= limit:
            return candidate
    return fit(escaped, limit)[0]


def event_name(event: Event, language: str) -> str:
    labels = LABELS[language]
    kind = event.kind
    if kind:
        return kind.name_ja if language == "ja" else kind.name_en
    if event.event_id:
        return labels["unknown_event"].format(id=event.event_id)
    return labels["no_event"]


def render(
    event: Event,
    classification: Classification,
    route_name: str,
    mentions: tuple[str, ...],
    language: str,
    config: Config,
    context: str | None = None,
    run: Run | None = None,
) -> Rendered:
    """The webhook payload of one event for one destination. For a problem event, a second
    attachment says what to do: the matching runbooks and the context command's result
    (`context`: guidance.ContextResult as the store keeps it). A jobnet's end shows its run
    time (`run`), and a slow run says so in its title."""
    labels = LABELS[language]
    level = labels[classification.level]
    name = event_name(event, language)
    if run is not None and run.slow:
        name = labels["slow_title"].format(name=name)
    cuts: list[str] = []

    prefix = escape(f"[{level}] {name}: ")
    title, cut = fit(
        prefix + _unit_text(event.unit.path, TITLE_LIMIT - len(prefix), labels), TITLE_LIMIT
    )
    _note_cut(cuts, "title", cut)
    text, cut = fit(" ".join([*mentions, title]), TEXT_LIMIT)
    _note_cut(cuts, "text", cut)
    body, cut = fit(escape(event.message or f"({labels['missing']}: EVMSG)"), MESSAGE_LIMIT)
    _note_cut(cuts, "message", cut)

    attachment: dict[str, Any] = {
        "color": config.colors.get(classification.level, DEFAULT_COLORS[classification.level]),
        "fallback": title,
        "title": title,
        "text": body,
        "fields": _fields(event, classification, language, config, cuts, run),
        "footer": escape(
            f"jp1notify {__version__} | {labels['route']}: {_route_name(route_name, labels)}"
        ),
    }
    timestamp = event_datetime(event, config.timezone)
    if timestamp:
        attachment["ts"] = int(timestamp.timestamp())
    attachments = [attachment]
    guidance = _guidance(event, classification, labels, config, context, cuts)
    if guidance:
        attachments.append({"color": attachment["color"], "mrkdwn_in": ["text"], **guidance})
    return Rendered({"text": text, "attachments": attachments}, tuple(cuts))


# What to do: runbooks and the context command's output, in an attachment of their own whose text
# is mrkdwn (bold labels, a code block), so the event's own attachment keeps its plain rendering.
# Its text stays within MESSAGE_LIMIT: the runbooks take at most RUNBOOKS_LIMIT, the context the
# rest. Escaped like all event text; config text too (a runbook may well hold "<" or "&").
RUNBOOKS_LIMIT = 1500
CODE_FENCE = "```"


def _guidance(
    event: Event,
    classification: Classification,
    labels: dict[str, str],
    config: Config,
    context: str | None,
    cuts: list[str],
) -> dict[str, str] | None:
    if not is_problem(classification):
        return None
    parts, titles = [], []
    runbooks = runbooks_for(event, classification, config)
    if runbooks:
        parts.append(_runbooks_part(runbooks, placeholder_values(event), labels, cuts))
        titles.append(labels["what_to_do"])
    result = ContextResult.loads(context)
    if result:
        room = MESSAGE_LIMIT - sum(len(p) + 2 for p in parts)
        parts.append(_context_part(result, labels, room, cuts))
        titles.append(labels["context"])
    if not parts:
        return None
    return {"fallback": " / ".join(titles), "text": "\n\n".join(parts)}


def _runbooks_part(
    runbooks: Sequence[Runbook],
    values: dict[str, str | None],
    labels: dict[str, str],
    cuts: list[str],
) -> str:
    """`*What to do*`, then each runbook's text with the event's values, and its link."""
    lines = [f"*{labels['what_to_do']}*"]
    each = (RUNBOOKS_LIMIT - len(lines[0])) // len(runbooks) - 1
    for index, runbook in enumerate(runbooks):
        link = _link(runbook, index, labels)
        text, cut = fit(escape(expand(runbook.text, values)[0]), each - len(link) - 1)
        _note_cut(cuts, "runbook", cut)
        lines.append(f"{text}\n{link}" if link else text)
    return "\n".join(lines)


def _link(runbook: Runbook, index: int, labels: dict[str, str]) -> str:
    """`<url|Runbook>`: the URL (checked by the config, without spaces) cannot end the link or
    start its label early: `|`, `<` and `>` are percent-encoded, `&` escaped as Slack asks."""
    if not runbook.url:
        return ""
    url = runbook.url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    named = runbook.name != default_name("runbooks", index) and runbook.name
    label = escape(cut_text(runbook.name, 80) if named else labels["runbook"]).replace("|", "¦")
    return f"<{url.replace('&', '&amp;')}|{label}>"


def cut_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + CUT_MARK


def _context_part(result: ContextResult, labels: dict[str, str], room: int, cuts: list[str]) -> str:
    """`*Context*`, the output in a code block, and what went wrong, within `room` characters."""
    head = f"*{labels['context']}*"
    note = (
        escape(labels[f"context_{result.code}"].format(value=result.value or ""))
        if f"context_{result.code}" in labels
        else ""
    )
    if result.text is None:
        return "\n".join(x for x in (head, note or labels["context_none"]) if x)
    limit = room - len(head) - len(note) - 2 * len(CODE_FENCE) - 4
    # A run of backticks in the output would close the code block early: break it up.
    output = _BACKTICK_RUN.sub("`\u200b", escape(result.text))
    body, cut = fit(output, max(limit, len(CUT_MARK)))
    _note_cut(cuts, "context", cut)
    block = f"{CODE_FENCE}\n{body}\n{CODE_FENCE}"
    return "\n".join(x for x in (head, block, note) if x)


def render_recovery(
    event: Event, incident: Incident, language: str, config: Config, run: Run | None = None
) -> Rendered:
    """The short message that says an incident is resolved (webhooks, and a bot's thread reply):
    green, no mention, "recovered after 1 h 10 min, first failed 02:00", the run time of the
    recovering run if known, the JP1 message."""
    labels = LABELS[language]
    cuts: list[str] = []
    ok = labels["success"]
    prefix = escape(labels["recovered_title"].format(ok=ok, unit=""))
    title, cut = fit(
        prefix + _unit_text(incident.jobnet, TITLE_LIMIT - len(prefix), labels), TITLE_LIMIT
    )
    _note_cut(cuts, "title", cut)
    after = escape(_recovered_after(incident, language, config))
    head = after
    if run is not None:  # on a line of its own: the notification text stays short
        head += "\n" + escape(f"{labels['run_time']}: {_run_value(run, language)}")
    body, cut = fit(escape(event.message or ""), MESSAGE_LIMIT - len(head) - 1)
    _note_cut(cuts, "message", cut)
    attachment: dict[str, Any] = {
        "color": config.colors.get("success", DEFAULT_COLORS["success"]),
        "fallback": f"{title} ({after})",
        "title": title,
        "text": f"{head}\n{body}" if body else head,
        "footer": escape(f"jp1notify {__version__}"),
    }
    timestamp = event_datetime(event, config.timezone)
    if timestamp:
        attachment["ts"] = int(timestamp.timestamp())
    return Rendered({"text": f"{title} ({after})", "attachments": [attachment]}, tuple(cuts))


def _recovered_after(incident: Incident, language: str, config: Config) -> str:
    from jp1notify.incidents import duration_text

    labels = LABELS[language]
    first = _clock_text(incident.opened_at, config)
    return labels["recovered_after"].format(
        downtime=duration_text(incident.downtime or 0.0, language), first=first
    )


def _clock_text(epoch: float, config: Config) -> str:
    """An instant as the manager's local time of day, with the date if not today's."""
    try:
        moment = datetime.fromtimestamp(epoch, config.timezone).astimezone(config.timezone)
    except (ValueError, OverflowError, OSError):
        return "?"
    return moment.strftime("%Y/%m/%d %H:%M")


def render_parent(
    incident: Incident, language: str, config: Config, route_name: str = ""
) -> Rendered:
    """An incident's parent message as it stands: the first problem's message (its details kept
    after recovery), with a status line: open with the event count and the latest event, or
    resolved with the downtime (then green, titled RESOLVED). No mention: an edit pings nobody,
    and the mention was in the first post."""
    from jp1notify.classify import Classification

    labels = LABELS[language]
    first = incident.first or incident.latest
    if first is None:  # both events pruned: a minimal message about the jobnet
        first = Event.from_dict(_bare_event(incident))
    classification = Classification(incident.level, "", "")
    rendered = render(first, classification, route_name, (), language, config)
    attachment = dict(rendered.payload["attachments"][0])
    fields = list(attachment.get("fields", []))
    status = escape(_incident_status(incident, language, config))
    fields.insert(0, {"title": labels["incident"], "value": status, "short": False})
    attachment["fields"] = fields[:MAX_FIELDS]
    text = rendered.payload["text"]
    if incident.state == "resolved":
        resolved = escape(f"[{labels['resolved']}] ")
        attachment["color"] = config.colors.get("success", DEFAULT_COLORS["success"])
        attachment["title"] = fit(resolved + attachment["title"], TITLE_LIMIT)[0]
        text = fit(resolved + text, TEXT_LIMIT)[0]
    attachment["fallback"] = text
    return Rendered({"text": text, "attachments": [attachment]}, rendered.truncated)


def _incident_status(incident: Incident, language: str, config: Config) -> str:
    from jp1notify.incidents import duration_text

    labels = LABELS[language]
    if incident.state == "resolved" and incident.resolved_at is not None:
        return labels["incident_resolved"].format(
            at=_clock_text(incident.resolved_at, config),
            downtime=duration_text(incident.downtime or 0.0, language),
            count=incident.events,
        )
    if incident.events <= 1 or incident.latest is None:
        return labels["incident_open_one"].format(first=_clock_text(incident.opened_at, config))
    latest = incident.latest
    unit = latest.unit.path or ""
    when = format_event_time(latest, config.timezone, short=True) or ""
    described = " ".join(x for x in (event_name(latest, language), unit, when) if x)
    return labels["incident_open"].format(count=incident.events, latest=cut_plain(described, 300))


def cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + CUT_MARK


def _bare_event(incident: Incident) -> dict[str, Any]:
    return {
        **dict.fromkeys(Event._fields),
        "unit": {
            "service": incident.service or None,
            "path": incident.jobnet,
            "exec_id": incident.exec_id,
        },
        "env": {},
        "attributes": {},
        "missing": [],
        "problems": [],
    }


def _unit_text(path: str | None, limit: int, labels: dict[str, str]) -> str:
    """A unit path for a title or a digest header, escaped, within `limit`: its end if long,
    "(unit unknown)" if the event named none."""
    return shorten_path(path, limit) if path else escape(labels["unit_unknown"])


def severity_text(severity: str | None, language: str) -> str | None:
    """EVSEV as shown: translated in Japanese messages, as JP1 sent it otherwise."""
    if severity is None or language != "ja":
        return severity
    return SEVERITIES_JA.get(severity.lower(), severity)


def _route_name(name: str, labels: dict[str, str]) -> str:
    """An unnamed route's name (`route #2`) in the message's language; a given name as is."""
    number = name.removeprefix("route #")
    return f"{labels['route']} #{number}" if number != name and number.isdigit() else name


def _fields(
    event: Event,
    classification: Classification,
    language: str,
    config: Config,
    cuts: list[str],
    run: Run | None = None,
) -> list[dict[str, Any]]:
    labels = LABELS[language]
    unit = event.unit
    event_line = " ".join(
        x for x in (event.event_id, event_name(event, language), _paren(event.message_id)) if x
    )
    host = " ".join(x for x in (event.host, _paren(event.ip)) if x)
    rows: list[tuple[str, str | None, bool]] = [
        (labels["event"], event_line, False),
        (labels["unit"], unit.path, False),
        (labels["exec_id"], unit.exec_id, True),
        (labels["service"], unit.service, True),
        (labels["host"], host or None, True),
        (labels["time"], format_event_time(event, config.timezone), True),
        *_run_rows(run, classification.level, language),
        (labels["scope"], classification.scope, True),
        (labels["severity"], severity_text(event.severity, language), True),
    ]
    rows += [(name, _extra_value(event, name), True) for name in config.extra_fields]
    notes = _notes(event, language)
    if notes:
        rows.append((labels["notes"], notes, False))
    fields: list[dict[str, Any]] = []
    for title, value, short in rows:
        if value is None or len(fields) == MAX_FIELDS:
            continue
        fitted, cut = fit(escape(value), FIELD_LIMIT)
        _note_cut(cuts, f"field {title}", cut)
        fields.append({"title": title, "value": fitted, "short": short})
    return fields


def _run_rows(run: Run | None, level: str, language: str) -> list[tuple[str, str | None, bool]]:
    """The run time field of a jobnet's end; a slow run's takes the whole width, to say why."""
    if run is None:
        return []
    labels = LABELS[language]
    value = _run_value(run, language)
    if not run.slow:
        return [(labels["run_time"], value, True)]
    return [(labels["run_time"], f"{value}\n{_slow_note(run, level, language)}", False)]


def _run_value(run: Run, language: str) -> str:
    from jp1notify.runs import run_text

    return run_text(run, language)


def _slow_note(run: Run, level: str, language: str) -> str:
    """Why a slow run's message has the level it has: raised from the event's own level
    ([durations] slow_level), or kept (an abnormal end stays an error)."""
    from jp1notify.incidents import duration_text

    labels = LABELS[language]
    usual = labels["slow_usual"].format(
        usual=duration_text(run.usual or 0.0, language), known=run.known
    )
    if run.raised_from is None:
        return labels["slow_kept"].format(usual=usual)
    was = labels.get(run.raised_from, run.raised_from)
    return labels["slow_raised"].format(usual=usual, level=labels.get(level, level), was=was)


def _notes(event: Event, language: str) -> str | None:
    return "; ".join(describe_problems(event, language)) or None


def _extra_value(event: Event, name: str) -> str | None:
    """An extra field named in the config: EVUSR, EVENV1, EV:OBJECT_NAME, ..."""
    if name.upper().startswith("EV:"):
        return event.attributes.get(name[3:])
    if name.upper() in event.env:
        return event.env[name.upper()]
    field = FIELDS.get(name.upper())
    return getattr(event, field) if field else None


def _paren(text: str | None) -> str | None:
    return f"({text})" if text else None


def format_event_time(event: Event, zone: tzinfo | None, short: bool = False) -> str | None:
    """`2026/11/22 02:13:05 JST (UTC+09:00)`, or with `short` `2026/11/22 02:13:05 JST`; the
    raw text if it does not parse, None if there is none."""
    moment = event_datetime(event, zone)
    if moment is None:
        raw = " ".join(x for x in (event.date, event.time) if x)
        return raw or None
    return format_moment(moment, short)


def format_moment(moment: datetime, short: bool = False) -> str:
    """An aware datetime as JP1 writes dates, with its zone: the abbreviation where the zone has
    a real one (JST, CET; not "+04"), the UTC offset always in the long form."""
    offset = moment.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    abbrev = moment.tzname() or ""
    named = abbrev.isalpha() and abbrev != "UTC"  # JST, CET; not "+04" or "UTC+05:30"
    zone = (abbrev if short else f"{abbrev} ({utc})") if named else utc
    return f"{moment.strftime('%Y/%m/%d %H:%M:%S')} {zone}"


def _note_cut(cuts: list[str], name: str, cut: bool) -> None:
    if cut:
        cuts.append(name)


# Digests: during a storm one message carries many events, grouped by jobnet, so that every
# event is in Slack within seconds without flooding the channel (or Slack's 1 msg/s limit).
DIGEST_EVENTS_PER_JOBNET = 5  # more events of one jobnet are summarised as "and N more"
DIGEST_MAX_ATTACHMENTS = 10  # each holds up to MESSAGE_LIMIT characters of lines; Slack allows 100
# Line limits, so that one jobnet's block (its path, 5 events of two lines each, the "more" line)
# always fits one attachment: 200 + 5 * (2 + 250 + 1 + 4 + 200 + 1) + 1 + 120 < MESSAGE_LIMIT.
DIGEST_PATH_LIMIT = 200
DIGEST_LINE_LIMIT = 250  # an event's line: time, level, ID, name, job, execution ID, host
DIGEST_JP1_MESSAGE_LIMIT = 200  # the first line of its JP1 message, on the line below
# Broadcast mentions, strongest first: a digest pings once, with the strongest one its events'
# routes ask for (https://docs.slack.dev/messaging/formatting-message-text#special-mentions).
BROADCASTS = ("<!everyone>", "<!channel>", "<!here>")


class DigestItem(NamedTuple):
    event: Event
    level: str
    mentions: tuple[str, ...]
    run: Run | None = None  # a jobnet's end: its line says how long the run took


class Digest(NamedTuple):
    payload: dict[str, Any]
    included: tuple[int, ...]  # indexes of the items it carries; the rest wait for the next one


def render_digest(items: Sequence[DigestItem], language: str, config: Config) -> Digest:
    """One message for many events of one destination: counts by level, then each affected
    jobnet with its events (time with zone, level, event, job, host, first line of the JP1
    message). Jobnets that do not fit within Slack's limits are left out of `included`, to go
    in the next digest, rather than hidden; an included event is either listed or counted in
    its jobnet's "more events" line.

    Order: the most severe jobnet first, then the one with the earliest event. Within a jobnet,
    events in the order of their own EVDATE/EVTIME (in `config.timezone`); events without a
    usable time follow those with one, in the order they arrived."""
    labels = LABELS[language]
    chunks, included = _pack(items, language, config.timezone)
    carried = [items[i] for i in included]
    worst = min((item.level for item in carried), key=LEVELS.index)
    title = _digest_title(carried, worst, labels)
    mentions = merge_mentions(m for item in carried for m in item.mentions)
    color = config.colors.get(worst, DEFAULT_COLORS[worst])
    attachments: list[dict[str, Any]] = [{"color": color, "text": chunk} for chunk in chunks]
    attachments[0].update(fallback=title, title=title)
    attachments[-1]["footer"] = escape(
        f"jp1notify {__version__} | " + labels["digest_footer"].format(count=len(carried))
    )
    times = [t for item in carried if (t := event_datetime(item.event, config.timezone))]
    if times:
        attachments[-1]["ts"] = int(max(times).timestamp())
    return Digest(
        {"text": fit(" ".join([*mentions, title]), TEXT_LIMIT)[0], "attachments": attachments},
        tuple(included),
    )


def _digest_title(carried: list[DigestItem], worst: str, labels: dict[str, str]) -> str:
    """`[ERROR] 12 JP1 events: 9 ERROR, 3 WARNING`, escaped."""
    counts = labels["count_separator"].join(
        labels["count_level"].format(count=n, level=labels[level])
        for level in LEVELS
        if (n := sum(1 for item in carried if item.level == level))
    )
    return escape(
        labels["digest_title"].format(level=labels[worst], count=len(carried), counts=counts)
    )


def merge_mentions(mentions: Iterable[str]) -> list[str]:
    """The mentions of many events in one message: the strongest broadcast only (everyone >
    channel > here), then every user and user-group mention once, in order of appearance."""
    unique = list(dict.fromkeys(mentions))
    broadcast = [b for b in BROADCASTS if b in unique][:1]
    return broadcast + [m for m in unique if m not in BROADCASTS]


def _pack(
    items: Sequence[DigestItem], language: str, zone: tzinfo | None
) -> tuple[list[str], list[int]]:
    """The jobnet blocks that fit, as attachment texts, and the indexes of the items they carry."""
    chunks: list[str] = []
    included: list[int] = []
    for jobnet, indexes in _by_jobnet(items, zone):
        block = _jobnet_block(jobnet, [items[i] for i in indexes], language, zone)
        if not _add_block(chunks, block):
            if not included:  # the line limits make a block fit; should one not, send it cut
                chunks.append(fit(block, MESSAGE_LIMIT)[0])
                included += indexes
            break
        included += indexes
    return chunks, included


def _by_jobnet(
    items: Sequence[DigestItem], zone: tzinfo | None
) -> list[tuple[str | None, list[int]]]:
    """Item indexes grouped by jobnet (None: unit unknown), each group in time order; the most
    severe jobnet first, then the one with the earliest event, then the first to arrive."""
    times = [_time_key(item.event, zone) for item in items]
    groups: dict[str | None, list[int]] = {}
    for index in sorted(range(len(items)), key=lambda i: (times[i], i)):
        groups.setdefault(items[index].event.jobnet, []).append(index)
    return sorted(
        groups.items(),
        key=lambda g: (min(LEVELS.index(items[i].level) for i in g[1]), times[g[1][0]], g[1][0]),
    )


def _time_key(event: Event, zone: tzinfo | None) -> tuple[int, float]:
    """Sorts events by their own time; those without a usable one after all others."""
    moment = event_datetime(event, zone)
    return (0, moment.timestamp()) if moment else (1, 0.0)


def _jobnet_block(
    jobnet: str | None, items: list[DigestItem], language: str, zone: tzinfo | None
) -> str:
    labels = LABELS[language]
    shown = _shown(items)
    lines = [_unit_text(jobnet, DIGEST_PATH_LIMIT, labels)]
    for item in shown:
        lines += _event_lines(item, jobnet, language, zone)
    hidden = len(items) - len(shown)
    if hidden > 0:
        lines.append("  " + escape(labels["digest_more"].format(count=hidden)))
    return "\n".join(lines)


def _shown(items: list[DigestItem]) -> list[DigestItem]:
    """The events a jobnet block lists, still in time order: the most severe, earliest first."""
    if len(items) <= DIGEST_EVENTS_PER_JOBNET:
        return items
    ranked = sorted(range(len(items)), key=lambda i: LEVELS.index(items[i].level))
    return [items[i] for i in sorted(ranked[:DIGEST_EVENTS_PER_JOBNET])]


def _event_lines(
    item: DigestItem, jobnet: str | None, language: str, zone: tzinfo | None
) -> list[str]:
    """Two lines: what happened where and when, then the JP1 message (first line, cut)."""
    labels = LABELS[language]
    event = item.event
    path = event.unit.path
    host = event.host or event.ip  # the IP address only stands in for a missing host name
    parts = [
        format_event_time(event, zone, short=True) or labels["time_unknown"],
        f"[{labels[item.level]}]",
        event.event_id,
        event_name(event, language),
        _short_run(item.run, language),
        path.rsplit("/", 1)[-1] if path and path != jobnet else None,  # the job, for job events
        event.unit.exec_id,
        labels["digest_host"].format(host=host) if host else None,
    ]
    head = fit(escape(" ".join(p for p in parts if p)), DIGEST_LINE_LIMIT)[0]
    message = (event.message or f"({labels['missing']}: EVMSG)").splitlines()[0]
    return ["  " + head, "    " + fit(escape(message), DIGEST_JP1_MESSAGE_LIMIT)[0]]


def _short_run(run: Run | None, language: str) -> str | None:
    """`(42 min, slow)` on a digest line."""
    if run is None:
        return None
    from jp1notify.runs import short_text

    return short_text(run, language)


def _add_block(chunks: list[str], block: str) -> bool:
    """Append a jobnet block to the last attachment text, or start a new one; False if full."""
    if len(block) > MESSAGE_LIMIT:
        return False
    if chunks and len(chunks[-1]) + 1 + len(block) <= MESSAGE_LIMIT:
        chunks[-1] += "\n" + block
        return True
    if len(chunks) == DIGEST_MAX_ATTACHMENTS:
        return False
    chunks.append(block)
    return True
