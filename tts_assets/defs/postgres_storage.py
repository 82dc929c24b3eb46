"""dagster-postgres's event log storage with pool slots claimed atomically.

Upstream claims a slot with `SELECT … FOR UPDATE SKIP LOCKED` and then an `UPDATE`, on an
autocommit connection: the row lock ends with the SELECT, and two steps starting together can both
take the one slot of the `gpu` pool (seen here in 6 and 11 of 20 rounds of six simultaneous
claims). Here the two statements are one transaction and the UPDATE only takes a free slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as db
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.sqlalchemy_compat import db_select
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config


class SlotSafePostgresEventLogStorage(PostgresEventLogStorage):
    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "SlotSafePostgresEventLogStorage":
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str) -> ConcurrencySlotStatus:
        free = db.and_(
            ConcurrencySlotsTable.c.concurrency_key == concurrency_key,
            ConcurrencySlotsTable.c.step_key == None,  # noqa: E711 - SQL IS NULL
            ConcurrencySlotsTable.c.deleted == False,  # noqa: E712
        )
        with self.index_transaction() as conn:
            slot = conn.execute(
                db_select([ConcurrencySlotsTable.c.id]).select_from(ConcurrencySlotsTable).where(free)
                .with_for_update(skip_locked=True).limit(1)
            ).fetchone()
            if not slot:
                return ConcurrencySlotStatus.BLOCKED
            taken = conn.execute(
                ConcurrencySlotsTable.update().values(run_id=run_id, step_key=step_key)
                .where(db.and_(ConcurrencySlotsTable.c.id == slot[0], free))
            ).rowcount
        return ConcurrencySlotStatus.CLAIMED if taken else ConcurrencySlotStatus.BLOCKED
