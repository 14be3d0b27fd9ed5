"""Accounts and login sessions: argon2id password hashes, hashed session tokens, platform roles."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from legacy_core.clock import Clock, IdGenerator
from legacy_core.db import insert_unless_taken
from legacy_core.errors import EmailTaken
from legacy_core.models import AuthSession, User, UserRole

PLATFORM_ADMIN = "platform:admin"
PLATFORM_USER = "platform:user"


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user as handlers see it: plain data, detached from any session."""

    id: str
    email: str
    name: str
    tenant_id: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return PLATFORM_ADMIN in self.roles

    def public(self) -> dict[str, object]:
        return {"id": self.id, "email": self.email, "name": self.name, "roles": sorted(self.roles)}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Auth:
    """Password hashing and the session store; every method takes the database session it works in."""

    def __init__(self, clock: Clock, ids: IdGenerator, ttl_hours: int, argon2_memory_kib: int = 65536):
        self.clock = clock
        self.ids = ids
        self.ttl = timedelta(hours=ttl_hours)
        # argon2-cffi's PasswordHasher produces argon2id hashes; memory cost is lowered only by tests.
        self.hasher = PasswordHasher(memory_cost=argon2_memory_kib)

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def create_user(
        self, db: Session, *, email: str, password: str, name: str, tenant_id: str, roles: set[str]
    ) -> User:
        normalized_email = email.strip().lower()
        values: dict[str, object] = {
            "id": self.ids.new("u"),
            "tenant_id": tenant_id,
            "email": normalized_email,
            "name": name,
            "password_hash": self.hash_password(password),
            "created_at": self.clock.now(),
        }
        if not insert_unless_taken(db, User, values):
            raise EmailTaken(normalized_email)
        user = db.get_one(User, values["id"])
        for role in sorted(roles | {PLATFORM_USER}):
            db.add(UserRole(user_id=user.id, role=role))
        db.flush()
        return user

    def find_user(self, db: Session, email: str) -> User | None:
        return db.scalar(select(User).where(User.email == email.strip().lower()))

    def authenticate(self, db: Session, email: str, password: str) -> User | None:
        user = self.find_user(db, email)
        if user is None:
            # Hash anyway so a missing account costs the same time as a wrong password.
            self.verify_password(self.hasher.hash("timing-equaliser"), password)
            return None
        return user if self.verify_password(user.password_hash, password) else None

    def start_session(self, db: Session, user: User) -> str:
        """A new session token for `user`; expired sessions of every user are swept at the same time."""
        self.purge_expired(db)
        token = self.ids.token()
        now = self.clock.now()
        db.add(AuthSession(token_hash=token_digest(token), user_id=user.id, created_at=now, expires_at=now + self.ttl))
        db.flush()
        return token

    def resolve(self, db: Session, token: str | None) -> CurrentUser | None:
        """The user of a session token; an expired session is deleted and gives None.

        One query, read fresh on every request: the session, its user and the user's roles joined. No cache: a
        sign-out, a deleted account or a changed role takes effect on the next request in every worker process.
        """
        if not token:
            return None
        digest = token_digest(token)
        rows = db.execute(_RESOLVE, {"digest": digest}).all()
        if not rows:
            return None
        expires_at, user_id, email, name, tenant_id, _ = rows[0]
        if _aware(expires_at) <= self.clock.now():
            db.execute(delete(AuthSession).where(AuthSession.token_hash == digest))
            return None
        if user_id is None:  # the session outlived its user (no foreign key enforced)
            return None
        roles = frozenset(row[5] for row in rows if row[5] is not None)
        return CurrentUser(id=user_id, email=email, name=name, tenant_id=tenant_id, roles=roles)

    def current_user(self, db: Session, user: User) -> CurrentUser:
        roles = frozenset(db.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
        return CurrentUser(id=user.id, email=user.email, name=user.name, tenant_id=user.tenant_id, roles=roles)

    def end_session(self, db: Session, token: str | None) -> None:
        if token:
            db.execute(delete(AuthSession).where(AuthSession.token_hash == token_digest(token)))

    def purge_expired(self, db: Session) -> int:
        result = db.execute(delete(AuthSession).where(AuthSession.expires_at <= self.clock.now()))
        return int(getattr(result, "rowcount", 0) or 0)


_SESSIONS, _USERS, _ROLES = AuthSession.__table__.c, User.__table__.c, UserRole.__table__.c
# A session's expiry, its user and one row per role of the user (a user without roles gives one row, role NULL; a
# session whose user is gone gives one row, user NULL). Core columns: no ORM entity is loaded.
_RESOLVE = (
    select(_SESSIONS.expires_at, _USERS.id, _USERS.email, _USERS.name, _USERS.tenant_id, _ROLES.role)
    .select_from(
        AuthSession.__table__.outerjoin(User.__table__, _USERS.id == _SESSIONS.user_id).outerjoin(
            UserRole.__table__, _ROLES.user_id == _USERS.id
        )
    )
    .where(_SESSIONS.token_hash == bindparam("digest"))
)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
