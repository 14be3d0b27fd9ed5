"""The `services` object every handler receives: database, settings, logger, auth, tenancy, clock, ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from legacy_core.auth import Auth, CurrentUser
from legacy_core.clock import Clock, IdGenerator
from legacy_core.db import insert_unless_taken
from legacy_core.features import BUILT_IN_SET, FeatureSet
from legacy_core.models import Tenant
from legacy_core.settings import Settings


class Tenancy:
    """Which tenant a request works in: the signed-in user's, else the configured default."""

    def __init__(self, default_tenant: str, clock: Clock):
        self.default = default_tenant
        self.clock = clock

    def for_user(self, user: CurrentUser | None) -> str:
        return user.tenant_id if user is not None else self.default

    def ensure(self, db: Session, tenant_id: str, name: str | None = None) -> Tenant:
        tenant = db.get(Tenant, tenant_id)
        if tenant is None:
            insert_unless_taken(
                db, Tenant, {"id": tenant_id, "name": name or tenant_id, "created_at": self.clock.now()}
            )
            tenant = db.get_one(Tenant, tenant_id)
        return tenant

    def known(self, db: Session) -> list[str]:
        return list(db.scalars(select(Tenant.id).order_by(Tenant.id)))


@dataclass(frozen=True)
class Services:
    """Shared resources of one app instance; two instances never share any of them."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    logger: logging.LoggerAdapter[logging.Logger]
    auth: Auth
    tenancy: Tenancy
    clock: Clock
    ids: IdGenerator
    # The features a plugin may take over (built-in plus EXTRA_FEATURES).
    features: FeatureSet = BUILT_IN_SET
