"""Recurring schedules (CONTRACT §8): every_ms runs on time, the overlap
policies, pause and resume, DELETE with cancel_running, durability across
SIGKILL and missed runs, the v1 store's migration, and every bad field at
once. Schedules that share nothing run side by side in one daemon to keep
the file short; events and long-polls wait where a change is announced."""

import datetime
import json
import os
import signal
import sqlite3
import time

import harness
from harness import (Daemon, EventStream, is_problem, metric, wait_end,
                     write_json)


def ms(ts):
    """An RFC 3339 time of the daemon's, in ms since the epoch."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def add(d, body):
    r = d.post("/v1/schedules", json=body)
    assert r.status == 201, r
    s = r.json()
    assert r.headers["location"] == "/v1/schedules/" + s["id"], r.headers
    return s


def runs_of(d, sid):
    """The schedule's tasks, oldest first (GET /v1/tasks?schedule=ID)."""
    r = d.get("/v1/tasks?schedule=%s&limit=1000" % sid)
    assert r.status == 200, r
    return list(reversed(r.json()["tasks"]))


def stored_runs(d, sid, n):
    """runs_of once n runs are listed: a run counted in memory is listed
    once its batch is committed (a moment later on PostgreSQL)."""
    return harness.eventually(lambda: (lambda t: len(t) >= n and t)(
        runs_of(d, sid)))


def until_runs(ev, sid, n, state):
    """Read events until n tasks of schedule sid reached state; their ids."""
    seen = []
    while len(seen) < n:
        e = ev.next_event()
        t = json.loads(e["data"])
        if t.get("schedule_id") == sid and t["state"] == state and \
                t["id"] not in seen:
            seen.append(t["id"])
    return seen


def test_every_second_runs_on_time_and_listed():
    with Daemon() as d:
        ev = EventStream(d)
        s = add(d, {"name": "tick", "every_ms": 1000,
                    "task": {"duration_ms": 10, "metadata": {"a": 1}}})
        assert s["runs"] == 0 and s["last_task_id"] is None, s
        assert ms(s["next_run_at"]) == ms(s["created_at"]) + 1000, s
        ids = until_runs(ev, s["id"], 3, "succeeded")
        ts = runs_of(d, s["id"])[:3]
        assert [t["id"] for t in ts] == ids, (ts, ids)
        for k, t in enumerate(ts, 1):
            assert t["schedule_id"] == s["id"], t
            assert t["metadata"] == {"a": 1}, t
            planned = ms(s["created_at"]) + 1000 * k
            assert ms(t["start_at"]) == planned, (k, t)
            assert 0 <= ms(t["started_at"]) - planned < 250, (k, t)
        g = d.get("/v1/schedules/" + s["id"]).json()
        assert g["runs"] >= 3 and g["skipped_runs"] == 0, g
        assert d.get("/v1/schedules").json()["schedules"] == [
            d.get("/v1/schedules/" + s["id"]).json()]
        assert metric(d, "evtaskd_schedule_runs_total") >= 3
        text = d.get("/metrics").body.decode()
        assert "evtaskd_schedule_lateness_seconds_count 0" not in text
        r = d.get("/v1/tasks?schedule=" + s["id"] + "&state=running")
        assert r.status == 200 and all(t["schedule_id"] == s["id"]
                                       for t in r.json()["tasks"]), r
        assert d.get("/v1/tasks?schedule=nope").status == 400


def test_overlap_skip_queue_replace_allow():
    with Daemon() as d:
        ev = EventStream(d)
        slow = {"duration_ms": 1700, "cleanup_ms": 100}
        sk = add(d, {"every_ms": 1000, "task": slow})
        qu = add(d, {"every_ms": 1000, "task": slow, "overlap": "queue"})
        rp = add(d, {"every_ms": 1000, "overlap": "replace",
                     "task": {"duration_ms": 60000, "cleanup_ms": 100}})
        al = add(d, {"every_ms": 1000, "task": slow, "overlap": "allow"})
        # replace: the second run supersedes the first, whose cleanup ran
        first, second = until_runs(ev, rp["id"], 2, "running")
        f = wait_end(d, first)
        assert f["state"] == "cancelled", f
        assert f["cancellation"]["reason"] == "superseded", f
        assert f["cancellation"]["message"] == second, f
        assert f["cleanup"]["state"] == "succeeded", f
        s2 = d.get("/v1/tasks/" + second).json()
        assert ms(s2["started_at"]) >= ms(f["cleanup"]["finished_at"]), (f, s2)
        # skip: runs that came while the slow one ran are counted
        g = harness.eventually(lambda: (lambda s: s["runs"] >= 2 and s)(
            d.get("/v1/schedules/" + sk["id"]).json()))
        assert g["skipped_runs"] >= 1, g
        assert metric(d, "evtaskd_schedule_skipped_runs_total") >= 1
        ts = stored_runs(d, sk["id"], 2)
        assert ms(ts[1]["started_at"]) >= ms(ts[0]["finished_at"]), ts
        # queue: the second waits for the first; never two at once
        a, b = until_runs(ev, qu["id"], 2, "succeeded")
        ta, tb = wait_end(d, a), wait_end(d, b)
        assert ms(tb["started_at"]) >= ms(ta["finished_at"]), (ta, tb)
        assert ms(tb["start_at"]) < ms(ta["finished_at"]), (ta, tb)
        # allow: they overlap
        ts = stored_runs(d, al["id"], 2)
        assert ms(ts[1]["started_at"]) < ms(wait_end(d, ts[0]["id"])[
            "finished_at"]), ts


def test_pause_resume_and_patch():
    with Daemon() as d:
        s = add(d, {"every_ms": 1000, "task": {"duration_ms": 1}})
        r = d.request("PATCH", "/v1/schedules/" + s["id"],
                      json={"paused": True, "name": "n"},
                      headers={"Content-Type": "application/merge-patch+json"})
        assert r.status == 200, r
        p = r.json()
        assert p["paused"] is True and p["next_run_at"] is None, p
        assert p["name"] == "n" and p["task"] == {"duration_ms": 1}, p
        time.sleep(1.3)     # no event announces a run that does not happen
        assert runs_of(d, s["id"]) == []
        before = harness.clock_ms() if hasattr(harness, "clock_ms") else \
            int(time.time() * 1000)
        r = d.request("PATCH", "/v1/schedules/" + s["id"],
                      json={"paused": False, "name": None,
                            "task": {"metadata": {"x": 1}}})
        p = r.json()
        assert r.status == 200 and p["paused"] is False, r
        assert p["name"] is None, p
        assert p["task"] == {"duration_ms": 1, "metadata": {"x": 1}}, p
        assert abs(ms(p["next_run_at"]) - before - 1000) < 300, p
        r = d.request("PATCH", "/v1/schedules/" + s["id"],
                      json={"every_ms": None, "cron": "*/5 * * * *"})
        assert r.json()["cron"] == "*/5 * * * *", r
        assert r.json()["every_ms"] is None, r
        r = d.request("PATCH", "/v1/schedules/" + s["id"],
                      json={"every_ms": 10})
        assert is_problem(r, 422)["errors"][0]["pointer"] == "/every_ms", r
        assert d.request("PATCH", "/v1/schedules/01M8JQMY7C8EKZD8PAP7D7N0EY",
                         json={}).status == 404


def test_delete_cancel_running_answers_after_cleanup():
    with Daemon() as d:
        ev = EventStream(d)
        s = add(d, {"every_ms": 1000, "overlap": "allow",
                    "task": {"duration_ms": 60000, "cleanup_ms": 300}})
        (tid,) = until_runs(ev, s["id"], 1, "running")
        r = d.delete("/v1/schedules/" + s["id"] + "?cancel_running=true")
        done = int(time.time() * 1000)
        assert r.status == 200, r
        assert r.json()["id"] == s["id"], r
        t = d.get("/v1/tasks/" + tid).json()
        assert t["state"] == "cancelled", t
        assert t["cancellation"]["reason"] == "client", t
        assert t["cleanup"]["state"] == "succeeded", t
        assert ms(t["cleanup"]["finished_at"]) <= done, t
        assert d.get("/v1/schedules/" + s["id"]).status == 404
        assert d.get("/v1/schedules").json() == {"schedules": []}
        plain = add(d, {"every_ms": 5000, "task": {"duration_ms": 1}})
        r = d.delete("/v1/schedules/" + plain["id"])
        assert r.status == 200 and r.json()["id"] == plain["id"], r
        assert d.delete("/v1/schedules/" + plain["id"]).status == 404
        assert d.delete("/v1/schedules/x?cancel_running=maybe").status == 400


def planned_k(s, t):
    """Which run of an every_ms schedule a task is (1: the first)."""
    off = ms(t["start_at"]) - ms(s["created_at"])
    assert off % s["every_ms"] == 0, (s, t)
    return off // s["every_ms"]


def test_sigkill_loses_and_doubles_nothing_missed_run_once_and_skip():
    sd = harness.tmpdir()
    d = Daemon("-d", sd)
    try:
        once = add(d, {"every_ms": 1000, "missed": "run_once",
                       "task": {"duration_ms": 1}})
        skip = add(d, {"every_ms": 1000, "task": {"duration_ms": 1}})
        ev = EventStream(d)
        until_runs(ev, once["id"], 2, "succeeded")
        d.kill()            # between two planned times, or just after one
        time.sleep(1.2)     # the next planned time passes while down
    finally:
        d.kill()
    with Daemon("-d", sd) as d:
        g = d.get("/v1/schedules/" + once["id"]).json()
        ks = [planned_k(once, t) for t in runs_of(d, once["id"])]
        assert len(ks) == len(set(ks)), ks                  # none doubled
        assert ks == list(range(1, len(ks) + 1)), ks        # none lost
        assert g["runs"] == len(ks), (g, ks)
        assert ms(g["next_run_at"]) > int(time.time() * 1000) - 500, g
        ks = [planned_k(skip, t) for t in runs_of(d, skip["id"])]
        assert len(ks) == len(set(ks)), ks
        assert ks == list(range(1, len(ks) + 1)), ks  # the missed one dropped
        assert d.get("/v1/schedules/" + skip["id"]).json()["runs"] == len(ks)
        # and after the restart, runs go on at the old cadence
        ev = EventStream(d)
        (tid,) = until_runs(ev, skip["id"], 1, "succeeded")
        assert planned_k(skip, d.get("/v1/tasks/" + tid).json()) > ks[-1]


def test_v1_store_migrated():
    sd = harness.tmpdir()
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    db.executescript(
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " state INTEGER NOT NULL, finished_at INTEGER, idem_key TEXT,"
        " idem_body TEXT, doc TEXT NOT NULL);"
        "PRAGMA user_version = 1;")
    db.commit()
    db.close()
    with Daemon("-d", sd) as d:
        d.wait_log("schema version 1 upgraded to 3")
        s = add(d, {"every_ms": 1000, "task": {"duration_ms": 1}})
    with Daemon("-d", sd) as d:
        assert d.get("/v1/schedules/" + s["id"]).json()["id"] == s["id"]
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    db.close()


T = {"duration_ms": 1}


def test_every_bad_field_422():
    td = harness.tmpdir()
    cfg = write_json(td, "c.json", {"isolation": "process_group", "jobs": {
        "j": {"argv": ["/bin/true"], "retry": {"max_attempts": 2}}}})
    cases = [
        ({"cron": "61 * * * *", "task": T}, {"/cron": "minute"}),
        ({"cron": "* * * * *", "time_zone": "Mars/Base", "task": T},
         {"/time_zone": "Mars/Base"}),
        ({"every_ms": 999, "task": T}, {"/every_ms": "1000"}),
        ({"every_ms": 1000, "cron": "@daily", "task": T},
         {"/every_ms": "exactly one"}),
        ({"task": T}, {"": "exactly one"}),
        ({"every_ms": 1000, "task": {"kind": "command", "job": "j",
                                     "retry": {"max_attempts": 3}}},
         {"/task/retry/max_attempts": "job"}),
        ({"every_ms": 1000, "task": {"duration_ms": -1, "bogus": 1,
                                     "delay_ms": 5}},
         {"/task/duration_ms": "", "/task/bogus": "", "/task/delay_ms": ""}),
        ({"every_ms": 1000, "task": 3, "overlap": "sometimes",
          "missed": "no", "paused": 1, "name": 5, "extra": 1},
         {"/task": "", "/overlap": "skip", "/missed": "run_once",
          "/paused": "", "/name": "", "/extra": "unknown"}),
    ]
    with Daemon("-c", cfg) as d:
        for body, want in cases:
            r = d.post("/v1/schedules", json=body)
            p = is_problem(r, 422)
            got = {e["pointer"]: e["detail"] for e in p["errors"]}
            assert set(got) == set(want), (body, got)
            for k, v in want.items():
                assert v in got[k], (body, got)
        assert d.get("/v1/schedules").json() == {"schedules": []}
        assert d.post("/v1/schedules", body=b"{").status == 400


if __name__ == "__main__":
    harness.run(globals())
