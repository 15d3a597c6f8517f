"""What the bench scripts share: a scratch database, and worker threads released at once."""

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path


@contextlib.contextmanager
def scratch_database(name: str):
    """A migrated database of its own for one run (SQLite: a file in a temporary folder; PostgreSQL:
    bench_<name>_<pid>), dropped afterwards with the folder. Yields the folder for other scratch state."""
    from django.db import connection, connections

    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{name.replace('_', '-')}-"))
    try:
        connection.settings_dict.setdefault("TEST", {})["NAME"] = (
            str(scratch / "bench.sqlite3") if connection.vendor == "sqlite" else f"bench_{name}_{os.getpid()}"
        )
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield scratch
        finally:
            connections.close_all()
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_together(count: int, work) -> tuple[list, float]:
    """work(number) in `count` threads released at the same moment, each on its own connections:
    the errors they raised, and the seconds from the release to the last one finishing."""
    from django.db import connections

    start = threading.Barrier(count + 1)
    errors = []

    def thread(number):
        try:
            start.wait()
            work(number)
        except Exception as error:  # noqa: BLE001 - counted and shown by the caller
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(count)]
    for each in threads:
        each.start()
    start.wait()
    began = time.perf_counter()
    for each in threads:
        each.join()
    return errors, time.perf_counter() - began
