"""Durability: what was acknowledged survives SIGKILL; recovery keeps start
times and deadlines and re-runs cleanups; shutdown keeps what can resume;
a bad store is refused with a clear message."""

import os
import random
import signal
import sqlite3
import threading
import time

import harness
from harness import Daemon, create, run_daemon, wait_end


def durable(state_dir, *args):
    return Daemon("-d", state_dir, *args)


def test_state_dir_created_and_store_file():
    base = harness.tmpdir()
    sd = os.path.join(base, "a", "b")
    with durable(sd) as d:
        create(d, {"duration_ms": 60000})
    assert os.path.exists(os.path.join(sd, "evtaskd.db"))


def test_sigterm_keeps_sleep_tasks_and_their_times():
    sd = harness.tmpdir()
    with durable(sd) as d:
        run = create(d, {"duration_ms": 60000, "name": "r", "metadata": {"k": [1]}})
        sch = create(d, {"duration_ms": 10, "delay_ms": 60000})
        can = create(d, {"duration_ms": 60000})
        cancelled = d.delete("/v1/tasks/" + can["id"]).json()
    with durable(sd) as d:
        d.wait_log("recovered 2 tasks: 1 scheduled, 1 running")
        r = d.get("/v1/tasks/" + run["id"]).json()
        assert r["state"] == "running" and r["started_at"] == run["started_at"], r
        assert r["metadata"] == {"k": [1]} and r["name"] == "r"
        s = d.get("/v1/tasks/" + sch["id"]).json()
        assert s["state"] == "scheduled" and s["start_at"] == sch["start_at"]
        assert d.get("/v1/tasks/" + can["id"]).json() == cancelled
        # and they still work: cancel the recovered ones
        assert d.delete("/v1/tasks/" + run["id"]).json()["state"] == "cancelled"
        assert d.delete("/v1/tasks/" + sch["id"]).json()["state"] == "cancelled"


def test_deadline_kept_across_kill():
    sd = harness.tmpdir()
    d = durable(sd)
    t = create(d, {"duration_ms": 1500})
    d.kill()
    with durable(sd) as d:
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded", f
        assert f["started_at"] == t["started_at"]
        ms = lambda s: time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])
        took = ms(f["finished_at"]) - ms(f["started_at"])
        assert 1500 <= took < 2500, took


def test_passed_deadline_succeeds_at_once():
    sd = harness.tmpdir()
    d = durable(sd)
    t = create(d, {"duration_ms": 200})
    d.kill()
    # The scenario itself: the daemon stays down past the task's deadline
    # (200 ms), so there is nothing to await but time.
    time.sleep(0.4)
    with durable(sd) as d:
        f = d.get("/v1/tasks/%s" % t["id"]).json()
        assert f["state"] == "succeeded", f


def test_scheduled_start_kept_across_kill():
    sd = harness.tmpdir()
    d = durable(sd)
    t = create(d, {"duration_ms": 0, "delay_ms": 800})
    d.kill()
    with durable(sd) as d:
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded"
        assert f["started_at"] >= t["start_at"], (f, t)


def test_cancelling_at_crash_runs_cleanup_again():
    sd = harness.tmpdir()
    d = durable(sd)
    t = create(d, {"duration_ms": 60000, "cleanup_ms": 1500})
    r = d.delete("/v1/tasks/%s?wait=false" % t["id"])
    assert r.status == 202 and r.json()["state"] == "cancelling"
    first = r.json()["cleanup"]["started_at"]
    d.kill()
    with durable(sd) as d:
        d.wait_log("1 cancelling")
        g = d.get("/v1/tasks/" + t["id"]).json()
        assert g["state"] == "cancelling" and g["cleanup"]["state"] == "running"
        assert g["cleanup"]["started_at"] > first, (g, first)
        f = wait_end(d, t["id"])
        assert f["state"] == "cancelled" and f["cleanup"]["state"] == "succeeded"
        assert f["cancellation"]["reason"] == "client"


def test_ids_monotonic_after_restart():
    sd = harness.tmpdir()
    with durable(sd) as d:
        a = create(d, {"duration_ms": 0})["id"]
    with durable(sd) as d:
        b = create(d, {"duration_ms": 0})["id"]
    assert b > a


def test_newer_schema_refused():
    sd = harness.tmpdir()
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    code, _, err = run_daemon("-d", sd, "-l", "127.0.0.1:0")
    assert code == 1, (code, err)
    assert "schema version 99" in err and "newer" in err, err


def test_corrupt_store_refused():
    sd = harness.tmpdir()
    with open(os.path.join(sd, "evtaskd.db"), "wb") as f:
        f.write(b"this is not a database" * 1000)
    code, _, err = run_daemon("-d", sd, "-l", "127.0.0.1:0")
    assert code == 1, (code, err)
    assert "evtaskd.db" in err and "not a database" in err, err


def test_unwritable_state_dir_refused():
    if os.geteuid() == 0:
        path = "/proc/evtaskd-no"          # not even root can mkdir here
    else:
        path = "/evtaskd-no-such-dir/x"
    code, _, err = run_daemon("-d", path, "-l", "127.0.0.1:0")
    assert code == 1 and "state directory" in err, (code, err)


def test_second_daemon_on_same_store_refused():
    sd = harness.tmpdir()
    with durable(sd) as d:
        create(d, {"duration_ms": 0})
        code, _, err = run_daemon("-d", sd, "-l", "127.0.0.1:0")
        assert code == 1, (code, err)
        assert "locked" in err or "busy" in err, err


def test_stopping_refuses_new_work_503():
    sd = harness.tmpdir()
    d = durable(sd)
    t = create(d, {"duration_ms": 60000, "cleanup_ms": 800})
    d.delete("/v1/tasks/%s?wait=false" % t["id"])
    d.send_signal(signal.SIGTERM)
    d.wait_log("received SIGTERM")
    r = d.post("/v1/tasks", json={"duration_ms": 1})
    assert r.status == 503 and r.headers.get("retry-after"), r
    assert d.get("/v1/tasks/" + t["id"]).status == 200
    assert d.stop(sig=None) == 0        # exits once the cleanup is done
    d.wait_log("stopped")
    with durable(sd) as d2:
        assert d2.get("/v1/tasks/" + t["id"]).json()["state"] == "cancelled"


def test_crash_loses_nothing_acknowledged():
    """Concurrent clients create and cancel while the daemon is killed at
    random moments, several rounds: every 2xx is found in the right state."""
    sd = harness.tmpdir()
    rng = random.Random(1234)
    created = {}            # id -> the 201 body
    cancelled = set()       # ids whose DELETE answered 200 cancelled
    cancelling = set()      # ids whose DELETE answered 202
    lock = threading.Lock()
    for rnd in range(6):
        d = durable(sd, "--log-level", "warn")
        stop = threading.Event()

        def client(seed):
            r = random.Random(seed)
            try:
                c = d.connection(timeout=5)
                while not stop.is_set():
                    body = {"duration_ms": 600000}
                    if r.random() < 0.3:
                        body["delay_ms"] = 600000
                    resp = d.request("POST", "/v1/tasks", json=body, conn=c)
                    if resp.status != 201:
                        continue
                    t = resp.json()
                    with lock:
                        created[t["id"]] = t
                    if r.random() < 0.4:
                        q = "" if r.random() < 0.5 else "?wait=false"
                        resp = d.request("DELETE", "/v1/tasks/" + t["id"] + q, conn=c)
                        with lock:
                            if resp.status == 200:
                                assert resp.json()["state"] == "cancelled"
                                cancelled.add(t["id"])
                            elif resp.status == 202:
                                cancelling.add(t["id"])
            except Exception:
                pass            # the daemon died under us: expected
        threads = [threading.Thread(target=client, args=(rnd * 10 + k,))
                   for k in range(4)]
        for th in threads:
            th.start()
        # The thing under test: SIGKILL at a random moment of the load.
        time.sleep(rng.uniform(0.2, 0.6))
        d.kill()
        stop.set()
        for th in threads:
            th.join()
        # Restart and check everything acknowledged so far.
        with durable(sd, "--log-level", "warn") as d:
            c = d.connection()
            for tid, t in created.items():
                r = d.request("GET", "/v1/tasks/" + tid, conn=c)
                assert r.status == 200, ("lost", tid, r)
                state = r.json()["state"]
                if tid in cancelled:
                    assert state == "cancelled", (tid, state)
                elif tid in cancelling:
                    assert state in ("cancelling", "cancelled"), (tid, state)
                else:
                    assert state in ("scheduled", "running", "cancelling",
                                     "cancelled"), (tid, state)
            c.close()
    assert len(created) > 100, len(created)
    assert cancelled and cancelling


harness.run(globals())
