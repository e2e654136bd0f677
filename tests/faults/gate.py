"""Holding a routing batch in the middle, from the database side, so a drill can kill the
worker that runs it. Nothing in the product knows about it.

`BatchGate` installs a trigger in the test database: every INSERT into departments_case
first takes a shared advisory lock that the gate holds exclusively, on a connection of its
own. A routing batch that reaches it has locked its items (`FOR UPDATE SKIP LOCKED`) and
decided them, and waits there inside its uncommitted transaction until the drill calls
`release()`, or kills the worker; `remove()` takes the trigger out again. Only batches that
open cases stop, so the drills send every item to support (`every_item_to_support`).

A killed worker's PostgreSQL backend would go on waiting for the lock: it only reads its
socket between statements. Workers started with `WORKER_PGOPTIONS` make PostgreSQL check
the connection every 100 ms during a statement, so the backend of a killed process ends
(and its transaction rolls back) at once, as it would if the kill had landed between two
statements.
"""

import psycopg

from tests.workers import worker_env

# Any number will do; advisory locks are per database, so other test databases on the same
# server are unaffected.
GATE_KEY = 0x5B0A7E

WORKER_PGOPTIONS = "-c client_connection_check_interval=100"

_INSTALL = f"""
CREATE OR REPLACE FUNCTION fault_drill_batch_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({GATE_KEY});
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS fault_drill_batch_gate ON departments_case;
CREATE TRIGGER fault_drill_batch_gate BEFORE INSERT ON departments_case
    FOR EACH STATEMENT EXECUTE FUNCTION fault_drill_batch_gate();
"""
_REMOVE = """
DROP TRIGGER IF EXISTS fault_drill_batch_gate ON departments_case;
DROP FUNCTION IF EXISTS fault_drill_batch_gate();
"""
_WAITING = """
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
  AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s
"""


class BatchGate:
    def __init__(self) -> None:
        self.conn = psycopg.connect(worker_env()["DATABASE_URL"], autocommit=True)

    def hold(self) -> None:
        """From now on, every batch that opens cases stops at the gate."""
        self.conn.execute(_INSTALL)
        self.conn.execute("SELECT pg_advisory_lock(%s)", [GATE_KEY])

    def release(self) -> None:
        """Let every waiting and later batch through."""
        self.conn.execute("SELECT pg_advisory_unlock_all()")

    def waiting(self) -> list[int]:
        """Backend pids of the batches stopped at the gate right now."""
        return [pid for (pid,) in self.conn.execute(_WAITING, [GATE_KEY]).fetchall()]

    def gone(self, pids: list[int]) -> bool:
        """True once none of these backends exists any more (their transactions are over)."""
        rows = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchone()
        return rows[0] == 0

    def remove(self) -> None:
        self.release()
        self.conn.execute(_REMOVE)
        self.conn.close()
