"""Queries of a stream's durable cursor, shared by every table of streams (the audit sinks',
the webhooks'): the delivery lease, the cursor's compare-and-set, the pause and the last error.

Such a table has the columns ``id``, ``paused``, ``cursor``, ``lease_holder``, ``lease_until``,
``last_error``, ``last_error_at`` and ``last_delivered_at`` (core.streams.delivery reads and
moves them); what else a row holds is its own table's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Table, case, insert, or_, select, update

__all__ = ["CursorState", "CursorTable"]


@dataclass(frozen=True, slots=True)
class CursorState:
    """What a delivery step needs of its row: whether it is paused, and the last sequence the
    receiver has (0: none yet)."""

    paused: bool
    cursor: int


class CursorTable:
    """The cursor queries over ``table``. A subclass may narrow ``live`` (a webhook whose level
    was deleted is as good as gone: its loop ends)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def live(self, row_id: int) -> ColumnElement[bool]:
        """The condition that selects the deliverable row ``row_id``."""
        return self.table.c.id == row_id

    def insert(self, conn: Connection, values: Mapping[str, object]) -> int:
        """A new row of ``values``, not paused; its id."""
        made = conn.execute(insert(self.table).values(paused=False, **values))
        new_id = made.inserted_primary_key
        assert new_id is not None  # noqa: S101 - an insert names its row
        return int(new_id[0])

    def state(self, conn: Connection, row_id: int) -> CursorState | None:
        """The row's pause and cursor; None when it is gone (removed, or no longer live)."""
        c = self.table.c
        row = conn.execute(select(c.paused, c.cursor).where(self.live(row_id))).first()
        return None if row is None else CursorState(bool(row.paused), int(row.cursor))

    def set_paused(self, conn: Connection, row_id: int, paused: bool) -> None:
        conn.execute(update(self.table).where(self.table.c.id == row_id).values(paused=paused))

    def take_lease(
        self, conn: Connection, row_id: int, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Take or renew the row's lease: free, ours, or expired. One statement: two servers
        racing for it are ordered by the row's lock, and the loser's condition no longer
        holds."""
        c = self.table.c
        done = conn.execute(
            update(self.table)
            .where(
                c.id == row_id,
                or_(c.lease_holder.is_(None), c.lease_holder == holder, c.lease_until < now),
            )
            .values(lease_holder=holder, lease_until=until)
        )
        return done.rowcount == 1

    def release_lease(self, conn: Connection, row_id: int, holder: str) -> None:
        c = self.table.c
        conn.execute(
            update(self.table)
            .where(c.id == row_id, c.lease_holder == holder)
            .values(lease_holder=None, lease_until=None)
        )

    def advance_cursor(
        self,
        conn: Connection,
        row_id: int,
        holder: str,
        old: int,
        new: int,
        now: datetime,
        until: datetime,
        *,
        delivered: bool = True,
        errors_before: datetime | None = None,
    ) -> bool:
        """Move the cursor from ``old`` to ``new`` if nobody moved it meanwhile (compare-and-set
        on the cursor alone), renewing ``holder``'s lease if it still holds it. The lease is
        not required: a delivery slower than the lease, its lease taken over, would otherwise
        be sent again by both servers forever. Two servers that delivered the same batch both
        try; the loser's move is a no-op (False), and the batch was delivered at least once.
        Order and no loss hold because the cursor only ever moves from the value a batch was
        read after to that batch's last event. ``delivered`` False: events skipped (none was
        for this receiver), which says nothing of the receiver, so its last delivery and error
        stay. ``errors_before``: a delivery clears only an error older than that (a receiver
        that keeps failing is not shown healthy by every batch that slips through between)."""
        c = self.table.c
        ours = c.lease_holder == holder
        values: dict[str, object] = {
            "cursor": new,
            "lease_until": case((ours, until), else_=c.lease_until),
        }
        if delivered:
            values["last_delivered_at"] = now
            # An error recorded at ``errors_before`` or later stays (None: any is cleared).
            if errors_before is None:
                values |= {"last_error": None, "last_error_at": None}
            else:
                settled = or_(c.last_error_at.is_(None), c.last_error_at < errors_before)
                values |= {
                    "last_error": case((settled, None), else_=c.last_error),
                    "last_error_at": case((settled, None), else_=c.last_error_at),
                }
        done = conn.execute(
            update(self.table).where(c.id == row_id, c.cursor == old).values(**values)
        )
        return done.rowcount == 1

    def record_error(
        self, conn: Connection, row_id: int, holder: str | None, message: str, now: datetime
    ) -> None:
        """The row's last error, if ``holder`` holds its lease (None: whoever does; a server
        that cannot even open the row's sink says so)."""
        c = self.table.c
        where = [c.id == row_id] if holder is None else [c.id == row_id, c.lease_holder == holder]
        conn.execute(
            update(self.table).where(*where).values(last_error=message[:500], last_error_at=now)
        )
