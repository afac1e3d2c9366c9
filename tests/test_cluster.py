"""Every node serves every task, live (CONTRACT §12), on three nodes sharing
a private PostgreSQL 15 (tests/cluster.py; skipped only where it is not
installed): a task's node, get/list on other nodes, a long-poll on another
node woken by the task's end, a cancel on another node answered after the
owner's cleanup, the event stream with one cluster-wide id sequence, and
Last-Event-ID resumed on another node."""

import json
import threading

import harness
from cluster import Cluster
from harness import EventStream, create, wait_end


def test_node_field_and_get_list_on_every_node():
    with Cluster(3) as c:
        a, b, cc = c.nodes
        t = create(a, {"duration_ms": 60000})
        assert t["node"] == "a", t
        for d in (b, cc):
            got = d.get("/v1/tasks/" + t["id"])
            assert got.status == 200, got
            assert got.json()["node"] == "a" and got.json()["state"] == "running"
            ids = [x["id"] for x in d.get("/v1/tasks").json()["tasks"]]
            assert t["id"] in ids, ids
        assert c.sql("SELECT node FROM tasks WHERE id = '%s'" % t["id"]) == "a"


def test_long_poll_on_another_node_wakes_at_the_end():
    with Cluster(2) as c:
        a, b = c.nodes
        t = create(a, {"duration_ms": 60000, "cleanup_ms": 50})
        out = {}
        th = threading.Thread(target=lambda: out.update(
            r=b.get("/v1/tasks/%s?wait=60" % t["id"], timeout=90)))
        th.start()
        # the waiter is parked on b: the task is still running there
        harness.eventually(lambda: harness.metric(
            b, "evtaskd_http_parked_requests") >= 1)
        assert a.delete("/v1/tasks/" + t["id"]).json()["state"] == "cancelled"
        th.join(30)
        assert not th.is_alive()
        assert out["r"].status == 200 and out["r"].json()["state"] == "cancelled"


def test_long_poll_on_another_node_answers_at_the_limit():
    with Cluster(2) as c:
        a, b = c.nodes
        t = create(a, {"duration_ms": 60000})
        r = b.get("/v1/tasks/%s?wait=0.3" % t["id"])
        assert r.status == 200 and r.json()["state"] == "running", r
        r = b.get("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV?wait=0.3")
        assert r.status == 404, r


def test_cancel_on_another_node_answers_after_the_owners_cleanup():
    with Cluster(3) as c:
        a, b, _ = c.nodes
        t = create(a, {"duration_ms": 60000, "cleanup_ms": 300})
        r = b.delete("/v1/tasks/%s?reason=stop" % t["id"])
        assert r.status == 200, r
        got = r.json()
        assert got["state"] == "cancelled" and got["node"] == "a", got
        assert got["cleanup"]["state"] == "succeeded", got
        assert got["cancellation"]["reason"] == "client"
        assert got["cancellation"]["message"] == "stop"
        # done on a: a's memory says so too, and the request left the table
        assert a.get("/v1/tasks/" + t["id"]).json()["state"] == "cancelled"
        assert c.sql("SELECT count(*) FROM cancels") == "0"
        # a terminal task: 200 again for a cancelled one, 409 otherwise
        assert b.delete("/v1/tasks/" + t["id"]).status == 200
        done = create(a, {"duration_ms": 0})
        wait_end(a, done["id"])
        r = b.delete("/v1/tasks/" + done["id"])
        assert r.status == 409 and r.json()["task"]["state"] == "succeeded", r


def test_cancel_on_another_node_without_waiting():
    with Cluster(2) as c:
        a, b = c.nodes
        t = create(a, {"duration_ms": 60000, "cleanup_ms": 100})
        r = b.delete("/v1/tasks/%s?wait=false" % t["id"])
        assert r.status == 202, r
        assert wait_end(b, t["id"])["state"] == "cancelled"


def test_events_on_another_node_with_one_id_sequence():
    with Cluster(3) as c:
        a, b, cc = c.nodes
        s = EventStream(b)
        t = create(a, {"duration_ms": 0})
        u = create(cc, {"duration_ms": 0})
        seen = {}
        last = 0
        while len(seen) < 2 or not all(x == "succeeded" for x in seen.values()):
            e = s.next_event()
            assert e["event"] == "task", e
            assert int(e["id"]) > last, (e["id"], last)
            last = int(e["id"])
            data = json.loads(e["data"])
            seen[data["id"]] = data["state"]
            assert data["node"] == ("a" if data["id"] == t["id"] else "c")
        assert set(seen) == {t["id"], u["id"]}
        s.close()
        assert c.sql("SELECT max(seq) FROM events") == str(last)


def test_last_event_id_resumes_on_another_node():
    with Cluster(3) as c:
        a, _, cc = c.nodes
        s = EventStream(a)
        first = create(a, {"duration_ms": 60000})
        e = s.next_event()
        assert json.loads(e["data"])["id"] == first["id"]
        s.close()
        more = [create(a, {"duration_ms": 0})["id"] for _ in range(3)]
        for tid in more:
            wait_end(a, tid)
        want = c.sql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events"
                     " WHERE seq > %s" % e["id"]).split(",")
        r = EventStream(cc, last_id=e["id"])
        got = [r.next_event() for _ in want]
        assert [g["id"] for g in got] == want, (got, want)
        assert all(g["event"] == "task" for g in got)
        r.close()
        # too old to replay: reset, as on one node
        r = EventStream(cc, last_id="not-a-number")
        assert r.next_event()["event"] == "reset"
        r.close()


harness.run(globals())
