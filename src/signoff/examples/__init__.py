"""Example policies shipped with signoff (used by `signoff demo`)."""

from importlib import resources
from pathlib import Path


def example_policy_path(name: str = "cloud_infra") -> Path:
    """The path of a bundled example policy."""
    return Path(str(resources.files("signoff.examples").joinpath(f"{name}.yaml")))
