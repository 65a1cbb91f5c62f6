"""People who sign in to the moderator's page: passwords, signing in, and how a signed-in
person stands in the API.

Passwords are hashed with Argon2id (``argon2-cffi``'s defaults: 64 MiB, 3 passes), off the
event loop and at most a couple at a time, so a burst of sign-ins cannot eat the memory.
Failed sign-ins are slowed down per name and per client address (``SignInThrottle``).

The page drives the JSON API with its session cookie. ``service.web.sessions`` checks the
cookie and the CSRF token, then hands the request on with a bearer token that exists only
inside this process (``Authenticator.bridge_token``) while the person's ``Principal`` sits
in a context variable; ``SessionAwareTokens`` answers that token with that principal. So
the API's handlers need not know sessions exist, and the token is worthless outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from service.store.review import LiveSession, SessionStore, SignInThrottle, User, UserStore
from service.store.tokens import TokenStore
from service.store.values import Principal

#: A sign-in name: what create-user accepts and the users API looks up.
USER_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS: Final = 10
MAX_PASSWORD_CHARS: Final = 1024
#: Failures that cost nothing extra before a name, or an address, is made to wait. An
#: address gets more: a newsroom's moderators may share one.
FREE_FAILURES_PER_NAME: Final = 3
FREE_FAILURES_PER_ADDRESS: Final = 20
#: The longest a name or address is made to wait between tries, in seconds.
MAX_BLOCK_SECONDS: Final = 300.0
#: Argon2id hashes computed at once per process (each takes 64 MiB and a core).
HASH_CONCURRENCY: Final = 2

_CURRENT: Final[contextvars.ContextVar[Principal | None]] = contextvars.ContextVar(
    "replyguard_session_principal", default=None
)


def hash_secret(secret: str) -> bytes:
    """What the database keeps of a session cookie: its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def csrf_token(secret: str) -> str:
    """The session's CSRF token, derived from the cookie's secret: the page reads it from
    its HTML, a page on another site cannot, and it reveals nothing of the cookie."""
    return hmac.new(secret.encode("utf-8"), b"replyguard csrf", hashlib.sha256).hexdigest()


def normalise_name(name: str) -> str:
    return name.strip().lower()


class Passwords:
    """Argon2id hashing, with a stand-in hash so an unknown name costs as much as a known one."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._stand_in: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password``; None checks against a stand-in and is always False."""
        if password_hash is None:
            if self._stand_in is None:
                self._stand_in = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash = self._stand_in
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(password_hash, password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password will not do, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"must be at most {MAX_PASSWORD_CHARS} characters"
    return None


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """A session's secret (for the cookie) and its user, or why not."""

    secret: str | None = None
    user: User | None = None
    #: Set when the name or address must wait: until when.
    blocked_until: datetime | None = None


class Authenticator:
    """Signs people in and out and resolves their sessions."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        passwords: Passwords | None = None,
    ) -> None:
        self.users = UserStore(engine)
        self.sessions = SessionStore(
            engine, idle_seconds=settings.session_idle, max_seconds=settings.session_max
        )
        self.throttle = SignInThrottle(engine)
        self.passwords = passwords or Passwords()
        self._settings = settings
        self._hashing = asyncio.Semaphore(HASH_CONCURRENCY)
        #: Lives only in this process; see the module's docstring.
        self.bridge_token = "rgs_" + secrets.token_urlsafe(32)

    async def sign_in(
        self, name: str, password: str, *, remote: str, user_agent: str
    ) -> SignInOutcome:
        """Check a name and password. A name or address with too many recent failures is
        refused before the password is looked at, so waiting out the block is the only way
        on; each failure also answers only after ``sign_in_failure_delay``."""
        name = normalise_name(name)
        name_key, address_key = f"name:{name}", f"addr:{remote}"
        blocked = await self.throttle.blocked_until([name_key, address_key])
        if blocked is not None:
            return SignInOutcome(blocked_until=blocked)
        credentials = await self.users.credentials(name) if name else None
        async with self._hashing:
            ok = await asyncio.to_thread(
                self.passwords.verify,
                credentials.password_hash if credentials else None,
                password[:MAX_PASSWORD_CHARS],
            )
        if not ok or credentials is None:
            until = await self.throttle.failed(
                name_key, free=FREE_FAILURES_PER_NAME, cap=MAX_BLOCK_SECONDS
            )
            until_address = await self.throttle.failed(
                address_key, free=FREE_FAILURES_PER_ADDRESS, cap=MAX_BLOCK_SECONDS
            )
            await asyncio.sleep(self._settings.sign_in_failure_delay)
            later = max((t for t in (until, until_address) if t is not None), default=None)
            return SignInOutcome(blocked_until=later)
        if self.passwords.needs_rehash(credentials.password_hash):
            async with self._hashing:
                new_hash = await asyncio.to_thread(self.passwords.hash, password)
            await self.users.set_password_hash(credentials.user.id, new_hash)
        await self.throttle.clear(name_key)
        secret = secrets.token_urlsafe(32)
        await self.sessions.start(
            hash_secret(secret), credentials.user, user_agent=user_agent, remote=remote
        )
        return SignInOutcome(secret=secret, user=credentials.user)

    async def resolve(self, secret: str, *, touch: bool) -> LiveSession | None:
        return await self.sessions.resolve(hash_secret(secret), touch=touch)

    async def sign_out(self, secret: str) -> None:
        await self.sessions.end(hash_secret(secret))

    async def create_user(
        self, name: str, password: str, role: str, sites: list[str] | None, *, actor: str = "cli"
    ) -> bool:
        """Create or reset a user (see ``UserStore.put``). True when created."""
        async with self._hashing:
            password_hash = await asyncio.to_thread(self.passwords.hash, password)
        return await self.users.put(
            normalise_name(name),
            password_hash,
            "admin" if role == "admin" else "moderator",
            sites,
            actor=actor,
        )


def acting_as(principal: Principal) -> contextvars.Token[Principal | None]:
    """Make ``principal`` the one the bridge token stands for in this task (until reset)."""
    return _CURRENT.set(principal)


def done_acting(token: contextvars.Token[Principal | None]) -> None:
    _CURRENT.reset(token)


class SessionAwareTokens(TokenStore):
    """API tokens, plus the in-process token a signed-in page's requests arrive with."""

    def __init__(self, engine: AsyncEngine, bridge_token: str) -> None:
        super().__init__(engine)
        self._bridge_token = bridge_token

    async def principal(self, token: str) -> Principal | None:
        if secrets.compare_digest(token.encode(), self._bridge_token.encode()):
            return _CURRENT.get()
        return await super().principal(token)
