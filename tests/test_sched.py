"""Scheduling policies (CONTRACT §8): retries with back-off, concurrency
keys that queue, replace or reject, and recurring schedules that survive a
crash. Events and long-polls instead of sleeps wherever a change is
announced."""

import datetime
import os
import signal
import time

import harness
from harness import (Daemon, EventStream, create, is_problem, metric,
                     post_task, script, wait_end, write_json)


def ms(ts):
    """An RFC 3339 time of the daemon's, in ms since the epoch."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def jobs_config(td, jobs, **extra):
    doc = {"isolation": "process_group", "jobs": jobs}
    doc.update(extra)
    return write_json(td, "c.json", doc)


# -- retries ------------------------------------------------------------------

def test_failing_job_retried_with_spacing_and_attempts():
    td = harness.tmpdir()
    fail = script(td, "fail", "echo try; exit 3")
    cfg = jobs_config(td, {"flaky": {"argv": [fail], "retry": {
        "max_attempts": 3, "backoff_ms": 200, "max_backoff_ms": 300,
        "jitter": False}}})
    with Daemon("-c", cfg) as d:
        t = create(d, {"kind": "command", "job": "flaky"})
        assert t["retry"] == {"max_attempts": 3, "backoff_ms": 200,
                              "max_backoff_ms": 300, "jitter": False}, t
        t = wait_end(d, t["id"])
        assert t["state"] == "failed", t
        assert t["attempt"] == 3, t
        a = t["attempts"]
        assert [x["attempt"] for x in a] == [1, 2, 3], a
        assert [x["state"] for x in a] == ["failed"] * 3, a
        assert all(x["result"]["exit_code"] == 3 for x in a), a
        # back-off 200 ms, then doubled to 400 but capped at 300 ms
        gap1 = ms(a[1]["started_at"]) - ms(a[0]["finished_at"])
        gap2 = ms(a[2]["started_at"]) - ms(a[1]["finished_at"])
        assert 190 <= gap1 < 1000, a
        assert 290 <= gap2 < 1100, a
        assert t["result"]["exit_code"] == 3, t
        assert metric(d, "evtaskd_task_retries_total",
                      'kind="command"') == 2


def test_task_retry_capped_by_job_and_succeeds_on_second_try():
    td = harness.tmpdir()
    flag = os.path.join(td, "flag")
    once = script(td, "once", "test -e %s && exit 0; touch %s; exit 1"
                  % (flag, flag))
    cfg = jobs_config(td, {"once": {"argv": [once], "retry": {
        "max_attempts": 2}}})
    with Daemon("-c", cfg) as d:
        r = post_task(d, {"kind": "command", "job": "once",
                          "retry": {"max_attempts": 5}}, status=422)
        p = is_problem(r, 422)
        assert [e["pointer"] for e in p["errors"]] == [
            "/retry/max_attempts"], p
        t = create(d, {"kind": "command", "job": "once",
                       "retry": {"max_attempts": 2, "backoff_ms": 0}})
        t = wait_end(d, t["id"])
        assert t["state"] == "succeeded", t
        assert t["attempt"] == 2, t
        assert [x["state"] for x in t["attempts"]] == ["failed",
                                                       "succeeded"], t


def test_timeout_retried_with_cleanup_each_time():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "timeout_ms": 100,
                       "cleanup_ms": 50,
                       "retry": {"max_attempts": 3, "backoff_ms": 10,
                                 "jitter": False}})
        t = wait_end(d, t["id"])
        assert t["state"] == "timed_out", t
        a = t["attempts"]
        assert len(a) == 3 and all(x["state"] == "timed_out" for x in a), a
        for i, x in enumerate(a):
            c = x["cleanup"]
            assert c["state"] == "succeeded", x
            assert ms(c["finished_at"]) - ms(c["started_at"]) >= 45, x
            if i + 1 < len(a):   # the cleanup ends before the next attempt
                assert ms(c["finished_at"]) <= ms(a[i + 1]["started_at"]), a
        assert t["cancellation"]["reason"] == "timeout", t


def test_cancel_during_backoff():
    td = harness.tmpdir()
    log = os.path.join(td, "cleanups")
    fail = script(td, "fail", "exit 1")
    clean = script(td, "clean", 'echo "$EVTASKD_TASK_STARTED" >> %s' % log)
    cfg = jobs_config(td, {"f": {"argv": [fail], "cleanup_argv": [clean],
                                 "retry": {"max_attempts": 5,
                                           "backoff_ms": 60000}}})
    with Daemon("-c", cfg) as d:
        ev = EventStream(d)
        t = create(d, {"kind": "command", "job": "f"})
        s = ev.until_state(t["id"], "scheduled")
        while s["attempt"] != 2:
            s = ev.until_state(t["id"], "scheduled")
        ev.close()
        assert s["started_at"] is None and s["pid"] is None, s
        assert ms(s["start_at"]) - ms(s["attempts"][0]["finished_at"]) >= \
            29000, s     # jitter: 50-100 % of 60 s
        r = d.delete("/v1/tasks/" + t["id"])
        assert r.status == 200, r
        c = r.json()
        assert c["state"] == "cancelled", c
        assert c["cleanup"]["state"] == "succeeded", c
        assert [x["state"] for x in c["attempts"]] == ["failed"], c
        with open(log) as f:
            assert f.read().split() == ["false"]   # once, never started


# -- concurrency keys -----------------------------------------------------------

def test_replace_cancels_holder_cleanup_before_new_start():
    with Daemon() as d:
        old = create(d, {"duration_ms": 60000, "cleanup_ms": 150,
                         "concurrency_key": "deploy-prod"})
        assert old["concurrency_key"] == "deploy-prod", old
        new = create(d, {"duration_ms": 50, "concurrency_key": "deploy-prod",
                         "on_conflict": "replace"})
        assert new["state"] == "scheduled", new
        new = wait_end(d, new["id"])
        old = wait_end(d, old["id"])
        assert old["state"] == "cancelled", old
        assert old["cancellation"]["reason"] == "superseded", old
        assert old["cancellation"]["message"] == new["id"], old
        assert old["cleanup"]["state"] == "succeeded", old
        assert new["state"] == "succeeded", new
        # the order, proven by the times
        assert ms(old["cleanup"]["finished_at"]) <= ms(new["started_at"]), \
            (old, new)
        assert metric(d, "evtaskd_tasks_superseded_total") == 1


def test_reject_409_with_holder():
    with Daemon() as d:
        a = create(d, {"duration_ms": 60000, "concurrency_key": "k"})
        r = post_task(d, {"duration_ms": 10, "concurrency_key": "k",
                          "on_conflict": "reject"}, status=409)
        p = is_problem(r, 409)
        assert p["task"]["id"] == a["id"], p
        d.delete("/v1/tasks/" + a["id"])
        b = create(d, {"duration_ms": 10, "concurrency_key": "k",
                       "on_conflict": "reject"})
        assert wait_end(d, b["id"])["state"] == "succeeded"


def test_queue_fifo_per_key_with_max_concurrent():
    td = harness.tmpdir()
    ok = script(td, "ok", "sleep 0.3")
    cfg = jobs_config(td, {"b": {"argv": [ok, "{target}"],
                                 "args": {"target": {"pattern": "[a-z0-9]+",
                                                     "required": True}},
                                 "concurrency_key": "backup-{target}",
                                 "max_concurrent": 2}})
    with Daemon("-c", cfg) as d:
        ids = [create(d, {"kind": "command", "job": "b",
                          "args": {"target": "db1"}})["id"]
               for _ in range(3)]
        other = create(d, {"kind": "command", "job": "b",
                           "args": {"target": "db2"}})
        assert other["concurrency_key"] == "backup-db2", other
        ts = [wait_end(d, i) for i in ids]
        assert all(t["state"] == "succeeded" for t in ts), ts
        assert all(t["concurrency_key"] == "backup-db1" for t in ts), ts
        for a, b in zip(ts, ts[1:]):     # one at a time, first come first
            assert ms(a["finished_at"]) <= ms(b["started_at"]), (a, b)
        o = wait_end(d, other["id"])
        # another key runs beside them, in the second slot
        assert ms(o["started_at"]) < ms(ts[2]["started_at"]), (o, ts)


def test_bad_retry_and_key_fields_422():
    with Daemon() as d:
        r = post_task(d, {"duration_ms": 1, "retry": {
            "max_attempts": 0, "backoff_ms": -1, "bogus": 1, "jitter": 1},
            "concurrency_key": "", "on_conflict": "sometimes"}, status=422)
        p = is_problem(r, 422)
        got = sorted(e["pointer"] for e in p["errors"])
        assert got == ["/concurrency_key", "/on_conflict", "/retry/backoff_ms",
                       "/retry/bogus", "/retry/jitter",
                       "/retry/max_attempts"], p


if __name__ == "__main__":
    harness.run(globals())
