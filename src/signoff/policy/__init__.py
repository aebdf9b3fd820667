"""Policies: load (YAML or Python), validate with located errors, compile, evaluate.

``Policy`` is the compiled, immutable form the gate uses; the models in ``_spec``
(``Rule``, ``Match``...) build one from Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from signoff._model import Action, Outcome
from signoff.policy._compiled import CompiledPolicy, IsKnown
from signoff.policy._durations import format_duration, parse_duration
from signoff.policy._load import load_file, load_text, validate
from signoff.policy._spec import Defaults, Match, Mode, Novelty, PolicySpec, Reviewers, Rule, RuleOverride

__all__ = [
    "Defaults",
    "Match",
    "Mode",
    "Novelty",
    "Policy",
    "PolicySpec",
    "Reviewers",
    "Rule",
    "RuleOverride",
    "format_duration",
    "parse_duration",
]


class Policy:
    """A validated, compiled policy. Build with ``load``, ``from_yaml``, ``from_dict`` or ``build``."""

    def __init__(self, spec: PolicySpec, *, source: str = "<python>", text: str | None = None) -> None:
        self.spec = spec
        self.source = source
        self.text = text
        self._compiled = CompiledPolicy(spec)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and validate a YAML policy file; raises PolicyError with file:line:col."""
        spec, _ = load_file(path)
        return cls(spec, source=str(path), text=Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_yaml(cls, text: str, filename: str = "<policy>") -> Policy:
        spec, _ = load_text(text, filename)
        return cls(spec, source=filename, text=text)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], filename: str = "<dict>") -> Policy:
        return cls(validate(data, filename), source=filename)

    @classmethod
    def build(cls, *, rules: Sequence[Rule | Mapping[str, Any]] = (), **fields: Any) -> Policy:
        """Build from Python: ``Policy.build(rules=[Rule(name=..., match=Match(...), level="approve")])``."""
        data = dict(fields)
        data["rules"] = [r.model_dump(exclude_none=True) if isinstance(r, Rule) else dict(r) for r in rules]
        for key, value in list(data.items()):
            if hasattr(value, "model_dump"):
                data[key] = value.model_dump(exclude_none=True)
        return cls.from_dict(data, "<python>")

    @classmethod
    def coerce(cls, policy: Policy | PolicySpec | Mapping[str, Any] | str | Path) -> Policy:
        """Accept what users pass as ``policy=``: a Policy, a spec, a dict, or a path."""
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, PolicySpec):
            return cls(policy)
        if isinstance(policy, Mapping):
            return cls.from_dict(policy)
        return cls.load(policy)

    @property
    def modes(self) -> tuple[str, ...]:
        return self._compiled.modes

    @property
    def tiers(self) -> list[str]:
        return list(self.spec.tiers)

    def evaluate(self, action: Action, *, mode: str | None = None, is_known: IsKnown | None = None) -> Outcome:
        """The level of ``action`` and why. Pure: no I/O; novelty only when ``is_known`` is given."""
        return self._compiled.evaluate(action, mode=mode, is_known=is_known)

    def fingerprint(self, action: Action) -> str:
        return self._compiled.fingerprint(action)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.spec.rules if r.name == name), None)

    def __repr__(self) -> str:
        return f"<Policy {self.source} rules={len(self.spec.rules)} modes={list(self.modes)}>"
