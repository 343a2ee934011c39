"""The JP1/AJS3 event catalogue: every event ID jp1notify knows, its names and default level.

Source: JP1/AJS3 manuals, "JP1 events issued by JP1/AJS3" (summary in docs/jp1.md). Delay events
carry `-I` message IDs although operators treat them as problems, so the level comes from this
table, not from the message suffix.
"""

from __future__ import annotations

from typing import NamedTuple

LEVELS = ("error", "warning", "info", "success")
"""Every level jp1notify assigns, most severe first."""


class EventKind(NamedTuple):
    """What one JP1/AJS3 event ID means."""

    message_id: str
    level: str
    name_en: str
    name_ja: str


# Keys are basic event codes as upper-case hex without leading zeros beyond four digits.
CATALOG: dict[str, EventKind] = {
    "4100": EventKind(
        "KAVS0200-I", "info", "Scheduler service started", "スケジューラーサービス開始"
    ),
    "4101": EventKind(
        "KAVS0201-I", "info", "Scheduler service ended", "スケジューラーサービス終了"
    ),
    "4102": EventKind("KAVS0260-I", "info", "Jobnet started", "ジョブネット開始"),
    "4103": EventKind("KAVS0261-I", "success", "Jobnet ended normally", "ジョブネット正常終了"),
    "4104": EventKind("KAVS0262-E", "error", "Jobnet ended abnormally", "ジョブネット異常終了"),
    "4105": EventKind("KAVS0263-I", "info", "Job started", "ジョブ開始"),
    "4106": EventKind("KAVS0264-I", "success", "Job ended normally", "ジョブ正常終了"),
    "4107": EventKind("KAVS0265-E", "error", "Job ended abnormally", "ジョブ異常終了"),
    "4108": EventKind("KAVS0268-W", "warning", "Jobnet ended with warning", "ジョブネット警告終了"),
    "4109": EventKind("KAVS0269-W", "warning", "Job ended with warning", "ジョブ警告終了"),
    "410A": EventKind(
        "KAVS0266-I", "warning", "Queued job cancelled (hot start)", "キューイングジョブ取り消し"
    ),
    "4110": EventKind(
        "KAVS0202-E",
        "error",
        "Scheduler log process ended abnormally",
        "スケジューラーログプロセス異常終了",
    ),
    "4111": EventKind(
        "KAVS0203-I", "info", "Scheduler log file swapped", "スケジューラーログファイル切り替え"
    ),
    "4120": EventKind("KAVS0270-I", "warning", "Jobnet held", "ジョブネット保留"),
    "4121": EventKind("KAVS0271-I", "warning", "Job held", "ジョブ保留"),
    "4122": EventKind("KAVS0275-I", "warning", "Jobnet start delayed", "ジョブネット開始遅延"),
    "4123": EventKind("KAVS0276-I", "warning", "Jobnet end delayed", "ジョブネット終了遅延"),
    "4124": EventKind("KAVS0277-I", "info", "Next schedule queued", "次回予定のキューイング"),
    "4125": EventKind("KAVS0278-I", "info", "Job submission started", "ジョブ投入開始"),
    "4126": EventKind(
        "KAVS0242-I", "info", "Event job execution request started", "イベントジョブ実行要求開始"
    ),
    "4127": EventKind("KAVS0248-I", "warning", "Job end delayed", "ジョブ終了遅延"),
    "4130": EventKind(
        "KAVS0204-E", "error", "Scheduler service restarted", "スケジューラーサービス再起動"
    ),
    "4131": EventKind("KAVS0272-E", "error", "Jobnet shut down", "ジョブネット閉塞"),
    "4140": EventKind(
        "KAVS0240-I", "info", "Start-condition monitoring started", "起動条件監視開始"
    ),
    "4141": EventKind(
        "KAVS0241-I", "warning", "Start-condition monitoring ended", "起動条件監視終了"
    ),
    "4142": EventKind(
        "KAVS0279-E", "error", "Jobnet skipped, not run", "ジョブネット未実行スキップ"
    ),
    "4148": EventKind(
        "KAVS4957-E",
        "error",
        "Jobnet wait condition can never be met",
        "ジョブネット待ち合わせ条件不成立",
    ),
    "414C": EventKind(
        "KAVS4971-E", "error", "Job wait condition can never be met", "ジョブ待ち合わせ条件不成立"
    ),
    "4159": EventKind(
        "", "warning", "Start-condition generations reached the limit", "起動条件の世代数上限到達"
    ),
    "4165": EventKind(
        "",
        "warning",
        "Queued and running jobs reached the threshold",
        "キューイング・実行中ジョブ数しきい値到達",
    ),
}

# Not a JP1 event: jp1notify's own alert that an expected jobnet did not end normally by its
# deadline (`jp1notify watch`, watch.py). Not hex, so no EVID ever parses to it.
MISSED_EVENT = "MISSED"
OWN_EVENTS: dict[str, EventKind] = {
    MISSED_EVENT: EventKind(
        "",
        "error",
        "Expected run missing (no normal end by the deadline)",
        "実行予定の未完了（期限までに正常終了なし）",
    )
}

# Events about a job (the unit is /.../jobnet/job); digests group them under their jobnet.
JOB_EVENTS = frozenset({"4105", "4106", "4107", "4109", "410A", "4121", "4125", "4127", "414C"})

# EVSEV values (JP1 event severity) to levels; Emergency..Error are all problems for on-call.
SEVERITY_LEVELS = {
    "emergency": "error",
    "alert": "error",
    "critical": "error",
    "error": "error",
    "warning": "warning",
    "notice": "info",
    "information": "info",
    "debug": "info",
}

# Message ID suffix (KAVS0262-E) to level, the last resort before the configured fallback.
SUFFIX_LEVELS = {"E": "error", "W": "warning", "I": "info"}
