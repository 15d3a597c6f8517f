"""Django's SQLite backend, with a shorter wait for the write lock (the embedded default).

Every read of the institutions' API writes its access-log row, so on SQLite each one takes the
single write lock (BEGIN IMMEDIATE). SQLite's own busy handler waits for it in growing sleeps (1, 2,
5, 10 … 100 ms), so a writer that just missed the lock sleeps long after it was freed: with a few
threads that put the 99th percentile near a second. Here BEGIN IMMEDIATE is tried without the busy
handler and retried after at most 2 ms, for as long as OPTIONS["timeout"] allows; then it fails
as before ("database is locked"). Statements outside a transaction keep SQLite's handler.
"""

import sqlite3
import time

from django.db.backends.sqlite3 import base

MAX_PAUSE = 0.002  # seconds between two tries of BEGIN IMMEDIATE


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self):
        if self.transaction_mode != "IMMEDIATE":
            return super()._start_transaction_under_autocommit()
        seconds = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        raw = self.connection
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            deadline, pause = time.monotonic() + seconds, 0.0001
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        with self.wrap_database_errors:  # as Django reports it: django.db.OperationalError
                            raise
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
