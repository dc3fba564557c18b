"""Serving an imported model: its part read from the model archive ends in the same model as FATE-Flow's answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "serving"))

import serving_harness  # noqa: F401  (puts the package on sys.path)
from fateops_serving import UnsupportedModelError
from fateops_serving import bind as bind_command
from fateops_serving.fate_output import model_from_fate_output
from fateops_serving.model_archive import output_from_archive

EXPORT = FIXTURES / "fate_models" / "202611220632017786920_0_guest_9999.zip"


def test_archive_part_is_the_trained_model():
    outputs = output_from_archive(EXPORT, "guest", "9999", "lr_0")
    assert list(outputs) == ["output_model"]
    model = model_from_fate_output(
        outputs, model_id="m", model_version="v", role="guest", party_id="9999", guest_party_id="9999",
        host_party_ids=["10000"],
    )  # fmt: skip
    assert model.algorithm == "hetero_lr"
    assert model.header == tuple(f"x{i}" for i in range(10))
    # The first weight and the intercept of the recorded model (FATE-Flow's /output/model/query agrees).
    assert model.coef[0] == pytest.approx(-0.12275244509707728, abs=0)
    assert model.intercept == pytest.approx(0.15609059379588655, abs=0)


def test_archive_without_the_part_is_refused(tmp_path):
    with pytest.raises(UnsupportedModelError, match="holds no lr_0 model of host 9999"):
        output_from_archive(EXPORT, "host", "9999", "lr_0")
    (tmp_path / "x.zip").write_text("no zip")
    with pytest.raises(ValueError, match="not readable"):
        output_from_archive(tmp_path / "x.zip", "guest", "9999", "lr_0")


def test_bind_command_takes_the_archive(tmp_path, capsys):
    argv = [
        "--data-dir", str(tmp_path), "--party-id", "9999", "--role", "guest", "--model-id", "m", "--model-version",
        "v", "--service-id", "svc", "--guest-party-id", "9999", "--host-party-id", "10000",
        "--model-archive", str(EXPORT), "--task-name", "lr_0",
    ]  # fmt: skip
    assert bind_command.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is True
    assert bind_command.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False
    assert bind_command.main(argv[:-2]) == 1
    assert "--task-name" in capsys.readouterr().err
