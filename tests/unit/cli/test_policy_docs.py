"""The examples in docs/policy.md are real: every YAML block loads and every shell session prints what it shows."""


from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from signoff.policy import Policy

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str, int]]:
    """(language, text, position) of every fenced block in the page."""
    text = DOC.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), m.start()) for m in BLOCK.finditer(text)]


def _files() -> dict[str, str]:
    """The policy files the shell sessions use, taken from the page itself."""
    text = DOC.read_text(encoding="utf-8")
    found = {}
    for name, marker in [("policy.yaml", "## A complete example"), ("broken.yaml", "where `broken.yaml` is"),
                         ("typo.yaml", "and `typo.yaml` is")]:
        at = text.index(marker)
        found[name] = next(body for lang, body, pos in _blocks() if lang == "yaml" and pos > at)
    return found


def _sessions() -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of the page's shell blocks with the lines shown after it."""
    out: list[tuple[str, list[str]]] = []
    for lang, body, _ in _blocks():
        if lang or not body.startswith("$ "):
            continue
        for chunk in re.split(r"^(?=\$ )", body, flags=re.MULTILINE):
            if chunk.strip():
                command, *lines = chunk.rstrip("\n").split("\n")
                out.append((command[2:], lines))
    return out


class TestPolicyDocs:
    @pytest.mark.parametrize("body", [b for lang, b, _ in _blocks() if lang == "yaml" and b.lstrip().startswith(
        ("version", "tiers", "rules", "novelty", "defaults"))])
    def test_yaml_examples(self, body: str) -> None:
        """Every whole-policy YAML example loads, except the two that show errors on purpose."""
        if body in (_files()["broken.yaml"], _files()["typo.yaml"]):
            pytest.skip("an example of a broken policy")
        assert isinstance(Policy.from_yaml(body, "example.yaml"), Policy)

    def test_condition_examples_compile(self) -> None:
        """The ``when:`` one-liners of the CEL section are valid conditions."""
        text = DOC.read_text(encoding="utf-8")
        conditions = [yaml.safe_load(line)["when"] for line in re.findall(r"^when: .*$", text, re.MULTILINE)]
        rules = [{"name": f"r{i}", "when": c, "level": "approve"} for i, c in enumerate(conditions)]

        assert 6 == len(Policy.from_dict({"rules": rules}).spec.rules)

    @pytest.mark.parametrize(("command", "expected"), _sessions(), ids=lambda v: v if isinstance(v, str) else "")
    def test_shell_sessions(self, tmp_path: Path, command: str, expected: list[str]) -> None:
        """Each command shown in the page prints exactly the lines shown (stdout, then stderr)."""
        for name, body in _files().items():
            (tmp_path / name).write_text(body, encoding="utf-8")
        env = {**os.environ, "NO_COLOR": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=env,
                                timeout=60, check=False)

        assert expected == (result.stdout + result.stderr).splitlines()
