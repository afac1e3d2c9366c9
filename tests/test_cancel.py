"""Cancellation: every row of the contract's cancel table, the asyncio seed
scenario, joined cancels, timeouts, and cleanup exactly once under races."""

import threading
import time

import harness
from harness import Daemon, EventStream, create, is_problem, metric, wait_end


def test_seed_scenario_cancel_after_one_second():
    """asyncio: create a 5 s task, cancel it after 1 s: cancelled, cleanup
    succeeded, answered in about a second."""
    with Daemon() as d:
        t0 = time.monotonic()
        t = create(d, {"duration_ms": 5000, "name": "seed"})
        time.sleep(1)       # the scenario itself: the client cancels after 1 s
        r = d.delete("/v1/tasks/" + t["id"])
        took = time.monotonic() - t0
        assert r.status == 200, r
        c = r.json()
        assert c["state"] == "cancelled"
        assert c["cleanup"]["state"] == "succeeded"
        assert c["cancellation"]["reason"] == "client"
        assert c["cancellation"]["requests"] == 1
        assert c["started_at"] is not None and c["finished_at"] is not None
        assert 0.9 < took < 3, took


def test_cancel_running():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        r = d.delete("/v1/tasks/%s?reason=no%%20longer%%20needed" % t["id"])
        assert r.status == 200
        c = r.json()
        assert c["state"] == "cancelled"
        assert c["cancellation"]["message"] == "no longer needed"
        assert c["cleanup"]["state"] == "succeeded"
        assert c["cleanup"]["started_at"] and c["cleanup"]["finished_at"]
        g = d.get("/v1/tasks/" + t["id"]).json()
        assert g == c, (g, c)


def test_cancel_scheduled_runs_cleanup_never_starts():
    with Daemon() as d:
        t = create(d, {"duration_ms": 10, "delay_ms": 60000})
        r = d.delete("/v1/tasks/" + t["id"])
        c = r.json()
        assert r.status == 200 and c["state"] == "cancelled"
        assert c["started_at"] is None
        assert c["cleanup"]["state"] == "succeeded"
        assert metric(d, "evtaskd_cleanups_total",
                      'kind="sleep",outcome="succeeded"') == 1


def test_cancel_cancelling_joins():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "cleanup_ms": 400})
        out = []

        def cancel(reason):
            r = d.delete("/v1/tasks/%s?reason=%s" % (t["id"], reason))
            out.append(r)
        events = EventStream(d, "?task=" + t["id"])
        first = threading.Thread(target=cancel, args=("first",))
        first.start()
        # The first request is in: the task is cancelling.
        events.until_state(t["id"], "cancelling")
        events.close()
        second = threading.Thread(target=cancel, args=("second",))
        second.start()
        first.join()
        second.join()
        assert [r.status for r in out] == [200, 200], out
        for r in out:
            c = r.json()
            assert c["state"] == "cancelled"
            assert c["cancellation"]["requests"] == 2, c
            assert c["cancellation"]["message"] == "first", c
        assert metric(d, "evtaskd_cleanups_total",
                      'kind="sleep",outcome="succeeded"') == 1


def test_cancelling_visible_with_slow_cleanup():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "cleanup_ms": 500})
        r = d.delete("/v1/tasks/%s?wait=false" % t["id"])
        assert r.status == 202, r
        c = r.json()
        assert c["state"] == "cancelling"
        assert c["cleanup"]["state"] == "running" and c["cleanup"]["finished_at"] is None
        g = d.get("/v1/tasks/" + t["id"]).json()
        assert g["state"] == "cancelling"
        f = wait_end(d, t["id"])
        assert f["state"] == "cancelled" and f["cleanup"]["state"] == "succeeded"


def test_cancel_wait_false_already_done_cleanup():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        r = d.delete("/v1/tasks/%s?wait=false" % t["id"])
        assert r.status == 202 and r.json()["state"] in ("cancelling", "cancelled")


def test_cancel_cancelled_is_idempotent():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        a = d.delete("/v1/tasks/" + t["id"]).json()
        b = d.delete("/v1/tasks/" + t["id"])
        assert b.status == 200 and b.json() == a
        assert b.json()["cancellation"]["requests"] == 1


def test_cancel_succeeded_409_with_task():
    with Daemon() as d:
        t = create(d, {"duration_ms": 0})
        wait_end(d, t["id"])
        p = is_problem(d.delete("/v1/tasks/" + t["id"]), 409)
        assert p["task"]["id"] == t["id"] and p["task"]["state"] == "succeeded"
        assert p["task"]["cleanup"] is None


def test_timeout_ends_timed_out_with_cleanup():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "timeout_ms": 100, "cleanup_ms": 50})
        f = wait_end(d, t["id"])
        assert f["state"] == "timed_out", f
        assert f["cancellation"]["reason"] == "timeout"
        assert f["cleanup"]["state"] == "succeeded"
        p = is_problem(d.delete("/v1/tasks/" + t["id"]), 409)
        assert p["task"]["state"] == "timed_out"


def test_timeout_counts_from_start():
    with Daemon() as d:
        t = create(d, {"duration_ms": 50, "delay_ms": 200, "timeout_ms": 150})
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded", f


def test_cancel_unknown_404():
    with Daemon() as d:
        is_problem(d.delete("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_cancel_bad_query_400():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        is_problem(d.delete("/v1/tasks/%s?wait=maybe" % t["id"]), 400)
        is_problem(d.delete("/v1/tasks/%s?reson=x" % t["id"]), 400)
        is_problem(d.delete("/v1/tasks/%s?reason=%s" % (t["id"], "x" * 1025)), 400)
        is_problem(d.delete("/v1/tasks/%s?reason=%%ff%%fe" % t["id"]), 400)
        p = is_problem(d.get("/v1/tasks/%ff%fe"), 404)    # quoted, made UTF-8
        assert "\ufffd" in p["detail"], p


def test_cancel_client_leaving_does_not_stop_cleanup():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "cleanup_ms": 300})
        d.raw(("DELETE /v1/tasks/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t["id"]).encode(),
              read=False)
        f = wait_end(d, t["id"])
        assert f["state"] == "cancelled", f
        assert d.get("/healthz").status == 200


def test_cleanup_exactly_once_under_deadline_races():
    """1000 tasks cancelled right at their deadline: each ends either
    succeeded (the cancel got 409) or cancelled with one cleanup."""
    with Daemon("--log-level", "warn") as d:
        outcomes = {}
        lock = threading.Lock()

        def worker(k):
            c = d.connection()
            for i in range(250):
                # Every third task is long: its cancel surely wins (so the
                # count below is never 0 on a slow run, under valgrind);
                # the others end within 3 ms, racing their cancel.
                dur = 60000 if i % 3 == 0 else (i * 7 + k) % 4
                r = d.request("POST", "/v1/tasks", json={"duration_ms": dur}, conn=c)
                tid = r.json()["id"]
                if i % 3:
                    # The thing under test: cancel right at the deadline,
                    # racing the task's own end.
                    time.sleep(dur / 1000.0)
                r = d.request("DELETE", "/v1/tasks/" + tid, conn=c)
                with lock:
                    outcomes[tid] = r
            c.close()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(outcomes) == 1000
        cancelled = 0
        for tid, r in outcomes.items():
            if r.status == 200:
                t = r.json()
                assert t["state"] == "cancelled", t
                assert t["cleanup"]["state"] == "succeeded", t
                cancelled += 1
            else:
                assert r.status == 409, r
                assert r.json()["task"]["state"] == "succeeded"
                assert r.json()["task"]["cleanup"] is None
        assert 0 < cancelled < 1000, cancelled
        assert metric(d, "evtaskd_cleanups_total",
                      'kind="sleep",outcome="succeeded"') == cancelled
        assert metric(d, "evtaskd_tasks_finished_total",
                      'kind="sleep",state="cancelled"') == cancelled
        assert metric(d, "evtaskd_tasks_finished_total",
                      'kind="sleep",state="succeeded"') == 1000 - cancelled


harness.run(globals())
