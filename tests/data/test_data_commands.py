"""data commands: `data synthetic` options mirror SyntheticSpec; `data shd` calls the downloader; errors pass on."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from spacetime_snn.data import commands
from spacetime_snn.data.shd_format import read_shd_file
from spacetime_snn.data.synthetic import SyntheticSpec
from spacetime_snn.errors import ConfigError, DataError


def parse(argv):
    parser = argparse.ArgumentParser(prog="spacetime-snn")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_every_spec_field_is_an_option_with_its_default(tmp_path):
    args = parse(["data", "synthetic", "--out", str(tmp_path)])
    for spec_field in dataclasses.fields(SyntheticSpec):
        assert getattr(args, spec_field.name) == spec_field.default


def test_data_synthetic_writes_the_files(tmp_path, capsys):
    args = parse(["data", "synthetic", "--out", str(tmp_path), "--num-train", "30", "--num-test", "12",
                  "--num-classes", "3", "--seed", "9", "--interval-step-ms", "15"])
    args.func(args)
    train = read_shd_file(tmp_path / "train.h5")
    assert len(train.labels) == 30 and len(train.keys) == 3
    assert "wrote" in capsys.readouterr().out


def test_data_synthetic_rejects_a_bad_spec(tmp_path):
    args = parse(["data", "synthetic", "--out", str(tmp_path), "--num-classes", "1"])
    with pytest.raises(ConfigError, match="num_classes"):
        args.func(args)


def test_data_shd_calls_the_downloader_and_passes_errors_on(tmp_path, monkeypatch):
    calls = []

    def fake_download(root):
        calls.append(root)
        raise DataError(f"{root}: offline")

    monkeypatch.setattr(commands, "download_shd", fake_download)
    args = parse(["data", "shd", "--root", str(tmp_path)])
    with pytest.raises(DataError, match="offline"):
        args.func(args)
    assert calls == [tmp_path]
