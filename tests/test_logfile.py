from datetime import date, datetime, timedelta, timezone

from jp1notify.logfile import LogFile

JST = timezone(timedelta(hours=9))


def test_lines_are_appended_to_a_dated_file_in_logfmt(tmp_path):
    secrets: list[str] = []
    log = LogFile(tmp_path / "logs", 30, secrets)
    secrets.append("https://hooks.example/services/T1/B1/SECRET")  # read after the log was made
    now = datetime(2026, 11, 22, 2, 13, 5, 123000, tzinfo=JST)
    log.write(now, {"pid": 7, "phase": "start", "unit": "/PROD/日次 バッチ", "skip": None})
    log.write(
        now,
        {
            "pid": 7,
            "phase": "end",
            "reason": 'bad "x" at https://hooks.example/services/T1/B1/SECRET',
        },
    )
    lines = (
        (tmp_path / "logs" / "jp1notify-2026-11-22.log").read_text(encoding="utf-8").splitlines()
    )
    assert lines[0] == '2026-11-22T02:13:05.123+09:00 pid=7 phase=start unit="/PROD/日次 バッチ"'
    assert (
        lines[1]
        == '2026-11-22T02:13:05.123+09:00 pid=7 phase=end reason="bad \\"x\\" at [redacted]"'
    )
    assert log.error is None


def test_first_write_of_a_day_prunes_old_files(tmp_path):
    for day in ("2026-10-01", "2026-10-23", "2026-11-21"):
        (tmp_path / f"jp1notify-{day}.log").write_text("x\n")
    (tmp_path / "other.log").write_text("keep\n")
    log = LogFile(tmp_path, 30, [])
    log.write(datetime(2026, 11, 22, tzinfo=JST), {"phase": "start"})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "jp1notify-2026-10-23.log",
        "jp1notify-2026-11-21.log",
        "jp1notify-2026-11-22.log",
        "other.log",
    ]
    assert log.prune(date(2026, 11, 22)) == []


def test_unwritable_directory_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = LogFile(blocker / "logs", 30, [])
    log.write(datetime(2026, 11, 22, tzinfo=JST), {"phase": "start"})
    assert log.error and "cannot write the log file" in log.error
