"""Single sign-on for the inbox: OpenID Connect, authorization code with PKCE, through authlib.

``signoff serve --oidc-issuer URL`` reads the provider's discovery document, sends the
reviewer there (``GET /login/oidc``) and takes them back (``GET /login/oidc/callback``).
authlib checks the ID token: its signature against the provider's JWKS, the issuer, the
audience (this client id), expiry and the nonce; the state and the PKCE verifier travel
in a short-lived signed cookie of this browser (no server-side table, so any of several
servers sharing ``SIGNOFF_SECRET_KEY`` can finish a login another started). The policy's
``oidc:`` section maps a claim to a tier (``_oidc_claims``); the reviewer is created on first
login and their tier follows the mapping afterwards (the Gate's ``put_reviewer`` door,
audited). The session is the one the password login makes, so CSRF checks, logout and
revocation work the same.

Why the callback answers with a page that moves on rather than a redirect: the session
cookie is ``SameSite=Strict``, and a redirect chain that began on the provider's site is
cross-site, so the browser would not send the fresh cookie to the inbox. The page's own
navigation is same-site.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from signoff._errors import SignoffError, UserError
from signoff._text import reveal
from signoff.policy._spec import OidcLogin as OidcSpec
from signoff.server.ui._base import HTTPProblem, InboxUI, local_path
from signoff.server.ui._oidc_claims import identity
from signoff.server.ui._session import password_fingerprint
from signoff.store._records import Reviewer

__all__ = ["CALLBACK", "FLOW_COOKIE", "OidcLogin"]

FLOW_COOKIE = "signoff_oidc"
CALLBACK = "/login/oidc/callback"
FLOW_SECONDS = 600
"""How long a reviewer may take at the provider before the started login is void."""
_log = logging.getLogger("signoff.server.oidc")


_STATE_MISMATCH = HTTPProblem(
    403, "This answer from the identity provider does not belong to a login started in this browser (the "
         f"state does not match, or the login was started more than {FLOW_SECONDS // 60} minutes ago). Nothing "
         "was changed: start again from the login page.", title="Login refused: state mismatch")


class OidcLogin:
    """The OIDC client of one inbox: the provider's metadata (read once, lazily), the flow cookie,
    and the two pages."""

    def __init__(self, ui: InboxUI) -> None:
        try:
            from authlib.integrations.starlette_client import OAuth
        except ImportError as exc:  # pragma: no cover - the extra is installed with the tests
            raise UserError(f"single sign-on needs the oidc extra: pip install 'signoff[oidc]' ({exc})") from exc
        settings = ui.settings
        self.ui = ui
        self.issuer = str(settings.oidc_issuer)
        self.spec: OidcSpec = ui.gate.policy.spec.oidc or OidcSpec()
        self.leeway = int(settings.oidc_leeway_seconds)
        self.redirect_uri = ui.public_url.rstrip("/") + CALLBACK
        self.secure = bool(settings.cookie_secure)
        self._flows = URLSafeTimedSerializer(settings.secret_key, salt="signoff.ui.oidc")
        self.client: Any = OAuth().register(
            name="signoff", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
            server_metadata_url=self.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": " ".join(self.spec.scopes), "code_challenge_method": "S256", "timeout": 10})

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, checked: it must name the issuer it was asked for (OIDC Discovery 4.3)."""
        meta: dict[str, Any] = await self.client.load_server_metadata()
        if str(meta.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/"):
            self.client.server_metadata = {}
            raise HTTPProblem(502, f"The identity provider at {self.issuer} calls itself "
                                   f"{meta.get('issuer')!r} in its discovery document; the issuer must match "
                                   "--oidc-issuer exactly. Nothing was changed.", title="Single sign-on misconfigured")
        return meta

    async def checked_metadata(self) -> dict[str, Any]:
        """``metadata()``, with a provider that cannot be reached said as such (a page, not a 500)."""
        try:
            return await self.metadata()
        except HTTPProblem:
            raise
        except Exception as exc:  # httpx errors, a document that is not JSON, ...
            raise self._unreachable(exc) from None

    # -- GET /login/oidc ---------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        """Send the browser to the provider, with a fresh state, nonce and PKCE verifier kept in the
        flow cookie."""
        try:
            await self.checked_metadata()
            request.scope["session"] = {}
            response: Response = await self.client.authorize_redirect(request, self.redirect_uri)
        except HTTPProblem as exc:
            return self.ui.problem(request, None, exc)
        except Exception as exc:  # the provider's failures are many; each is said as it is
            return self.ui.problem(request, None, self._unreachable(exc))
        flow = {"s": request.scope["session"], "next": local_path(request.query_params.get("next"))}
        response.set_cookie(FLOW_COOKIE, self._flows.dumps(flow), max_age=FLOW_SECONDS, path="/login/oidc",
                            httponly=True, samesite="lax", secure=self.secure)
        # Lax, not Strict: the provider sends the browser back with a top-level cross-site GET.
        return self.ui.secure_headers(response)

    # -- GET /login/oidc/callback -------------------------------------------------------------
    async def callback(self, request: Request) -> Response:
        """Finish the login: the code for tokens, the ID token checked, the reviewer made or updated,
        the session written. Every refusal is a page that says what went wrong; nothing is created."""
        flow = self._read_flow(request)
        try:
            response = await self._finish(request, flow)
        except HTTPProblem as exc:
            _log.warning("single sign-on refused: %s", exc.message)
            response = self.ui.problem(request, None, exc)
        except SignoffError as exc:
            response = self.ui.problem(request, None, exc)
        response.delete_cookie(FLOW_COOKIE, path="/login/oidc", httponly=True, samesite="lax", secure=self.secure)
        return response

    async def _finish(self, request: Request, flow: dict[str, Any] | None) -> Response:
        from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError

        pending = dict(flow["s"]) if flow and isinstance(flow.get("s"), dict) else {}
        request.scope["session"] = pending
        state = request.query_params.get("state") or ""
        if f"_state_signoff_{state}" not in pending:
            # Checked before anything else, the provider's error answers included: authlib reads ?error=
            # first, and a link crafted elsewhere would otherwise put its words on this site's page.
            raise _STATE_MISMATCH
        meta = await self.checked_metadata()
        said = request.query_params.get("iss")
        if said is not None and said != meta["issuer"]:
            # RFC 9207: the answer names who sent it; another issuer's answer here is a mix-up attack.
            raise HTTPProblem(403, f"This answer says it comes from {reveal(said, one_line=True, max_len=100)!r}, "
                                   f"not from {self.issuer}. Nothing was changed.",
                              title="Login refused: answer from another issuer")
        try:
            # iss and aud stated outright: authlib's default checks aud only through azp, and a token for
            # another audience that names this client in azp would pass (OIDC Core 3.1.3.7, steps 2-3).
            options = {"iss": {"essential": True, "values": [meta["issuer"]]},
                       "aud": {"essential": True, "values": [self.client.client_id]}}
            token = await self.client.authorize_access_token(request, leeway=self.leeway, claims_options=options)
        except MismatchingStateError:
            raise _STATE_MISMATCH from None
        except OAuthError as exc:
            said = reveal(f"{exc.error}{': ' + exc.description if exc.description else ''}", one_line=True,
                          max_len=300)
            raise HTTPProblem(403, f"The identity provider refused the login (in its words: {said}). Nothing was "
                                   "changed.", title="Login refused by the identity provider") from None
        except HTTPProblem:
            raise
        except Exception as exc:  # token checks raise joserfc/authlib errors; classify them
            raise _token_problem(exc, self) from None
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise HTTPProblem(403, "The identity provider sent no ID token, so nobody can be identified. Is "
                                   "'openid' among the scopes?", title="Login refused")
        claims = await self._with_userinfo(claims, token)
        who = identity(claims, self.spec, self.ui.gate.policy.tiers)
        reviewer = await self._reviewer(who.name, who.tier)
        session = self.ui.sessions.new(name=reviewer.name, pw=password_fingerprint(reviewer.password_hash))
        nxt = local_path(flow.get("next") if flow else None)
        response = self.ui.render(request, "oidc_continue.html", None, csrf="", next=nxt)
        self.ui.sessions.write(response, session)
        self.ui.login_tokens.clear(response)
        _log.info("single sign-on: %s logged in (tier %s)", reviewer.name, reviewer.tier)
        return response

    async def _with_userinfo(self, claims: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        """Providers that keep claims out of the ID token (OIDC Core 5.4) give them at the userinfo
        endpoint; asked only when the ID token lacks the name or the group claim, and only trusted for
        the same subject."""
        if self.spec.name_claim in claims and self.spec.claim.split(".")[0] in claims:
            return claims
        meta = await self.checked_metadata()
        if not meta.get("userinfo_endpoint") or "access_token" not in token:
            return claims
        try:
            extra = dict(await self.client.userinfo(token=token))
        except Exception as exc:
            raise self._unreachable(exc) from None
        if extra.get("sub") != claims.get("sub"):
            raise HTTPProblem(403, "The identity provider's userinfo answer is about someone else than its ID "
                                   "token (their 'sub' differ). Nothing was changed.", title="Login refused")
        return {**extra, **claims}

    async def _reviewer(self, name: str, tier: str) -> Reviewer:
        """The reviewer account for ``name``: created with ``tier`` on first login, its tier updated when
        the mapping changed. A password account of the same name is local and never taken over."""
        gate = self.ui.gate
        existing = await gate.get_reviewer(name)
        if existing is None:
            reviewer = Reviewer(name=name, tier=tier)
            await gate.put_reviewer(reviewer, actor=f"oidc:{name}")
            return reviewer
        if existing.password_hash:
            raise HTTPProblem(403, f"There is a reviewer {name!r} here who logs in with a password; single "
                                   "sign-on does not log into password accounts. An administrator can remove "
                                   f"the password (`signoff reviewer add {name} --no-password`) to hand the "
                                   "account to the identity provider.", title="Login refused: local account")
        if existing.disabled:
            raise HTTPProblem(403, f"The reviewer account {name!r} is disabled here.", title="Account disabled")
        if existing.tier != tier:
            updated = dataclasses.replace(existing, tier=tier)
            await gate.put_reviewer(updated, actor=f"oidc:{name}")
            return updated
        return existing

    def _read_flow(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(FLOW_COOKIE)
        if not raw:
            return None
        try:
            data = self._flows.loads(raw, max_age=FLOW_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def _unreachable(self, exc: Exception) -> HTTPProblem:
        _log.warning("single sign-on: the identity provider at %s failed: %r", self.issuer, exc)
        return HTTPProblem(502, f"The identity provider at {self.issuer} could not be used ({type(exc).__name__}: "
                                f"{str(exc)[:200]}). Nothing was changed; try again in a moment.",
                           title="Identity provider unavailable")


def _token_problem(exc: Exception, oidc: OidcLogin) -> HTTPProblem:
    """A failed ID token check in a reviewer's (and an administrator's) words."""
    kind = type(exc).__name__
    claim = getattr(exc, "claim", None)
    title = "Login refused: the ID token is not valid"
    if kind == "ExpiredTokenError" or claim == "exp":
        return HTTPProblem(403, "The identity provider's ID token has expired (its 'exp' is past, with "
                                f"{oidc.leeway} s allowed for clock skew). Nothing was changed: log in again; if "
                                "it keeps happening, check the clocks of this server and the provider.", title=title)
    if claim == "aud":
        return HTTPProblem(403, "The identity provider's ID token was issued for another application: its "
                                "audience ('aud') is not this server's client id. Nothing was changed; check "
                                "SIGNOFF_OIDC_CLIENT_ID.", title=title)
    if claim == "iss":
        return HTTPProblem(403, f"The ID token was issued by someone other than {oidc.issuer} ('iss' differs). "
                                "Nothing was changed.", title=title)
    if claim == "nonce":
        return HTTPProblem(403, "The ID token does not answer this login (its nonce differs): possibly a replay. "
                                "Nothing was changed: start again from the login page.", title=title)
    if claim is not None:
        return HTTPProblem(403, f"The ID token's {claim!r} claim is missing or wrong ({exc}). Nothing was changed.",
                           title=title)
    if kind in ("BadSignatureError", "InvalidKeyIdError", "DecodeError", "UnsupportedAlgorithmError"):
        return HTTPProblem(403, "The ID token's signature does not verify against the identity provider's "
                                f"published keys (JWKS) ({kind}). Nothing was changed.", title=title)
    return oidc._unreachable(exc)
