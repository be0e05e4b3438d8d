# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenID Connect login with any issuer: discovery, authorization code + PKCE (S256), ID token checks.

Built on Authlib 1.6.0's pieces (the httpx OAuth 2 client, ``authlib.jose`` and the OIDC claim
classes), not its Starlette integration, which keeps state in a cookie-backed session middleware
we do not use. The issuer's TLS is verified (the system's CAs or ``web.oidc.ca_file``).
Discovery and keys are cached for an hour; an ID token signed with a key we do not know yet
fetches the keys again once (key rotation).
"""

from __future__ import annotations

import logging
import secrets
import ssl
import time
from dataclasses import dataclass

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken

from ansible_collections.quadstats.stack.services.backend.settings import OidcSettings, WebSettings, oidc_client_secret

log = logging.getLogger("quadstats.backend")
CACHE_SECONDS = 3600
# Asymmetric algorithms only: an HS256 token would be signed with our own client secret.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OidcError(Exception):
    """The login failed; ``public`` is what the page says, the log gets ``str(exc)``; ``status``: 502
    when the issuer is unreachable or answers nonsense, 400 when it refused what the browser brought."""

    def __init__(
        self,
        detail: str,
        public: str = "Single sign-on failed. Try again, or ask the administrator.",
        status: int = 502,
    ) -> None:
        super().__init__(detail)
        self.public = public
        self.status = status


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """One configured issuer (``web.oidc``)."""

    def __init__(self, web: WebSettings) -> None:
        self.conf: OidcSettings = web.oidc
        self.verify = ssl.create_default_context(cafile=self.conf.ca_file) if self.conf.ca_file else True
        self._metadata: tuple[float, dict] | None = None
        self._keys: tuple[float, dict] | None = None

    def client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.conf.client_id,
            client_secret=oidc_client_secret(self.conf),  # read per login: rotation needs no restart
            scope=self.conf.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            verify=self.verify,
            timeout=self.conf.timeout_seconds,
        )

    async def _get_json(self, url: str, what: str) -> dict:
        try:
            async with httpx.AsyncClient(verify=self.verify, timeout=self.conf.timeout_seconds) as http:
                answer = await http.get(url, headers={"Accept": "application/json"})
        except httpx.ConnectError as exc:
            raise OidcError(
                f"{what} {url} unreachable or its TLS certificate not trusted (web.oidc.ca_file): {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise OidcError(f"{what} {url}: {type(exc).__name__}: {exc}") from None
        if answer.status_code != 200:
            raise OidcError(f"{what} {url} answered HTTP {answer.status_code}")
        try:
            data = answer.json()
        except ValueError:
            raise OidcError(f"{what} {url} is not JSON") from None
        if not isinstance(data, dict):
            raise OidcError(f"{what} {url} is not a JSON object")
        return data

    async def metadata(self) -> dict:
        now = time.monotonic()
        if self._metadata and self._metadata[0] > now:
            return self._metadata[1]
        data = await self._get_json(self.conf.discovery_url, "discovery document (web.oidc.discovery_url)")
        for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(field), str):
                raise OidcError(f"discovery document {self.conf.discovery_url} has no {field}")
        if "S256" not in data.get("code_challenge_methods_supported", ["S256"]):
            raise OidcError("the issuer does not support PKCE with S256 (code_challenge_methods_supported)")
        self._metadata = (now + CACHE_SECONDS, data)
        return data

    async def keys(self, refresh: bool = False):
        now = time.monotonic()
        if refresh or not self._keys or self._keys[0] <= now:
            jwks = await self._get_json((await self.metadata())["jwks_uri"], "key set (jwks_uri)")
            self._keys = (now + CACHE_SECONDS, jwks)
        return JsonWebKey.import_key_set(self._keys[1])

    async def begin(self, redirect_uri: str) -> LoginStart:
        meta = await self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        async with self.client(redirect_uri) as oauth:
            url, _state = oauth.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return LoginStart(url, state, nonce, verifier)

    async def finish(self, code: str, redirect_uri: str, start: LoginStart) -> dict:
        """Exchange ``code`` for tokens, check the ID token (signature, iss, aud, exp, nonce, at_hash);
        returns its claims merged with the userinfo endpoint's (same ``sub``)."""
        meta = await self.metadata()
        async with self.client(redirect_uri) as oauth:
            try:
                token = await oauth.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=start.code_verifier,
                )
            except httpx.HTTPError as exc:
                raise OidcError(f"token endpoint {meta['token_endpoint']}: {type(exc).__name__}: {exc}") from None
            except Exception as exc:  # Authlib's OAuthError: the issuer refused the code
                raise OidcError(f"token endpoint refused the code: {exc}", status=400) from None
            if "id_token" not in token:
                raise OidcError("the token response has no id_token (is 'openid' in web.oidc.scopes?)")
            claims = await self._check_id_token(token, start.nonce, meta)
            if meta.get("userinfo_endpoint") and "email" not in claims:
                try:
                    answer = await oauth.get(meta["userinfo_endpoint"])
                    answer.raise_for_status()
                    userinfo = answer.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise OidcError(f"userinfo endpoint {meta['userinfo_endpoint']}: {exc}") from None
                if userinfo.get("sub") != claims["sub"]:
                    raise OidcError("userinfo is about another subject than the ID token")
                claims = {**userinfo, **claims}
        return claims

    async def _check_id_token(self, token: dict, nonce: str, meta: dict) -> dict:
        options = {
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": self.conf.client_id},
            "nonce": {"essential": True},
        }
        params = {"nonce": nonce, "client_id": self.conf.client_id, "access_token": token.get("access_token")}
        decoder = JsonWebToken(list(SIGNING_ALGORITHMS))
        for attempt in (0, 1):
            try:
                claims = decoder.decode(
                    token["id_token"],
                    await self.keys(refresh=attempt == 1),
                    claims_cls=CodeIDToken,
                    claims_options=options,
                    claims_params=params,
                )
                claims.validate(leeway=60)
                return dict(claims)
            except ValueError as exc:  # a key id not in the cached set: fetch the keys once more
                if attempt == 1:
                    raise OidcError(f"ID token signed with an unknown key: {exc}") from None
            except JoseError as exc:
                raise OidcError(f"ID token refused: {exc}") from None
        raise AssertionError("unreachable")

    def refusal(self, claims: dict) -> str | None:
        """Why these claims may not log in (a sentence for the page), or None."""
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            return "Your identity provider did not tell us your e-mail address (scope 'email')."
        if self.conf.require_verified_email and claims.get("email_verified") not in (True, "true"):
            return f"Your identity provider has not verified the e-mail address {email}."
        if not self.conf.allows(email):
            return f"The e-mail address {email} is not allowed to use this service. Ask the administrator to add it."
        return None
