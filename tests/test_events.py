"""The event stream: one event per state change, increasing ids, the
?task= filter, Last-Event-ID resume and reset, heartbeats, slow readers."""

import json
import time

import harness
from harness import Daemon, EventStream, create, is_problem, metric, wait_end


def test_events_for_each_state_change():
    with Daemon() as d:
        s = EventStream(d)
        assert s.status == 200
        assert s.headers["content-type"] == "text/event-stream", s.headers
        t = create(d, {"duration_ms": 50, "delay_ms": 50})
        got = []
        for _ in range(3):
            e = s.next_event()
            assert e["event"] == "task"
            data = json.loads(e["data"])
            assert data["id"] == t["id"]
            got.append((int(e["id"]), data["state"]))
        assert [st for _, st in got] == ["scheduled", "running", "succeeded"], got
        ids = [i for i, _ in got]
        assert ids == sorted(ids) and len(set(ids)) == 3
        s.close()


def test_cancel_events():
    with Daemon() as d:
        s = EventStream(d)
        t = create(d, {"duration_ms": 60000, "cleanup_ms": 10})
        d.delete("/v1/tasks/" + t["id"])
        states = [json.loads(s.next_event()["data"])["state"] for _ in range(4)]
        assert states == ["scheduled", "running", "cancelling", "cancelled"], states
        s.close()


def test_task_filter():
    with Daemon() as d:
        a = create(d, {"duration_ms": 60000})
        s = EventStream(d, "?task=" + a["id"])
        create(d, {"duration_ms": 0})
        d.delete("/v1/tasks/" + a["id"])
        for want in ("cancelling", "cancelled"):
            e = json.loads(s.next_event()["data"])
            assert e["id"] == a["id"] and e["state"] == want, e
        s.close()
        is_problem(d.get("/v1/events?task=01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
        is_problem(d.get("/v1/events?task=junk"), 400)
        is_problem(d.get("/v1/events?tsak=1"), 400)


def test_resume_with_last_event_id():
    with Daemon() as d:
        s = EventStream(d)
        create(d, {"duration_ms": 60000})
        first = s.next_event()
        s.close()
        t2 = create(d, {"duration_ms": 0})
        wait_end(d, t2["id"])
        r = EventStream(d, last_id=first["id"])
        e = r.next_event()      # the first task's "running"
        assert int(e["id"]) == int(first["id"]) + 1, (e, first)
        states = [json.loads(r.next_event()["data"])["state"] for _ in range(3)]
        assert states == ["scheduled", "running", "succeeded"], states
        r.close()


def test_resume_too_old_sends_reset():
    # On PostgreSQL the ids are the events table's seqs: on a fresh database
    # id 1 is not too old (test_cluster.py tests a reset there).
    harness.skip_under_pg("event ids are the events table's seqs")
    with Daemon() as d:
        s = EventStream(d, last_id="1")
        e = s.next_event()
        assert e["event"] == "reset", e
        s.close()
        s = EventStream(d, last_id="not-a-number")
        assert s.next_event()["event"] == "reset"
        s.close()


def test_ids_increase_across_restarts():
    # The pg suite gives each daemon a fresh database; on one database the
    # ids are its events' seqs, which only grow.
    harness.skip_under_pg("each daemon has a fresh database here")
    d = Daemon()
    s = EventStream(d)
    create(d, {"duration_ms": 0})
    a = int(s.next_event()["id"])
    s.close()
    assert d.stop() == 0
    d = Daemon()
    s = EventStream(d)
    create(d, {"duration_ms": 0})
    b = int(s.next_event()["id"])
    s.close()
    assert d.stop() == 0
    assert b > a, (a, b)


def test_heartbeat_comment_within_15s():
    with Daemon() as d:
        s = EventStream(d)
        assert s.next().get("comment")          # the greeting
        t0 = time.monotonic()
        m = s.next()
        assert m.get("comment") == "keep-alive", m
        assert time.monotonic() - t0 <= 16 * harness.SLOW
        s.close()


def test_slow_subscriber_is_dropped():
    with Daemon() as d:
        s = EventStream(d, rcvbuf=4096)      # never reads from here on
        c = d.connection()
        for _ in range(5000):
            d.request("POST", "/v1/tasks", json={"duration_ms": 0,
                      "metadata": {"pad": "x" * 200}}, conn=c)
        c.close()
        d.wait_log("subscriber fell .* behind; dropped", timeout=30)
        assert d.get("/healthz").status == 200
        s.close()


def test_many_subscribers_and_disconnects():
    with Daemon() as d:
        streams = [EventStream(d) for _ in range(20)]
        for st in streams[:10]:
            st.close()
        create(d, {"duration_ms": 0})
        for st in streams[10:]:
            assert json.loads(st.next_event()["data"])["state"] == "scheduled"
            st.close()
        assert d.get("/healthz").status == 200


def test_subscriber_reset_is_released():
    """A client that resets its connection (unread data: RST, not FIN) is
    released like one that closes."""
    with Daemon() as d:
        for _ in range(30):
            s = EventStream(d)      # the greeting stays unread: close sends RST
            s.close()
        harness.eventually(lambda: metric(d, "evtaskd_event_subscribers") == 0)


harness.run(globals())
