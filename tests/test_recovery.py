"""Recovery of many stored tasks: the daemon answers (and says READY) at
once and reads the tasks back a chunk per loop pass, earliest wake-up
first; a task due soon after the restart fires on time; GET, listing and
cancel of a task not loaded yet are right. And a version 2 store is
migrated to version 3 (the due_at column recovery walks)."""

import calendar
import os
import re
import sqlite3
import time

import harness
from harness import Daemon, create, metric, wait_end

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
COPIES = 20000


def ms(stamp):
    """An RFC 3339 UTC time of the API, as ms since the epoch."""
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 \
        + int(stamp[20:23])


def copy_id(template, i):
    """The ULID i above the template (same millisecond: the top bit of its
    random part is 0, so adding a few thousand never carries into the
    time), as Crockford base32."""
    n = 0
    for ch in template:
        n = n * 32 + CROCKFORD.index(ch)
    n += i
    out = ""
    for _ in range(26):
        out = CROCKFORD[n % 32] + out
        n //= 32
    return out


def add_copies(sd, n):
    """n copies of the one running sleep task stored, straight into the
    store (creating them over HTTP would take the test's time); the last
    one wakes latest. The ids, oldest first."""
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    (tid, kind, state, doc, due), = db.execute(
        "SELECT id, kind, state, doc, due_at FROM tasks")
    rows, ids = [], []
    for i in range(1, n + 1):
        cid = copy_id(tid, i)
        text = doc.replace(tid, cid)
        wake = due
        if i == n:      # the latest wake-up: read back last
            text = text.replace('"duration_ms":600000', '"duration_ms":700000')
            wake = due + 100000
        rows.append((cid, kind, state, text, wake))
        ids.append(cid)
    db.executemany("INSERT INTO tasks(id, kind, state, doc, due_at)"
                   " VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return ids


def test_restart_with_many_tasks_loads_after_ready():
    sd = harness.tmpdir()
    with Daemon("-d", sd) as d:
        create(d, {"duration_ms": 600000})
    ids = add_copies(sd, COPIES)
    last = ids[-1]
    with Daemon("-d", sd) as d:
        d.wait_log(r"recovered %d tasks: 0 scheduled, %d running" %
                   (COPIES + 1, COPIES + 1), timeout=60)
        soon = create(d, {"duration_ms": 0, "delay_ms": 2000})
        d.kill()
    d = Daemon("-d", sd)
    try:
        # Not loaded yet (it wakes last): read from the store, then
        # loaded by id to be cancelled.
        g = d.get("/v1/tasks/" + last).json()
        assert g["state"] == "running" and g["duration_ms"] == 700000, g
        page = d.get("/v1/tasks?limit=2").json()
        assert [t["id"] for t in page["tasks"]] == [soon["id"], last], page
        c = d.delete("/v1/tasks/" + last)
        assert c.status == 200 and c.json()["state"] == "cancelled", c
        d.wait_log(r"recovered %d tasks: " % (COPIES + 2), timeout=60)
        log = d.log()
        # Loading took loop passes after the daemon listened.
        assert log.index("listening on") < log.index("recovered"), log
        f = wait_end(d, soon["id"])
        # Due after the daemon listened (unless a slow start took longer):
        # started in time, though the rest was still loading.
        listening = ms(re.search(r"^(\S+) info listening on", log, re.M).group(1))
        late = ms(f["started_at"]) - max(ms(soon["start_at"]), listening)
        assert f["state"] == "succeeded" and 0 <= late < 100 * harness.SLOW, (f, soon)
        assert d.get("/v1/tasks/" + last).json()["state"] == "cancelled"
        assert metric(d, "evtaskd_tasks_active", 'state="running"') == COPIES
        assert d.stop() == 0
    finally:
        d.kill()
    with Daemon("-d", sd) as d:
        d.wait_log(r"recovered %d tasks: 0 scheduled, %d running" %
                   (COPIES, COPIES), timeout=60)
        assert d.get("/v1/tasks/" + last).json()["state"] == "cancelled"


def test_key_holder_back_before_ready():
    sd = harness.tmpdir()
    with Daemon("-d", sd) as d:
        create(d, {"duration_ms": 600000})
    add_copies(sd, COPIES)
    with Daemon("-d", sd) as d:
        holder = create(d, {"duration_ms": 600000, "concurrency_key": "k"})
    d = Daemon("-d", sd)
    try:
        # The holder was created last (its id is the highest), yet it is
        # back before the daemon answers: a new task with its key waits.
        t = create(d, {"duration_ms": 0, "concurrency_key": "k"})
        assert t["state"] == "scheduled", t
        assert d.get("/v1/tasks/" + holder["id"]).json()["state"] == "running"
        d.wait_log(r"recovered %d tasks: " % (COPIES + 2), timeout=60)
        assert d.stop() == 0
    finally:
        d.kill()


def test_stop_while_loading_cancels_all_on_shutdown_cancel():
    sd = harness.tmpdir()
    cfg = harness.write_json(sd, "c.json", {"on_shutdown": "cancel"})
    with Daemon("-d", sd) as d:
        create(d, {"duration_ms": 600000})
    add_copies(sd, COPIES)
    d = Daemon("-d", sd, "-c", cfg)
    assert d.stop() == 0    # at once: most are not loaded yet
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    states = db.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall()
    db.close()
    assert states == [(5, COPIES + 1)], states      # all cancelled


def test_v2_store_migrated_to_v3():
    sd = harness.tmpdir()
    with Daemon("-d", sd) as d:
        run = create(d, {"duration_ms": 600000})
        sch = create(d, {"duration_ms": 0, "delay_ms": 600000})
        done = create(d, {"duration_ms": 0})
        wait_end(d, done["id"])
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    db.executescript("DROP INDEX tasks_due; ALTER TABLE tasks DROP COLUMN due_at;"
                     " PRAGMA user_version = 2;")
    db.close()
    with Daemon("-d", sd) as d:
        d.wait_log("schema version 2 upgraded to 3")
        d.wait_log("recovered 2 tasks: 1 scheduled, 1 running")
        assert d.get("/v1/tasks/" + run["id"]).json()["state"] == "running"
        assert d.get("/v1/tasks/" + sch["id"]).json()["state"] == "scheduled"
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    sql, = db.execute("SELECT sql FROM sqlite_master WHERE name = 'tasks'").fetchone()
    assert sql.endswith("WITHOUT ROWID"), sql
    dues = dict(db.execute("SELECT id, due_at FROM tasks"))
    db.close()
    assert dues[done["id"]] is None, dues
    assert dues[sch["id"]] == ms(sch["start_at"]), dues
    assert dues[run["id"]] == ms(run["started_at"]) + 600000, dues


if __name__ == "__main__":
    harness.run(globals())
