"""docs/learning.md's worked example runs as written, and prints what the page says it prints."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from signoff.cli import main as cli
from signoff.examples import example_policy_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "learning.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


class TestWorkedExample:
    def test_the_example_prints_the_documented_figures(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The example's headline, then `signoff policy diff` over the store it left, as the page shows."""
        monkeypatch.chdir(tmp_path)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(_python_blocks()[-1], str(DOC), "exec"), {"__name__": "learning_example"})
        headline = re.sub(r"tk_[0-9a-f]+", "tk_…", out.getvalue().strip())
        assert ("the candidate would have auto-approved 30 requests, of which reviewers rejected 2 (tk_…, tk_…); "
                "it would ask a human for 5 that ran without one and deny 0; 35 of 35 evaluated disagreed"
                ) == headline
        for name in ("cloud_infra", "cloud_infra_candidate"):
            shutil.copy(example_policy_path(name), tmp_path / f"{name}.yaml")
        result = CliRunner().invoke(cli, ["policy", "diff", "cloud_infra.yaml", "cloud_infra_candidate.yaml",
                                          "--db", "sqlite:///learning-demo.db"], env={"NO_COLOR": "1"})
        assert 0 == result.exit_code, result.output
        lines = re.sub(r"tk_[0-9a-f]+", "tk_…", result.output).splitlines()
        assert ["cloud_infra_candidate.yaml against cloud_infra.yaml, over 35 stored requests",
                "  " + headline] == lines[:2]
        documented = DOC.read_text(encoding="utf-8").split("```\ncloud_infra_candidate.yaml against")[1]
        assert "over 35 stored requests" in documented

    def test_the_snippet_opening_a_gate_names_real_parameters(self) -> None:
        """The short snippet's keyword arguments are Gate.open's."""
        import inspect

        from signoff import Gate

        snippet = _python_blocks()[0]
        for kw in re.findall(r"(\w+)=", snippet):
            assert kw in inspect.signature(Gate.open).parameters
