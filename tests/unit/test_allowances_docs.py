"""docs/learning.md's standing-approvals example runs as written and prints what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "learning.md"


def test_the_standing_approvals_example_prints_the_documented_lines(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "allowances-demo" in b]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOC), "exec"), {"__name__": "allowances_example"})
    printed = re.sub(r"until \S+ \S+ UTC", "until …", out.getvalue()).splitlines()
    documented = text.split("It prints (with the day it runs):\n\n```\n", 1)[1].split("```", 1)[0]
    assert re.sub(r"until \S+ \S+ UTC", "until …", documented).splitlines() == printed
