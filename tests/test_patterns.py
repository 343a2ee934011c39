import pytest

from jp1notify.patterns import PatternError, compile_unit_pattern, matches_any


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/PROD/**", "/PROD", True),
        ("/PROD/**", "/PROD/A/B/C", True),
        ("/PROD/**", "/PRODUCTION/A", False),
        ("/PROD/*", "/PROD/NET", True),
        ("/PROD/*", "/PROD/NET/JOB", False),
        ("/*/DAILY_*", "/PROD/DAILY_BACKUP", True),
        ("/*/DAILY_*", "/PROD/NIGHTLY", False),
        ("/A/**/JOB", "/A/JOB", True),
        ("/A/**/JOB", "/A/X/Y/JOB", True),
        ("/A/**/JOB", "/A/X/Y/JOB2", False),
        ("/NET?", "/NET1", True),
        ("/NET?", "/NET12", False),
        ("/本番/**", "/本番/日次/売上", True),
        ("/a.b/+(x)", "/a.b/+(x)", True),  # regex characters are literal
        ("/a.b", "/axb", False),
        ("**", "/anything/at/all", True),
        ("/PROD", "/PROD/NET", False),  # whole path, not a prefix
    ],
)
def test_unit_pattern_matches_whole_path(pattern, path, expected):
    assert compile_unit_pattern(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("PROD/**", "starting with '/'"),
        ("/PROD**", "whole segment"),
        ("/A//B", "empty segment"),
        ("/A/", "empty"),
    ],
)
def test_bad_patterns_explain_themselves(pattern, message):
    with pytest.raises(PatternError, match=message):
        compile_unit_pattern(pattern)


def test_unknown_path_matches_nothing():
    assert not matches_any((compile_unit_pattern("**"),), None)
