"""`glsgn info`: the complexity report as JSON, and an unknown configuration as a usage error."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from glsgn_core.complexity import measure


def test_cli_info_json():
    from glsgn_cli.app import app

    result = CliRunner().invoke(app, ["info", "glsgn-lite", "--size", "1920x1080", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"name", "params", "macs", "flops"} <= report.keys()
    assert report["flops"] == measure("glsgn-lite", (1920, 1080))["flops"]


def test_cli_info_unknown_model_is_usage_error():
    from glsgn_cli.app import app

    result = CliRunner().invoke(app, ["info", "nope"])
    assert result.exit_code == 2
    assert "unknown model configuration 'nope'" in result.output

