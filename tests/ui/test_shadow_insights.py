"""The insights page shows what a shadow policy would have done, in a real browser.

Also the screenshot in docs/learning.md:

    .venv/bin/python -m tests.ui.test_shadow_insights [--out docs/img]

runs the worked example (the demo's cloud_infra.yaml with cloud_infra_candidate.yaml in the
shadow) and saves insights-shadow.png and insights-reviewers.png.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Gate, Ticket
from signoff._seen import seen_for
from signoff.examples import example_policy_path
from tests.ui.conftest import CHROMIUM, Served, login, start_server

ROOT = Path(__file__).resolve().parents[2]


def _deploy(i: int, *, schema: bool = False) -> Action:
    return Action(name="deploy_production", args={"service": "checkout", "version": f"2.4.{i}",
                                                  "has_schema_change": schema},
                  agent="release-bot", confidence=0.9, reasoning="staging green, canary clean")


def run_example(db: str) -> list[Ticket]:
    """The worked example: a week of the demo's agents under cloud_infra.yaml with the candidate in the
    shadow. Returns the deploys reviewers rejected (the candidate would have let them run)."""
    gate = Gate.open(policy=example_policy_path(), store=db, sweep=False,
                     shadow_policy=example_policy_path("cloud_infra_candidate"))
    try:
        deploys = gate.submit_many_sync([_deploy(i) for i in range(30)] + [_deploy(99, schema=True)])
        # As if decided from each ticket's page (signoff._seen): alice reads for a while, bob
        # approves within a second or two of opening most of them.
        for i, t in enumerate(deploys[:28]):
            with seen_for(1.1 + (i % 3) * 0.3 if i % 2 else 14.0 + i):
                gate.approve_sync(t.id, reviewer="alice" if i % 2 == 0 else "bob")
        with seen_for(41.0):
            rejected = [gate.reject_sync(t.id, reviewer="bob", feedback="freeze: Black Friday")
                        for t in deploys[28:30]]
        gate.approve_sync(deploys[30].id, reviewer="alice")
        gate.approve_sync(deploys[30].id, reviewer="bob")  # schema changes: two seniors, in both policies
        for n in (24, 32, 40, 48, 64):
            gate.guard_sync(Action(name="scale_deployment", args={"deployment": "search", "replicas": n},
                                   agent="autoscaler", confidence=0.95, reasoning="p95 latency over 400 ms"))
        for _ in range(40):
            gate.guard_sync(Action(name="restart_pod", args={"pod": "search-7f9c"}, agent="autoscaler",
                                   confidence=0.95, reasoning="liveness probe failing"))
    finally:
        gate.close()  # flushes the shadow's last figures
    return rejected


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, list[Ticket]]]:
    served = start_server(tmp_path_factory.mktemp("shadow"), example_policy_path().read_text())
    try:
        db = served.gate.store.url
        yield served, run_example(db)
    finally:
        served.stop()


class TestShadowInsights:
    def test_the_page_tells_what_the_candidate_would_have_done(self, example: tuple[Served, list[Ticket]],
                                                               page: Any, tmp_path: Path) -> None:
        """The shadow section gives the headline figures, links each rejected request, and tables
        the level changes; the rest of the page is unchanged."""
        served, rejected = example
        login(page, served.url, next_path="/insights")
        section = page.locator("section#shadow")
        text = " ".join(section.inner_text().split())
        assert "Shadow policy" in text and "cloud_infra_candidate.yaml" in text
        assert ("30 requests that waited for a reviewer the candidate would have let through (auto or notify): "
                "reviewers approved 28 and rejected 2") in text
        assert "5 that ran without a human would have asked one" in text  # every scaling above 20 replicas
        links = section.locator("a.mono")
        assert sorted(t.id for t in rejected) == sorted(links.all_inner_texts())
        assert f"/tickets/{rejected[0].id}" in [links.nth(i).get_attribute("href") for i in range(links.count())]
        rows = [" ".join(r.split()) for r in section.locator("table").first.locator("tr").all_inner_texts()]
        assert ["approve notify 30", "notify approve 5"] == rows[1:]
        assert re.search(r"\d+ of \d+ evaluated actions disagreed", text)
        section.screenshot(path=str(tmp_path / "shadow.png"))
        assert (tmp_path / "shadow.png").stat().st_size > 5_000

    def test_no_section_without_shadow_figures(self, server: Served, page: Any) -> None:
        """A store no candidate ever ran on shows no shadow section."""
        login(page, server.url, next_path="/insights")
        assert 0 == page.locator("section#shadow").count()
        assert page.locator("h1").inner_text().startswith("Insights")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Take docs/img/insights-shadow.png and insights-reviewers.png.")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    out = Path(parser.parse_args(argv).out)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        served = start_server(Path(tmp), example_policy_path().read_text())
        try:
            run_example(served.gate.store.url)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1360, "height": 760})
                login(page, served.url, next_path="/insights")
                page.locator("section#shadow").screenshot(path=str(out / "insights-shadow.png"))
                page.locator("section#reviewers").screenshot(path=str(out / "insights-reviewers.png"))
                browser.close()
        finally:
            served.stop()
    print(f"written {out / 'insights-shadow.png'}")


if __name__ == "__main__":
    main()
