"""Placement of command tasks in a cluster on PostgreSQL (CONTRACT §12), on
a private PostgreSQL 15 (tests/pg.py; skipped only where it is not
installed): a command task created on a node whose config lacks its job is
still created (201), stored with no node and waiting `scheduled`; a node
with the job claims it (at start, then every lease_ms / 3) and runs it,
keeping a delayed task's start time. Only what needs no job definition is
checked on the creating node."""

import harness
from cluster import Cluster
from harness import create, eventually

LEASE_MS = 1000
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")
JOB = {"argv": ["/bin/echo", "hello", "{who}"],
       "args": {"who": {"pattern": "^[a-z]{1,16}$", "required": True}}}


def config(job):
    cfg = {"lease_ms": LEASE_MS, "jobs": {}}
    if job:
        cfg["jobs"]["greet"] = JOB
    return cfg


def node_of(c, tid):
    return c.sql("SELECT coalesce(node, '-') FROM tasks WHERE id = '%s'"
                 % tid)


def ended(d, tid, timeout=20):
    """The task once it is terminal, polled (from the store on a node that
    does not run it)."""
    def done():
        t = d.get("/v1/tasks/" + tid).json()
        return t if t["state"] in TERMINAL else None
    return eventually(done, timeout=timeout, interval=0.05)


def test_unplaced_task_is_claimed_by_a_node_with_its_job():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "world"}})
        assert t["state"] == "scheduled", t
        assert t["job"] == "greet" and t["args"] == {"who": "world"}, t
        assert node_of(c, t["id"]) == "-"
        # Read back on a (from the store now): still waiting.
        eventually(lambda: a.get("/v1/tasks/" + t["id"]).json()["state"]
                   == "scheduled")
        assert a.get("/v1/tasks/" + t["id"]).json()["id"] == t["id"]
        listed = a.get("/v1/tasks?kind=command").json()["tasks"]
        assert [x["id"] for x in listed] == [t["id"]], listed
        # b has the job: it claims the task at start and runs it.
        b = c.start_node("b", config=config(True))
        eventually(lambda: node_of(c, t["id"]) == "b", timeout=10)
        done = ended(b, t["id"])
        assert done["state"] == "succeeded", done
        assert done["result"]["exit_code"] == 0, done
        assert b.get("/v1/tasks/%s/output" % t["id"]).body == \
            b"hello world\n"
        assert ended(a, t["id"])["state"] == "succeeded"


def test_claimed_later_by_a_running_node_and_start_time_kept():
    with Cluster(0) as c:
        b = c.start_node("b", config=config(True))
        a = c.start_node("a", config=config(False))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "later"}, "delay_ms": 3000})
        assert t["state"] == "scheduled" and t["start_at"] is not None, t
        # b claims it within a round (lease_ms / 3), not before its time.
        eventually(lambda: node_of(c, t["id"]) == "b", timeout=5)
        now = b.get("/v1/tasks/" + t["id"]).json()
        assert now["state"] == "scheduled", now
        assert now["start_at"] == t["start_at"], (now, t)
        done = ended(b, t["id"])
        assert done["state"] == "succeeded", done
        assert done["started_at"] >= t["start_at"], done


def test_a_node_with_the_job_runs_its_own_task():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(True))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "here"}})
        assert node_of(c, t["id"]) == "a"
        assert ended(a, t["id"])["state"] == "succeeded"


def test_unplaced_create_checks_what_needs_no_job():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        for body in ({"kind": "command"},
                     {"kind": "command", "job": 7},
                     {"kind": "command", "job": "greet", "args": [1]},
                     {"kind": "command", "job": "greet",
                      "args": {"who": 1}}):
            r = a.post("/v1/tasks", json=body)
            assert r.status == 422, (body, r.status)
        assert c.sql("SELECT count(*) FROM tasks") == "0"
        # A node without the job leaves it unclaimed, also after a restart.
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "nobody"}})
        a.stop()
        a = c.start_node("a", config=config(False))
        assert a.get("/v1/tasks/" + t["id"]).json()["state"] == "scheduled"
        assert node_of(c, t["id"]) == "-"


harness.run(globals())
