"""Migration 0008: keys that were admins before it (platform-wide then) become operators."""

from __future__ import annotations

from sqlalchemy import text

from evofuse.store.db import make_engine
from evofuse.store.migrate import migrate
from evofuse.store.skills import utcnow
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)


def test_existing_admin_keys_become_operators_and_others_do_not(database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    try:
        migrate(engine, "0007")
        with engine.begin() as conn:
            for key_id, admin in (("key_old_admin", True), ("key_old_user", False)):
                conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant, key_hash, hint, admin, created_at,"
                        " rate_window, rate_count, budget_day, spent_usd, reserved_usd)"
                        " VALUES (:id, 'ops', :hash, 'efk-', :admin, :now, 0, 0, 0, 0, 0)"
                    ),
                    {"id": key_id, "hash": key_id * 2, "admin": admin, "now": utcnow()},
                )
        migrate(engine)
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, operator FROM api_keys")).all())
        assert rows == {"key_old_admin": True, "key_old_user": False}
    finally:
        engine.dispose()
