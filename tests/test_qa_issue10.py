"""QA of issue 10: problems found by probing the new kinds, --set and route windows."""

from __future__ import annotations

from jp1notify.actionargs import Encoding, Setting, event_from_settings

ABEND = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/DAILY:@A100)が異常終了しました"


def test_a_message_cannot_smuggle_a_second_evid_past_the_real_one():
    """The documented action ends with --set "EVMSG=$EVMSG": a message holding
    `" --set EVID=4103:0 "` splits the command line into one more --set EVID after the real
    one. It must not turn an abnormal end into a normal end (that resolves the incident)."""
    settings = [
        Setting("EVID", "4104:0", Encoding.PLAIN),
        Setting("EVMSG", ABEND + " x", Encoding.PLAIN),
        Setting("EVID", "4103:0", Encoding.PLAIN),  # split off the message by its quote
    ]
    event = event_from_settings(settings)
    assert event.event_id == "4104"
    notes = [(p.code, p.value) for p in event.problems]
    assert ("stray_words", "--set EVID=4103:0") in notes
