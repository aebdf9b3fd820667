"""Property-based fuzzing of the JSON API from its own OpenAPI document: no input gets a 5xx.

Schemathesis generates valid and invalid requests for every operation (examples, boundary
values, random data, and chains of calls) and checks ``not_a_server_error``, and that every
answer matches the document (body schema and content type). It runs once
with an agent token and once with a reviewer token, since each kind reaches different code.
The server gets a short long-poll cap so that generated waits on pending tickets end quickly;
``/events`` is left out because an event stream never ends by design.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import Server, start_server, stop_process

pytestmark = pytest.mark.slow


def _schemathesis() -> str:
    exe = Path(sys.executable).parent / "schemathesis"
    if exe.exists():
        return str(exe)
    found = shutil.which("schemathesis")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return found


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("fuzz"), extra_args=("--max-wait", "0.3"))
    yield srv
    code = stop_process(srv.proc)
    srv.gate.close()
    assert 0 == code, srv.log.read_text()


class TestNoServerErrors:
    @pytest.mark.parametrize("kind", ["agent", "reviewer"])
    def test_no_generated_request_gets_a_5xx(self, fuzzed_server: Server, kind: str, tmp_path: Path) -> None:
        """Every operation, fed generated data with a valid token of this kind, answers below 500 and as
        documented."""
        name = "fuzz-bot" if kind == "agent" else "alice"
        token = fuzzed_server.token(kind, name)  # type: ignore[arg-type]
        cmd = [_schemathesis(), "run", f"{fuzzed_server.url}/api/v1/openapi.json",
               "-H", f"Authorization: Bearer {token}", "--checks",
               "not_a_server_error,response_schema_conformance,content_type_conformance",
               "--exclude-path", "/api/v1/events", "--max-examples", "8", "--workers", "1", "--seed", "7",
               "--request-timeout", "20", "--report", "junit", "--report-dir", str(tmp_path)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        log = fuzzed_server.log.read_text()
        assert (0, False) == (run.returncode, "Traceback" in log), run.stdout[-6000:] + "\n" + log[-3000:]
