"""``signoff serve --oidc-issuer``: what is missing is said at start-up, before anything listens (exit 2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SIGNOFF = str(Path(sys.executable).parent / "signoff")
POLICY = "version: 1\ntiers: [junior, senior]\n"
MAPPED = POLICY + "oidc: {tiers: {senior: [sre]}}\n"


def serve(tmp_path: Path, *args: str, policy: str = MAPPED, **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run([SIGNOFF, "serve", "--policy", str(path), "--db", f"sqlite:///{tmp_path}/s.db",
                           "--port", port, *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=60)


class TestServeOidcStartup:
    def test_missing_client_credentials_are_named(self, tmp_path: Path) -> None:
        """Both variables missing: both named, with the redirect URI to register."""
        r = serve(tmp_path, "--oidc-issuer", "https://id.example.com")
        assert 2 == r.returncode
        assert "set SIGNOFF_OIDC_CLIENT_ID and SIGNOFF_OIDC_CLIENT_SECRET" in r.stderr
        assert "/login/oidc/callback" in r.stderr

    def test_only_the_missing_secret_is_named(self, tmp_path: Path) -> None:
        """The id given, the secret not: only the secret is asked for."""
        r = serve(tmp_path, "--oidc-issuer", "https://id.example.com", SIGNOFF_OIDC_CLIENT_ID="signoff")
        assert (2, True, False) == (r.returncode, "set SIGNOFF_OIDC_CLIENT_SECRET in" in r.stderr,
                                    "SIGNOFF_OIDC_CLIENT_ID and" in r.stderr)

    def test_a_plain_http_issuer_off_loopback_is_refused(self, tmp_path: Path) -> None:
        """Tokens over plain HTTP only on loopback (tests); anywhere else https."""
        r = serve(tmp_path, "--oidc-issuer", "http://id.example.com", SIGNOFF_OIDC_CLIENT_ID="a",
                  SIGNOFF_OIDC_CLIENT_SECRET="b")
        assert (2, True) == (r.returncode, "an issuer is an https:// URL" in r.stderr)

    def test_a_policy_that_maps_no_tier_is_refused(self, tmp_path: Path) -> None:
        """Nobody could log in: said, with the section to add."""
        r = serve(tmp_path, "--oidc-issuer", "https://id.example.com", policy=POLICY, SIGNOFF_OIDC_CLIENT_ID="a",
                  SIGNOFF_OIDC_CLIENT_SECRET="b")
        assert (2, True) == (r.returncode, "maps no group to a tier" in r.stderr and "oidc:" in r.stderr)

    def test_no_password_login_without_an_issuer_is_refused(self, tmp_path: Path) -> None:
        """Switching passwords off with no single sign-on would leave nobody a way in."""
        r = serve(tmp_path, "--no-password-login")
        assert (2, True) == (r.returncode, "without a way in" in r.stderr)
