"""max_concurrent and concurrency keys hold across a cluster (CONTRACT §12),
on three nodes sharing a private PostgreSQL 15 (tests/cluster.py; skipped
only where it is not installed): a job with max_concurrent 1 on two nodes
never runs twice at once, whichever node its tasks were created on; a key
with on_conflict queue runs one task at a time across nodes; a create
answers with the cluster's decision (running, or scheduled); a waiter whose
key or job slot is held by a node that dies starts once the adopted
holder ends (a sleep on time, a command node_lost); a cancelled waiter
leaves nothing held; on_conflict reject answers 409 on
any node while a live task anywhere has the key, and of two nodes creating
at once exactly one wins; on_conflict replace cancels the key's tasks on
other nodes (reason superseded) and starts after their cleanups. Times
prove the order: one task's finished_at is at or before the next one's
started_at."""

import datetime
import threading

import harness
from cluster import Cluster
from harness import create, eventually, is_problem, post_task, wait_end

LEASE_MS = 1000


def ms(ts):
    """An RFC 3339 time of the daemon's, in ms since the epoch."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def one_at_a_time(tasks):
    """No two of the tasks ran at once: sorted by start, each one ended
    before the next started."""
    ts = sorted(tasks, key=lambda t: ms(t["started_at"]))
    for a, b in zip(ts, ts[1:]):
        assert ms(a["finished_at"]) <= ms(b["started_at"]), (a, b)


def job_config(max_concurrent=1):
    td = harness.tmpdir()
    work = harness.script(td, "work", "sleep 0.3")
    return {"lease_ms": LEASE_MS,
            "jobs": {"one": {"argv": [work],
                             "max_concurrent": max_concurrent}}}


def nothing_held(c):
    eventually(lambda: c.sql("SELECT count(*) FROM slots") == "0")


def test_max_concurrent_holds_across_nodes():
    with Cluster(3, start=False, lease_ms=LEASE_MS) as c:
        a = c.start_node("a", config=job_config())
        b = c.start_node("b", config=job_config())
        c.start_node("c", config={"lease_ms": LEASE_MS})
        ids = []
        for _ in range(3):
            for d in (a, b):
                ids.append(create(d, {"kind": "command", "job": "one"})["id"])
        # the ones waiting are queued on their node, whichever holds the slot
        queued = sum(d.get("/v1/jobs").json()["jobs"][0]["queued"]
                     for d in (a, b))
        assert queued >= 1, queued
        ts = [wait_end(c.node("c"), i) for i in ids]
        assert all(t["state"] == "succeeded" for t in ts), ts
        assert {t["node"] for t in ts} == {"a", "b"}, ts
        one_at_a_time(ts)
        nothing_held(c)


def test_max_concurrent_two_across_nodes():
    with Cluster(2, start=False, lease_ms=LEASE_MS) as c:
        a = c.start_node("a", config=job_config(2))
        b = c.start_node("b", config=job_config(2))
        ids = [create(d, {"kind": "command", "job": "one"})["id"]
               for d in (a, b, a, b, a, b)]
        ts = [wait_end(a, i) for i in ids]
        assert all(t["state"] == "succeeded" for t in ts), ts
        # at most two at once: at any task's start, fewer than two others run
        for t in ts:
            s = ms(t["started_at"])
            others = [o for o in ts if o is not t and
                      ms(o["started_at"]) <= s < ms(o["finished_at"])]
            assert len(others) <= 1, (t, others)
        nothing_held(c)


def test_key_queue_across_nodes():
    with Cluster(3, lease_ms=LEASE_MS) as c:
        ids = [create(d, {"duration_ms": 300, "concurrency_key": "k"})["id"]
               for d in c.nodes + c.nodes]
        other = create(c.nodes[1], {"duration_ms": 300,
                                    "concurrency_key": "other"})
        ts = [wait_end(c.nodes[0], i) for i in ids]
        assert all(t["state"] == "succeeded" for t in ts), ts
        assert {t["node"] for t in ts} == {"a", "b", "c"}, ts
        one_at_a_time(ts)
        # another key runs beside them
        o = wait_end(c.nodes[1], other["id"])
        assert ms(o["started_at"]) < max(ms(t["started_at"]) for t in ts), o
        nothing_held(c)


def test_create_answers_with_the_clusters_decision():
    with Cluster(3, lease_ms=LEASE_MS) as c:
        a, b, cc = c.nodes
        # the 201 shows what the cluster decided: free, running; held, waiting
        h = create(a, {"duration_ms": 60000, "concurrency_key": "k"})
        assert h["state"] == "running" and h["started_at"] is not None, h
        w = create(b, {"duration_ms": 10, "concurrency_key": "k"})
        assert w["state"] == "scheduled" and w["started_at"] is None, w
        o = create(cc, {"duration_ms": 60000, "concurrency_key": "other"})
        assert o["state"] == "running", o
        for t in (h, o):
            assert a.delete("/v1/tasks/" + t["id"]).status == 200
        assert wait_end(b, w["id"])["state"] == "succeeded"
        nothing_held(c)


def test_cancelled_waiter_leaves_nothing_held():
    with Cluster(2, lease_ms=LEASE_MS) as c:
        a, b = c.nodes
        holder = create(a, {"duration_ms": 60000, "concurrency_key": "k"})
        waiter = create(b, {"duration_ms": 10, "concurrency_key": "k"})
        assert b.get("/v1/tasks/" + waiter["id"]).json()["state"] == \
            "scheduled"
        r = b.delete("/v1/tasks/" + waiter["id"])
        assert r.status == 200 and r.json()["state"] == "cancelled", r
        assert r.json()["started_at"] is None, r.json()
        a.delete("/v1/tasks/" + holder["id"])
        nothing_held(c)
        # and the key is free for the next one, on either node
        t = create(b, {"duration_ms": 10, "concurrency_key": "k"})
        assert wait_end(b, t["id"])["state"] == "succeeded"


def test_dead_holders_key_freed_when_adopted_task_ends():
    with Cluster(3, lease_ms=LEASE_MS) as c:
        a, b, _ = c.nodes
        holder = create(a, {"duration_ms": 3000, "concurrency_key": "k"})
        waiter = create(b, {"duration_ms": 10, "concurrency_key": "k"})
        c.kill("a")
        h = wait_end(b, holder["id"])
        w = wait_end(b, waiter["id"])
        assert h["state"] == "succeeded" and h["node"] != "a", h
        assert w["state"] == "succeeded", w
        one_at_a_time([h, w])
        nothing_held(c)


def test_dead_nodes_job_slot_freed_when_adopted_command_ends():
    td = harness.tmpdir()
    long = harness.script(td, "long", "exec sleep 60")

    def cfg():
        return {"lease_ms": LEASE_MS, "isolation": "process_group",
                "jobs": {"one": {"argv": [long], "max_concurrent": 1}}}
    with Cluster(3, start=False, lease_ms=LEASE_MS) as c:
        a = c.start_node("a", config=cfg())
        b = c.start_node("b", config=cfg())
        c.start_node("c", config=cfg())
        h = create(a, {"kind": "command", "job": "one"})
        assert h["state"] == "running", h
        w = create(b, {"kind": "command", "job": "one"})
        assert w["state"] == "scheduled", w
        c.kill("a")
        h = wait_end(b, h["id"])
        assert h["state"] == "cancelled", h
        assert h["cancellation"]["reason"] == "node_lost", h
        # the slot went with the adopted task's end: the waiter runs
        eventually(lambda: b.get("/v1/tasks/" + w["id"]).json()["state"]
                   == "running")
        got = b.get("/v1/tasks/" + w["id"]).json()
        assert ms(h["finished_at"]) <= ms(got["started_at"]), (h, got)
        assert b.delete("/v1/tasks/" + w["id"]).status == 200
        nothing_held(c)


def test_reject_across_nodes():
    with Cluster(3, lease_ms=LEASE_MS) as c:
        a, b, cc = c.nodes
        h = create(a, {"duration_ms": 60000, "concurrency_key": "k"})
        for d in (b, cc, a):
            r = post_task(d, {"duration_ms": 10, "concurrency_key": "k",
                              "on_conflict": "reject"}, status=409)
            p = is_problem(r, 409)
            assert p["task"]["id"] == h["id"], p
            assert p["task"]["node"] == "a", p
        # a task waiting for its start time elsewhere has the key too
        later = create(cc, {"duration_ms": 10, "delay_ms": 60000,
                            "concurrency_key": "later"})
        p = is_problem(post_task(b, {"duration_ms": 10,
                                     "concurrency_key": "later",
                                     "on_conflict": "reject"}, status=409),
                       409)
        assert p["task"]["id"] == later["id"], p
        # once the holder ended, the key is free on every node
        assert a.delete("/v1/tasks/" + h["id"]).status == 200
        t = create(b, {"duration_ms": 10, "concurrency_key": "k",
                       "on_conflict": "reject"})
        assert wait_end(b, t["id"])["state"] == "succeeded"
        nothing_held(c)


def test_reject_race_between_two_nodes_has_one_winner():
    with Cluster(2, lease_ms=LEASE_MS) as c:
        a, b = c.nodes
        for i in range(5):
            body = {"duration_ms": 60000, "concurrency_key": "race%d" % i,
                    "on_conflict": "reject"}
            go = threading.Barrier(2)
            out = {}

            def post(d):
                go.wait()
                out[d] = d.post("/v1/tasks", json=body)
            ths = [threading.Thread(target=post, args=(d,)) for d in (a, b)]
            for th in ths:
                th.start()
            for th in ths:
                th.join(30)
            codes = sorted(r.status for r in out.values())
            assert codes == [201, 409], out
            won = [r.json() for r in out.values() if r.status == 201][0]
            lost = [r.json() for r in out.values() if r.status == 409][0]
            assert lost["task"]["id"] == won["id"], (won, lost)


def test_replace_across_nodes_after_the_cleanups():
    with Cluster(3, lease_ms=LEASE_MS) as c:
        a, b, cc = c.nodes
        old = create(a, {"duration_ms": 60000, "cleanup_ms": 200,
                         "concurrency_key": "k"})
        queued = create(cc, {"duration_ms": 60000, "concurrency_key": "k"})
        assert queued["state"] == "scheduled", queued
        new = create(b, {"duration_ms": 50, "concurrency_key": "k",
                         "on_conflict": "replace"})
        new = wait_end(b, new["id"])
        old = wait_end(b, old["id"])
        q = wait_end(b, queued["id"])
        assert new["state"] == "succeeded", new
        for t, node in ((old, "a"), (q, "c")):
            assert t["state"] == "cancelled" and t["node"] == node, t
            assert t["cancellation"]["reason"] == "superseded", t
            assert t["cancellation"]["message"] == new["id"], t
        assert old["cleanup"]["state"] == "succeeded", old
        assert q["started_at"] is None, q
        assert ms(old["cleanup"]["finished_at"]) <= ms(new["started_at"]), \
            (old, new)
        nothing_held(c)


if __name__ == "__main__":
    harness.run(globals())
