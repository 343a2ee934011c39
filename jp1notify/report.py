"""`jp1notify report` (the weekly review) and `jp1notify history --stats` (writing [[expect]]).

What the store knows about a period, per jobnet: failures, warnings, missed runs, normal runs,
the incidents opened and how long they lasted (MTTR: the mean time from the first problem to the
recovery, resolved incidents only), the usual run time and the usual end time of day. Shown as a
text table, JSON (`schema` 1, keys in docs/operators.md), one self-contained HTML page with
inline SVG charts, or a short Slack summary.

Times are the events' own (EVDATE/EVTIME; rows of older versions: when received). A time of day
lives on a circle: a jobnet that ends at 23:55 one night and 00:05 the next usually ends at
midnight, not at noon, so the usual end is the median of the end times with the circle cut at
its widest empty stretch; when the ends are spread over the day (an hourly jobnet) it "varies".

Figures are built by a pure function of the store's rows (`gather`); rendering reads no clock.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify import __version__
from jp1notify.catalog import MISSED_EVENT
from jp1notify.errors import HistoryError, PatternError
from jp1notify.runs import NORMAL_END, median
from jp1notify.text import cut

if TYPE_CHECKING:
    import argparse

    import httpx

    from jp1notify.config import Config, Destination

SCHEMA = 1  # the `schema` of report --json and history --stats --json; bump on a breaking change
DAY = 86400
VARIES_SECONDS = 2 * 3600  # ends this far from the usual one (median distance): "varies"
EXPECT_MARGIN = 30 * 60  # a suggested [[expect]] `by`: the latest normal end plus this,
EXPECT_STEP = 15 * 60  # rounded up to a quarter of an hour
EXPECT_MIN_RUNS = 3  # fewer normal ends in the period: no suggestion
TOP = 10  # jobnets in the top offenders and MTTR charts
POST_TOP = 5  # jobnets named in the Slack summary
MESSAGE_CHARS = 200  # the first line of a failure's JP1 message, as shown
POST_KINDS = ("slack_webhook", "slack_bot")  # destinations.Kind values a summary can go to
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as [[expect]] days are written

LABELS = {
    "en": {
        "title": "jp1notify report",
        "period": "Period",
        "totals": "Totals",
        "jobnets": "Jobnets",
        "jobnet": "jobnet",
        "service": "service",
        "failures": "failures",
        "warnings": "warnings",
        "missed": "missed",
        "runs": "runs",
        "incidents": "incidents",
        "open": "open",
        "downtime": "downtime",
        "mttr": "MTTR",
        "usual_duration": "usual duration",
        "usual_end": "usual end",
        "latest_end": "latest end",
        "varies": "varies",
        "last_failure": "latest failure",
        "per_day": "Failures per day",
        "top": "Top offenders",
        "recover": "Time to recover (MTTR per jobnet, resolved incidents)",
        "incident_list": "Incidents opened in the period",
        "state": "state",
        "opened": "opened",
        "resolved": "resolved",
        "date": "date",
        "none": "nothing recorded in this period",
        "no_problem": "no failure, warning or missed run in this period",
        "no_recovery": "no incident resolved in this period",
        "summary": (
            "{jobnets} jobnets: {failures} failures, {warnings} warnings, {missed} missed runs, "
            "{runs} normal runs; {incidents} incidents ({open} open), downtime {downtime}, "
            "MTTR {mttr}"
        ),
        "offender": "{jobnet}: {failures} failures, {missed} missed, {warnings} warnings, down {downtime}",
        "post_title": "jp1notify report {start} - {end}",
        "missed_runs": "Missed runs",
        "stats_title": "Normal ends per jobnet",
        "suggested_by": "suggested by",
        "snippet": (
            "# [[expect]] entries for jobnets with at least {runs} normal ends in the period: `by` is "
            "the latest end plus {margin} min, rounded up to {step} min. Check them, then paste them "
            "into the config and run jp1notify check-config."
        ),
        "no_snippet": "# no jobnet ended normally at least {runs} times at a steady time in this period",
    },
    "ja": {
        "title": "jp1notify レポート",
        "period": "期間",
        "totals": "合計",
        "jobnets": "ジョブネット",
        "jobnet": "ジョブネット",
        "service": "サービス",
        "failures": "異常",
        "warnings": "警告",
        "missed": "未実行",
        "runs": "正常終了",
        "incidents": "インシデント",
        "open": "継続中",
        "downtime": "停止時間",
        "mttr": "MTTR",
        "usual_duration": "通常の実行時間",
        "usual_end": "通常の終了時刻",
        "latest_end": "最も遅い終了",
        "varies": "不定",
        "last_failure": "最新の異常",
        "per_day": "日ごとの異常",
        "top": "問題の多いジョブネット",
        "recover": "復旧までの時間(ジョブネットごとの MTTR、復旧済みのインシデント)",
        "incident_list": "期間内に発生したインシデント",
        "state": "状態",
        "opened": "発生",
        "resolved": "復旧",
        "date": "日付",
        "none": "この期間の記録はありません",
        "no_problem": "この期間に異常・警告・未実行はありません",
        "no_recovery": "この期間に復旧したインシデントはありません",
        "summary": (
            "ジョブネット {jobnets}: 異常 {failures}、警告 {warnings}、未実行 {missed}、"
            "正常終了 {runs}。インシデント {incidents}(継続中 {open})、停止時間 {downtime}、"
            "MTTR {mttr}"
        ),
        "offender": "{jobnet}: 異常 {failures}、未実行 {missed}、警告 {warnings}、停止 {downtime}",
        "post_title": "jp1notify レポート {start} - {end}",
        "missed_runs": "未実行",
        "stats_title": "ジョブネットごとの正常終了",
        "suggested_by": "by の候補",
        "snippet": (
            "# 期間内に {runs} 回以上正常終了したジョブネットの [[expect]]。`by` は最も遅い終了の "
            "{margin} 分後を {step} 分単位に切り上げたもの。確認して設定ファイルに貼り付け、"
            "jp1notify check-config を実行してください。"
        ),
        "no_snippet": "# この期間に {runs} 回以上、安定した時刻に正常終了したジョブネットはありません",
    },
}


class Row(NamedTuple):
    """An event about a jobnet, as the report reads it (Store.report_events)."""

    jobnet: str
    service: str | None
    event_id: str | None
    level: str
    at: float  # its own time (EVDATE/EVTIME), else when it was received
    duration: float | None  # a jobnet's end: its run's length (runs.py)
    event_json: str | None  # errors only: the stored event, for the latest failure


class Span(NamedTuple):
    """An incident opened in the period (Store.report_incidents)."""

    id: int
    jobnet: str
    service: str
    state: str
    level: str
    opened_at: float
    resolved_at: float | None

    def downtime(self, until: float) -> float:
        """From the first problem to the recovery; an open one until the end of the period."""
        end = self.resolved_at if self.resolved_at is not None else until
        return max(0.0, end - self.opened_at)


class Clock(NamedTuple):
    """When a jobnet ends normally, as seconds after local midnight."""

    usual: float | None  # None: no normal end, or they vary
    latest: float | None  # the latest relative to the usual one (00:05 is later than 23:55)
    varies: bool  # spread over the day: no usual end


class Failure(NamedTuple):
    at: float
    event_id: str | None
    host: str | None
    message: str | None  # the first line of the JP1 message


class Jobnet(NamedTuple):
    """The figures of one jobnet over the period."""

    jobnet: str
    services: tuple[str, ...]
    failures: int  # events of level error, missed runs aside
    warnings: int
    missed: int  # catalog.MISSED_EVENT, recorded by `jp1notify watch`
    runs: int  # normal ends (4103)
    incidents: int
    open_incidents: int
    downtime: float  # seconds, incidents opened in the period (open ones until its end)
    mttr: float | None  # mean seconds to recover, resolved incidents only
    usual_duration: float | None  # median run time of the normal ends
    clock: Clock
    weekdays: frozenset[int]  # local weekdays (Monday 0) it ended normally on
    last_failure: Failure | None

    @property
    def problems(self) -> int:
        return self.failures + self.missed


class Day(NamedTuple):
    date: date
    failures: int
    warnings: int
    missed: int


class Figures(NamedTuple):
    since: float
    until: float
    zone: tzinfo | None  # [message] timezone (None: this machine's)
    zone_name: str | None
    jobnets: tuple[Jobnet, ...]  # by name
    days: tuple[Day, ...]  # every local date of the period, oldest first
    incidents: tuple[Span, ...]  # opened in the period, oldest first


# -- the figures (pure) -------------------------------------------------------------------------


def gather(
    rows: Iterable[Row],
    spans: Iterable[Span],
    since: float,
    until: float,
    zone: tzinfo | None,
    zone_name: str | None = None,
) -> Figures:
    """The report's figures from the store's rows over [since, until], dates in `zone`."""
    rows, spans = list(rows), list(spans)
    by_jobnet: dict[str, list[Row]] = {}
    for row in rows:
        by_jobnet.setdefault(row.jobnet, []).append(row)
    span_groups: dict[str, list[Span]] = {}
    for span in spans:
        span_groups.setdefault(span.jobnet, []).append(span)
    names = sorted(set(by_jobnet) | set(span_groups))
    jobnets = tuple(
        _jobnet(n, by_jobnet.get(n, []), span_groups.get(n, []), until, zone) for n in names
    )
    return Figures(
        since, until, zone, zone_name, jobnets, _days(rows, since, until, zone), tuple(spans)
    )


def _jobnet(
    name: str, rows: list[Row], spans: list[Span], until: float, zone: tzinfo | None
) -> Jobnet:
    ends = [r for r in rows if r.event_id == NORMAL_END]
    failed = [r for r in rows if _failure(r)]
    resolved = [s.downtime(until) for s in spans if s.resolved_at is not None]
    moments = [_local(r.at, zone) for r in ends]
    return Jobnet(
        jobnet=name,
        services=tuple(
            sorted({r.service for r in rows if r.service} | {s.service for s in spans if s.service})
        ),
        failures=len(failed),
        warnings=sum(1 for r in rows if _warning(r)),
        missed=sum(1 for r in rows if r.event_id == MISSED_EVENT),
        runs=len(ends),
        incidents=len(spans),
        open_incidents=sum(1 for s in spans if s.resolved_at is None),
        downtime=sum(s.downtime(until) for s in spans),
        mttr=sum(resolved) / len(resolved) if resolved else None,
        usual_duration=median([r.duration for r in ends if r.duration is not None]),
        clock=clock([_seconds_of_day(m) for m in moments]),
        weekdays=frozenset(m.weekday() for m in moments),
        last_failure=_last_failure(failed[-1]) if failed else None,
    )


def _failure(row: Row) -> bool:
    return row.level == "error" and row.event_id != MISSED_EVENT


def _warning(row: Row) -> bool:
    return row.level == "warning" and row.event_id != MISSED_EVENT


def _days(rows: list[Row], since: float, until: float, zone: tzinfo | None) -> tuple[Day, ...]:
    """Every local date from `since` to `until`, with its failures, warnings and missed runs."""
    first, last = _local(since, zone).date(), _local(until, zone).date()
    counts = {first + timedelta(days=i): [0, 0, 0] for i in range((last - first).days + 1)}
    for row in rows:
        found = counts.get(_local(row.at, zone).date())
        if found is not None:
            index = (
                0
                if _failure(row)
                else 1
                if _warning(row)
                else 2
                if row.event_id == MISSED_EVENT
                else None
            )
            if index is not None:
                found[index] += 1
    return tuple(Day(d, *c) for d, c in counts.items())


def clock(seconds: Sequence[float]) -> Clock:
    """The usual and latest end of day from end times (seconds after local midnight).

    The circle is cut at its widest gap between consecutive ends, so that ends around midnight
    stay together; the usual end is the median there, and it "varies" when the ends lie a median
    of more than VARIES_SECONDS away from it (an hourly jobnet). The latest end is the one
    furthest after the usual end, within half a day of it."""
    if not seconds:
        return Clock(None, None, False)
    ordered = sorted(s % DAY for s in seconds)
    gaps = [b - a for a, b in itertools.pairwise(ordered)] + [ordered[0] + DAY - ordered[-1]]
    start = (gaps.index(max(gaps)) + 1) % len(ordered)
    unrolled = [s if i >= start else s + DAY for i, s in enumerate(ordered)]
    middle = median(unrolled)
    assert middle is not None
    spread = median([abs(s - middle) for s in unrolled]) or 0.0
    latest = max(_offset(s - middle) for s in ordered)
    if spread > VARIES_SECONDS:
        return Clock(None, None, True)
    return Clock(middle % DAY, (middle + latest) % DAY, False)


def _offset(seconds: float) -> float:
    """A difference of times of day, brought within [-12 h, +12 h)."""
    return (seconds + DAY / 2) % DAY - DAY / 2


def suggested_by(figures: Jobnet) -> str | None:
    """An [[expect]] `by` for a jobnet: its latest normal end plus EXPECT_MARGIN, rounded up to
    EXPECT_STEP; None with fewer than EXPECT_MIN_RUNS normal ends or ends that vary."""
    latest = figures.clock.latest
    if figures.runs < EXPECT_MIN_RUNS or latest is None:
        return None
    moment = math.ceil((latest + EXPECT_MARGIN) / EXPECT_STEP) * EXPECT_STEP % DAY
    return _clock_text(moment)


def _last_failure(row: Row) -> Failure:
    data: Any = None
    try:
        data = json.loads(row.event_json or "")
    except ValueError:
        pass
    data = data if isinstance(data, dict) else {}
    message = data.get("message")
    first = message.splitlines()[0] if isinstance(message, str) and message.strip() else None
    host = data.get("host") if isinstance(data.get("host"), str) else None
    return Failure(row.at, row.event_id, host or None, cut(first, MESSAGE_CHARS) if first else None)


def _local(epoch: float, zone: tzinfo | None) -> datetime:
    moment = datetime.fromtimestamp(epoch, zone)
    return moment if zone else moment.astimezone()


def _seconds_of_day(moment: datetime) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def _clock_text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes = int(seconds // 60) % (DAY // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def totals(figures: Figures) -> dict[str, Any]:
    """The period's totals, as --json writes them."""
    jobnets = figures.jobnets
    resolved = [s.downtime(figures.until) for s in figures.incidents if s.resolved_at is not None]
    return {
        "jobnets": len(jobnets),
        "failures": sum(j.failures for j in jobnets),
        "warnings": sum(j.warnings for j in jobnets),
        "missed_runs": sum(j.missed for j in jobnets),
        "runs": sum(j.runs for j in jobnets),
        "incidents": len(figures.incidents),
        "open_incidents": sum(1 for s in figures.incidents if s.resolved_at is None),
        "downtime_seconds": round(sum(s.downtime(figures.until) for s in figures.incidents)),
        "mttr_seconds": _round(sum(resolved) / len(resolved) if resolved else None),
    }


def offenders(figures: Figures, count: int = TOP) -> list[Jobnet]:
    """The jobnets with the most failures and missed runs, then downtime, then warnings."""
    found = [j for j in figures.jobnets if j.problems or j.warnings]
    found.sort(key=lambda j: (-j.problems, -j.downtime, -j.warnings, j.jobnet))
    return found[:count]


# -- JSON ---------------------------------------------------------------------------------------


def as_json(figures: Figures) -> dict[str, Any]:
    """`report --json` (docs/operators.md lists the keys). Times in ISO 8601 with the offset,
    times of day as HH:MM in the report's zone, durations in whole seconds."""
    return {
        "schema": SCHEMA,
        "generator": f"jp1notify {__version__}",
        "period": _period(figures),
        "totals": totals(figures),
        "jobnets": [_jobnet_json(j, figures.zone) for j in figures.jobnets],
        "per_day": [
            {
                "date": d.date.isoformat(),
                "failures": d.failures,
                "warnings": d.warnings,
                "missed_runs": d.missed,
            }
            for d in figures.days
        ],
        "top_offenders": [_offender_json(j) for j in offenders(figures)],
        "incidents": [_incident_json(s, figures) for s in figures.incidents],
    }


def _period(figures: Figures) -> dict[str, Any]:
    return {
        "since": _iso(figures.since, figures.zone),
        "until": _iso(figures.until, figures.zone),
        "timezone": figures.zone_name,
    }


def _jobnet_json(j: Jobnet, zone: tzinfo | None) -> dict[str, Any]:
    failure = j.last_failure
    return {
        "jobnet": j.jobnet,
        "service": ", ".join(j.services) or None,
        "failures": j.failures,
        "warnings": j.warnings,
        "missed_runs": j.missed,
        "runs": j.runs,
        "incidents": j.incidents,
        "open_incidents": j.open_incidents,
        "downtime_seconds": round(j.downtime),
        "mttr_seconds": _round(j.mttr),
        "usual_duration_seconds": _round(j.usual_duration),
        "usual_end": _clock_text(j.clock.usual),
        "end_varies": j.clock.varies,
        "latest_end": _clock_text(j.clock.latest),
        "last_failure": None
        if failure is None
        else {
            "time": _iso(failure.at, zone),
            "event_id": failure.event_id,
            "host": failure.host,
            "message": failure.message,
        },
    }


def _offender_json(j: Jobnet) -> dict[str, Any]:
    return {
        "jobnet": j.jobnet,
        "failures": j.failures,
        "missed_runs": j.missed,
        "warnings": j.warnings,
        "downtime_seconds": round(j.downtime),
    }


def _incident_json(span: Span, figures: Figures) -> dict[str, Any]:
    return {
        "id": span.id,
        "jobnet": span.jobnet,
        "service": span.service or None,
        "state": span.state,
        "level": span.level,
        "opened_at": _iso(span.opened_at, figures.zone),
        "resolved_at": _iso(span.resolved_at, figures.zone)
        if span.resolved_at is not None
        else None,
        "downtime_seconds": round(span.downtime(figures.until)),
    }


def _iso(epoch: float, zone: tzinfo | None) -> str:
    return _local(epoch, zone).isoformat(timespec="seconds")


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


# -- text ---------------------------------------------------------------------------------------


def as_text(figures: Figures, language: str) -> str:
    """The table operators read in a console: totals, one line per jobnet, failures per day."""
    labels = LABELS[language]
    lines = [f"{labels['title']}: {_span_text(figures)}", _summary(figures, language), ""]
    if not figures.jobnets:
        return "\n".join([*lines, labels["none"]])
    head = ("jobnet", "service", "failures", "warnings", "missed", "runs", "incidents", "downtime",
            "mttr", "usual_duration", "usual_end", "latest_end")  # fmt: skip
    table = [[labels[h] for h in head]]
    table += [_text_cells(j, language) for j in figures.jobnets]
    lines += _aligned(table, right=range(2, 8))
    per_day = ", ".join(f"{d.date.strftime('%m/%d')} {d.failures}" for d in figures.days)
    lines += ["", f"{labels['per_day']}: {per_day}"]
    return "\n".join(lines)


def _text_cells(j: Jobnet, language: str) -> list[str]:
    incidents = str(j.incidents) + (
        f" ({j.open_incidents} {LABELS[language]['open']})" if j.open_incidents else ""
    )
    return [
        _plain(j.jobnet),
        _plain(", ".join(j.services)) or "-",
        str(j.failures),
        str(j.warnings),
        str(j.missed),
        str(j.runs),
        incidents,
        _duration(j.downtime if j.incidents else None, language),
        _duration(j.mttr, language),
        _duration(j.usual_duration, language),
        _end_text(j.clock, language, "usual"),
        _end_text(j.clock, language, "latest"),
    ]


def _end_text(shown: Clock, language: str, which: str) -> str:
    if shown.varies:
        return LABELS[language]["varies"]
    return _clock_text(shown.usual if which == "usual" else shown.latest) or "-"


def _aligned(table: list[list[str]], right: Iterable[int] = ()) -> list[str]:
    """Columns padded to their widest cell, counting wide (CJK) characters as two."""
    right = set(right)
    widths = [max(_width(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [
            (" " * (w - _width(c)) + c) if i in right else (c + " " * (w - _width(c)))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _plain(text: str) -> str:
    """A name from an event, safe for a console line (no control characters)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _summary(figures: Figures, language: str) -> str:
    found = totals(figures)
    return LABELS[language]["summary"].format(
        jobnets=found["jobnets"],
        failures=found["failures"],
        warnings=found["warnings"],
        missed=found["missed_runs"],
        runs=found["runs"],
        incidents=found["incidents"],
        open=found["open_incidents"],
        downtime=_duration(found["downtime_seconds"], language),
        mttr=_duration(found["mttr_seconds"], language),
    )


def _span_text(figures: Figures) -> str:
    start, end = (_local(t, figures.zone) for t in (figures.since, figures.until))
    zone = f" ({figures.zone_name})" if figures.zone_name else ""
    return (
        f"{start:%Y/%m/%d %H:%M} - {end:%Y/%m/%d %H:%M} {end.strftime('%Z') or ''}".rstrip() + zone
    )


def _duration(seconds: float | None, language: str) -> str:
    if seconds is None:
        return "-"
    from jp1notify.incidents import duration_text

    return duration_text(seconds, language)


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Meiryo",sans-serif;margin:2em;color:#1d1c1d}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f4f4f4;text-align:left}td.n{text-align:right}
svg{display:block;max-width:100%;height:auto}svg text{font-size:12px;fill:#1d1c1d}
.bar{fill:#d40e0d}.miss{fill:#e8a317}.rec{fill:#439fe0}.muted{color:#666}
"""


def as_html(figures: Figures, language: str) -> str:
    """One self-contained page: inline CSS and SVG, no script, nothing fetched. Every name,
    host and message from an event is escaped: unit names are input JP1 took from anyone."""
    labels = LABELS[language]
    title = f"{labels['title']}: {_span_text(figures)}"
    parts = [
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">',
        f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(labels['title'])}</h1>",
        f"<p>{_h(labels['period'])}: {_h(_span_text(figures))}</p>",
        f"<p>{_h(_summary(figures, language))}</p>",
        f"<h2>{_h(labels['per_day'])}</h2>",
        _day_chart(figures),
        f"<h2>{_h(labels['top'])}</h2>",
        _offender_chart(figures, labels),
        f"<h2>{_h(labels['recover'])}</h2>",
        _recover_chart(figures, language),
        f"<h2>{_h(labels['jobnets'])}</h2>",
        _jobnet_table(figures, language),
        f"<h2>{_h(labels['incident_list'])}</h2>",
        _incident_table(figures, language),
        f'<p class="muted">jp1notify {_h(__version__)}</p></body></html>\n',
    ]
    return "\n".join(parts)


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _day_chart(figures: Figures) -> str:
    """Vertical bars per local date: failures (red) with the missed runs (amber) on top, the
    count above them, the date below; the full figures in the tooltip."""
    days = figures.days
    top = max([d.failures + d.missed for d in days] + [1])
    step, height, base = 44, 160, 180  # base: the bars' baseline, room above for the counts
    width = 40 + step * len(days)
    out = [
        f'<svg class="chart" id="per-day" viewBox="0 0 {width} {base + 24}" width="{width}"'
        ' role="img">'
    ]
    for i, d in enumerate(days):
        x = 40 + i * step
        failed, missed = height * d.failures / top, height * d.missed / top
        label = f"{d.date.isoformat()}: {d.failures} / {d.missed} / {d.warnings}"
        out.append(
            f"<g><title>{_h(label)}</title>"
            f'<rect class="bar" x="{x}" y="{base - failed:.1f}" width="30" height="{failed:.1f}"/>'
            f'<rect class="miss" x="{x}" y="{base - failed - missed:.1f}" width="30"'
            f' height="{missed:.1f}"/>'
            f'<text x="{x + 15}" y="{base - failed - missed - 4:.1f}" text-anchor="middle">'
            f"{d.failures + d.missed or ''}</text>"
            f'<text x="{x + 15}" y="{base + 16}" text-anchor="middle">{d.date:%m/%d}</text></g>'
        )
    out.append(f'<line x1="36" y1="{base}" x2="{width}" y2="{base}" stroke="#999"/></svg>')
    return "\n".join(out)


def _offender_chart(figures: Figures, labels: dict[str, str]) -> str:
    found = offenders(figures)
    if not found:
        return f'<p class="muted">{_h(labels["no_problem"])}</p>'
    bars = [
        (j.jobnet, j.failures, j.missed, f"{j.failures} / {j.missed} / {j.warnings}") for j in found
    ]
    return _hbars("offenders", bars)


def _recover_chart(figures: Figures, language: str) -> str:
    found = sorted(
        (j for j in figures.jobnets if j.mttr is not None), key=lambda j: (-(j.mttr or 0), j.jobnet)
    )
    if not found:
        return f'<p class="muted">{_h(LABELS[language]["no_recovery"])}</p>'
    bars = [(j.jobnet, j.mttr or 0.0, 0.0, _duration(j.mttr, language)) for j in found[:TOP]]
    return _hbars("recover", bars, css="rec")


def _hbars(name: str, bars: Sequence[tuple[str, float, float, str]], css: str = "bar") -> str:
    """Horizontal bars, one per jobnet: its name (the end of the path, whole in the tooltip), a
    bar of `value` (and a second, amber part), and the figures as text."""
    top = max([a + b for _, a, b, _ in bars] + [1e-9])
    row, label_width, bar_width = 22, 260, 360
    height = row * len(bars) + 8
    width = label_width + bar_width + 140
    out = [
        f'<svg class="chart" id="{name}" viewBox="0 0 {width} {height}" width="{width}" role="img">'
    ]
    for i, (jobnet, first, second, text) in enumerate(bars):
        y = 4 + i * row
        a, b = bar_width * first / top, bar_width * second / top
        out.append(
            f"<g><title>{_h(jobnet)}: {_h(text)}</title>"
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{_h(_tail(jobnet, 36))}</text>'
            f'<rect class="{css}" x="{label_width}" y="{y}" width="{a:.1f}" height="16"/>'
            f'<rect class="miss" x="{label_width + a:.1f}" y="{y}" width="{b:.1f}" height="16"/>'
            f'<text x="{label_width + a + b + 6:.1f}" y="{y + 13}">{_h(text)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _tail(path: str, limit: int) -> str:
    """The end of a jobnet path (what tells jobnets apart), cut to `limit` characters."""
    return path if len(path) <= limit else "…" + path[-(limit - 1) :]


def _jobnet_table(figures: Figures, language: str) -> str:
    labels = LABELS[language]
    if not figures.jobnets:
        return f'<p class="muted">{_h(labels["none"])}</p>'
    head = ("jobnet", "service", "failures", "warnings", "missed", "runs", "incidents", "downtime",
            "mttr", "usual_duration", "usual_end", "latest_end", "last_failure")  # fmt: skip
    rows = [
        "<table><thead><tr>"
        + "".join(f"<th>{_h(labels[h])}</th>" for h in head)
        + "</tr></thead><tbody>"
    ]
    for j in figures.jobnets:
        cells = _text_cells(j, language)
        cells[0] = j.jobnet  # the name as is: escaped below
        tds = [f"<td{_NUMBER if 2 <= i <= 9 else ''}>{_h(c)}</td>" for i, c in enumerate(cells)]
        tds.append(f"<td>{_h(_failure_text(j.last_failure, figures.zone))}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


_NUMBER = ' class="n"'


def _failure_text(failure: Failure | None, zone: tzinfo | None) -> str:
    if failure is None:
        return ""
    parts = [
        f"{_local(failure.at, zone):%m/%d %H:%M}",
        failure.event_id,
        failure.host,
        failure.message,
    ]
    return " ".join(p for p in parts if p)


def _incident_table(figures: Figures, language: str) -> str:
    labels = LABELS[language]
    if not figures.incidents:
        return f'<p class="muted">{_h(labels["none"])}</p>'
    head = (
        "#",
        labels["jobnet"],
        labels["state"],
        labels["opened"],
        labels["resolved"],
        labels["downtime"],
    )
    rows = [
        "<table><thead><tr>" + "".join(f"<th>{_h(h)}</th>" for h in head) + "</tr></thead><tbody>"
    ]
    for s in figures.incidents:
        resolved = (
            f"{_local(s.resolved_at, figures.zone):%m/%d %H:%M}"
            if s.resolved_at is not None
            else labels["open"]
        )
        cells = (s.id, s.jobnet, s.state, f"{_local(s.opened_at, figures.zone):%m/%d %H:%M}", resolved,
                 _duration(s.downtime(figures.until), language))  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in cells) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def write_atomically(path: Path, text: str) -> None:
    """Write the file whole or not at all: a reader (a browser, a file share) never sees half a
    page. Raises OSError."""
    import tempfile

    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


# -- the Slack summary (pure) ------------------------------------------------------------------


def summary_payload(figures: Figures, language: str, colors: Mapping[str, str]) -> dict[str, Any]:
    """A short summary for Slack, shaped like a digest: a `text` line and one attachment (colour
    of the worst thing that happened, mrkdwn text). Everything from events is escaped."""
    from jp1notify.message import (
        DEFAULT_COLORS,
        MESSAGE_LIMIT,
        TEXT_LIMIT,
        TITLE_LIMIT,
        escape,
        fit,
    )

    labels = LABELS[language]
    found = totals(figures)
    start, end = (_local(t, figures.zone) for t in (figures.since, figures.until))
    title = labels["post_title"].format(start=f"{start:%Y/%m/%d}", end=f"{end:%Y/%m/%d}")
    lines = [
        f"*{escape(labels['period'])}* {escape(_span_text(figures))}",
        escape(_summary(figures, language)),
    ]
    top = offenders(figures, POST_TOP)
    if top:
        lines.append(f"*{escape(labels['top'])}*")
        lines += [f"• {escape(_offender_line(j, language))}" for j in top]
    missed = sorted((j for j in figures.jobnets if j.missed), key=lambda j: (-j.missed, j.jobnet))
    if missed:
        named = ", ".join(f"{_tail(j.jobnet, 80)} ({j.missed})" for j in missed[:POST_TOP])
        more = f" +{len(missed) - POST_TOP}" if len(missed) > POST_TOP else ""
        lines.append(f"*{escape(labels['missed_runs'])}* {escape(named + more)}")
    level = (
        "error"
        if found["failures"] or found["missed_runs"]
        else "warning"
        if found["warnings"]
        else "success"
    )
    return {
        "text": fit(escape(title), TEXT_LIMIT)[0],
        "attachments": [
            {
                "color": colors.get(level, DEFAULT_COLORS[level]),
                "fallback": fit(escape(title), TITLE_LIMIT)[0],
                "title": fit(escape(title), TITLE_LIMIT)[0],
                "text": fit("\n".join(lines), MESSAGE_LIMIT)[0],
                "mrkdwn_in": ["text"],
                "footer": escape(f"jp1notify {__version__}"),
                "ts": int(figures.until),
            }
        ],
    }


def _offender_line(j: Jobnet, language: str) -> str:
    return LABELS[language]["offender"].format(
        jobnet=_tail(_plain(j.jobnet), 120),
        failures=j.failures,
        missed=j.missed,
        warnings=j.warnings,
        downtime=_duration(j.downtime, language),
    )


# -- history --stats ----------------------------------------------------------------------------


def stats_json(figures: Figures) -> dict[str, Any]:
    """`history --stats --json`: per jobnet, when it ends normally and a suggested `by`."""
    return {
        "schema": SCHEMA,
        "period": _period(figures),
        "jobnets": [
            {
                "jobnet": j.jobnet,
                "service": ", ".join(j.services) or None,
                "runs": j.runs,
                "usual_end": _clock_text(j.clock.usual),
                "end_varies": j.clock.varies,
                "latest_end": _clock_text(j.clock.latest),
                "usual_duration_seconds": _round(j.usual_duration),
                "failures": j.failures,
                "suggested_by": suggested_by(j),
            }
            for j in figures.jobnets
        ],
    }


def stats_text(figures: Figures, language: str, destination: str) -> str:
    """`history --stats`: the table, then [[expect]] entries ready to paste."""
    labels = LABELS[language]
    lines = [f"{labels['stats_title']}: {_span_text(figures)}", ""]
    if not figures.jobnets:
        return "\n".join([*lines, labels["none"]])
    head = (
        "jobnet",
        "service",
        "runs",
        "usual_end",
        "latest_end",
        "usual_duration",
        "failures",
        "suggested_by",
    )
    table = [[labels[h] for h in head]]
    for j in figures.jobnets:
        table.append([
            _plain(j.jobnet), _plain(", ".join(j.services)) or "-", str(j.runs),
            _end_text(j.clock, language, "usual"), _end_text(j.clock, language, "latest"),
            _duration(j.usual_duration, language), str(j.failures), suggested_by(j) or "-",
        ])  # fmt: skip
    lines += _aligned(table, right=(2, 6))
    return "\n".join([*lines, "", expect_snippet(figures, language, destination)])


def expect_snippet(figures: Figures, language: str, destination: str) -> str:
    """TOML [[expect]] entries for the jobnets with a suggested `by`, to paste into the config
    (the names and paths quoted as TOML basic strings: JSON's escapes are TOML's)."""
    labels = LABELS[language]
    chosen = [(j, by) for j in figures.jobnets if (by := suggested_by(j))]
    lines = [
        labels["snippet"].format(
            runs=EXPECT_MIN_RUNS, margin=EXPECT_MARGIN // 60, step=EXPECT_STEP // 60
        )
    ]
    if not chosen:
        return labels["no_snippet"].format(runs=EXPECT_MIN_RUNS)
    for j, by in chosen:
        usual = _clock_text(j.clock.usual)
        lines += [
            "",
            "[[expect]]",
            f"name = {_toml(_plain(j.jobnet))}",
            f"units = [{_toml(j.jobnet)}]",
        ]
        if j.services:
            lines.append(f"services = [{', '.join(_toml(s) for s in j.services)}]")
        lines.append(
            f'by = "{by}"  # latest end {_clock_text(j.clock.latest)}, usual {usual}, {j.runs} runs'
        )
        if len(j.weekdays) < 7 and figures.until - figures.since >= 7 * DAY:
            seen = ", ".join(_toml(WEEKDAYS[d]) for d in sorted(j.weekdays))
            lines.append(
                f"# days = [{seen}]  # the only weekdays it ended normally on in the period"
            )
        lines.append(f"destination = [{_toml(destination)}]")
    return "\n".join(lines)


def _toml(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but TOML also forbids a raw DEL."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


# -- the commands -------------------------------------------------------------------------------


def parse_moment(text: str, now: float, zone: tzinfo | None) -> float:
    """--since and --now: a duration back from `now` (`7d`, `24h`) or an ISO date/time; one
    without an offset is in [message] timezone (the report's days are that zone's)."""
    from jp1notify.history import in_range, parse_since

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return in_range(parse_since(text, now), text)  # a duration, or the forms in its error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
    try:
        epoch = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise HistoryError(f"{cut(repr(text), 60)} is not a time this machine can use") from None
    return in_range(epoch, text)


def load_figures(config: Config, since_text: str, now_text: str | None) -> Figures:
    """The figures of the period from the store (an absent store: an empty period). Raises
    HistoryError for a period it cannot understand, StoreError."""
    import time

    zone = config.timezone
    now = parse_moment(now_text, time.time(), zone) if now_text else time.time()
    since = parse_moment(since_text, now, zone)
    if since > now:
        raise HistoryError("--since lies after --now: give a start before the end of the period")
    rows: list[Row] = []
    spans: list[Span] = []
    if os.path.exists(config.outbox.data_dir / "jp1notify.db"):
        from jp1notify.store import Store

        store = Store.open(config.outbox.data_dir)
        try:
            rows = [Row(*r) for r in store.report_events(since, now)]
            spans = [Span(*r) for r in store.report_incidents(since, now)]
        finally:
            store.close()
    return gather(rows, spans, since, now, zone, config.timezone_name)


def show_report(config: Config, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """`jp1notify report`: the table (or --json) on stdout, --html FILE, --post DESTINATION.
    Returns the exit code; raises StoreError (the command line says it)."""
    from jp1notify.cli import EXIT_LOST, EXIT_OK, EXIT_USAGE

    if args.post and (problem := _post_problem(config, args.post)):
        print(f"jp1notify: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        figures = load_figures(config, args.since, args.now)
    except HistoryError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(as_json(figures), ensure_ascii=False, indent=2))
    elif not (args.html or args.post):
        print(as_text(figures, config.language))
    if args.html:
        target = Path(args.html)
        try:
            write_atomically(target, as_html(figures, config.language))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            print(
                f"jp1notify: cannot write {cut(str(target), 160)}: {reason}; choose a writable file for --html",
                file=sys.stderr,
            )
            return EXIT_LOST
        print(f"jp1notify: report written to {cut(str(target), 160)}", file=sys.stderr)
    if args.post:
        return post(config, figures, args.post, environ, getattr(args, "transport", None))
    return EXIT_OK


def _post_problem(config: Config, name: str) -> str | None:
    """Why the summary cannot go to destination `name`, or None."""
    destination = config.destinations.get(name)
    if destination is None:
        known = ", ".join(sorted(config.destinations))
        return f"--post {cut(repr(name), 60)}: no such destination in the config (known: {known})"
    if destination.kind not in POST_KINDS:
        return (
            f"--post {cut(name, 60)}: destinations.{cut(name, 60)} is of kind {destination.kind}; "
            f"a report can go to a Slack destination only ({', '.join(POST_KINDS)})"
        )
    return None


def post(
    config: Config,
    figures: Figures,
    name: str,
    environ: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Send the summary to destination `name` with the direct send's bounded retries (no store:
    a report that cannot go out is made again). The exit code is the direct send's: 0 posted,
    69 refused for good, 78 unusable as configured, 74 not delivered (network, Slack down)."""
    import time

    from jp1notify import delivery
    from jp1notify.bounds import patient_timeout
    from jp1notify.cli import exit_code
    from jp1notify.config import read_secret
    from jp1notify.destinations import channel_for
    from jp1notify.notify import Ending, Invocation, Outcome

    destination = config.destinations[name]
    run = Invocation(config, transport)
    run.secrets.add_proxies(config.http.proxy, environ)
    payload = _for_kind(
        destination,
        summary_payload(figures, destination.language or config.language, config.colors),
    )
    channel = channel_for(
        destination, config, read_secret(destination, config, environ, run.secrets)
    )
    deadline = time.monotonic() + config.http.retry_budget
    with delivery.Clients(config.http, run.transport) as clients:
        http = delivery.Http(clients, run.secrets)
        verdict, attempts = delivery.post(
            lambda timeout: channel.deliver_digest(http, payload, timeout).verdict,
            config.http,
            deadline,
            patient=patient_timeout(config, 1),
        )
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if verdict.disposition == delivery.DELIVERED:
        ending = Ending.DELIVERED
        run.say(f"report posted to {name} ({tries})")
    else:
        ending = (
            Ending.CONFIG_ERROR
            if verdict.disposition == delivery.Disposition.UNUSABLE
            else Ending.DEAD
            if verdict.disposition in delivery.FINAL
            else Ending.LOST
        )
        run.say(f"report NOT posted to {name} ({tries}): {verdict.reason}")
    run.log_line("report", destination=name, outcome=ending.value, attempts=attempts)
    return exit_code(Outcome(ending, None, {}))


def _for_kind(destination: Destination, payload: dict[str, Any]) -> dict[str, Any]:
    """A bot posts with chat.postMessage, which needs the channel (and must not unfurl links)."""
    if destination.kind != "slack_bot":
        return payload
    return {
        "channel": destination.channel or "",
        **payload,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def show_stats(config: Config, args: argparse.Namespace) -> int:
    """`jp1notify history --stats`: when each jobnet ends normally, and [[expect]] to paste."""
    from jp1notify.cli import EXIT_OK, EXIT_USAGE
    from jp1notify.patterns import compile_unit_pattern

    try:
        figures = load_figures(config, args.since or "7d", args.now)
        pattern = compile_unit_pattern(args.jobnet) if args.jobnet else None
    except (HistoryError, PatternError) as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if pattern is not None:
        figures = figures._replace(
            jobnets=tuple(j for j in figures.jobnets if pattern.matches(j.jobnet))
        )
    if args.json:
        print(json.dumps(stats_json(figures), ensure_ascii=False, indent=2))
    else:
        print(stats_text(figures, config.language, _alert_destination(config)))
    return EXIT_OK


def _alert_destination(config: Config) -> str:
    """The destination a suggested [[expect]] names: the first route's that takes errors."""
    for route in config.routes:
        levels = route.matcher.levels
        if route.destinations and (levels is None or "error" in levels):
            return route.destinations[0]
    return next(iter(config.destinations))
