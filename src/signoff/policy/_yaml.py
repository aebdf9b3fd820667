"""YAML to plain data, remembering where every value and key stands in the file.

PyYAML's composer gives nodes with marks; we build the data ourselves so that every
validation error can name file, line and column, and duplicate keys are refused
(PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from signoff._errors import PolicyError, Problem

Path = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data plus where each path's value (and each mapping key) stands, 1-based."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    nodes: dict[Path, yaml.Node] = field(default_factory=dict)

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of the longest known prefix of ``path``."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if key and p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))


def load_located(text: str, filename: str) -> Located:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}: {what}"
        raise PolicyError(problems=[Problem(filename, line, col, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(problems=[Problem(filename, 1, 1, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    out = Located(data=None)
    if node is None:
        raise PolicyError(problems=[Problem(filename, 1, 1, "the policy file is empty")])
    problems: list[Problem] = []
    out.data = _build(node, (), out, loader, filename, problems)
    if problems:
        raise PolicyError(problems=problems)
    return out


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: Path, out: Located, loader: yaml.SafeLoader,
           filename: str, problems: list[Problem]) -> Any:
    out.values[path] = _pos(node)
    out.nodes[path] = node
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build_scalar(key_node, loader)
            if isinstance(key, (dict, list)):
                problems.append(Problem(filename, *_pos(key_node), "mapping keys must be plain names"))
                continue
            if key in result:
                problems.append(Problem(filename, *_pos(key_node), f"duplicate key {key!r}"))
                continue
            child = (*path, key)
            out.keys[child] = _pos(key_node)
            result[key] = _build(value_node, child, out, loader, filename, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, i), out, loader, filename, problems) for i, item in enumerate(node.value)
        ]
    return _build_scalar(node, loader)


def _build_scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value
    return loader.construct_object(node, deep=True)
