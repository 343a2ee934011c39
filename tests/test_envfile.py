import pytest

from jp1notify.envfile import EnvFileError, read_env_file


def test_reads_names_values_quotes_and_comments(tmp_path):
    path = tmp_path / "e.env"
    path.write_text(
        '\ufeff# comment\n\nEVID=4104:0\nEVMSG="quoted \\"x\\" & <y>"\nEV:OBJECT_NAME=/A/B\n'
        "export EVHOST='h1'\nEVGRP=\nEVDETAIL=a=b\n",
        encoding="utf-8",
    )
    assert read_env_file(path) == {
        "EVID": "4104:0",
        "EVMSG": 'quoted "x" & <y>',
        "EV:OBJECT_NAME": "/A/B",
        "EVHOST": "h1",
        "EVGRP": "",
        "EVDETAIL": "a=b",
    }


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "e.env"
    path.write_text("EVID=1\nthis is not a pair\n", encoding="utf-8")
    with pytest.raises(EnvFileError, match=r"e.env:2: expected NAME=value"):
        read_env_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(EnvFileError, match="cannot read the env file"):
        read_env_file(tmp_path / "none.env")


def test_attribute_names_may_be_any_text_and_bytes_are_kept_as_escapes(tmp_path):
    path = tmp_path / "e.env"
    path.write_bytes("EV:属性_1=値\n".encode() + b"EV:\x82\xa0=\xff\n")
    assert read_env_file(path) == {"EV:属性_1": "値", "EV:\udc82\udca0": "\udcff"}


def test_names_other_than_attributes_stay_identifiers(tmp_path):
    path = tmp_path / "e.env"
    path.write_text("EVMSG x=1\n", encoding="utf-8")
    with pytest.raises(EnvFileError, match="expected NAME=value"):
        read_env_file(path)
