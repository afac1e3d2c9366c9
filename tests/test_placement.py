"""Placement of command tasks in a cluster on PostgreSQL (CONTRACT §12), on
a private PostgreSQL 15 (tests/pg.py; skipped only where it is not
installed): a command task created on a node whose config lacks its job is
still created (201), stored with no node (`node` null) and waiting
`scheduled`; a node with the job claims it (at start, then every
lease_ms / 3), applies the job's checks and defaults (a task the job
refuses ends failed, result.error saying why) and runs it, keeping a
delayed task's start time. A DELETE of an unclaimed task is done by the
node that receives it; a cancel that no live node can carry out (a dead
node's command, no live node with its job) answers 202 rather than waiting
for ever, and the adopter honours it later."""

import os

import harness
from cluster import Cluster, cleanups, wait_end
from harness import create, eventually, is_problem

LEASE_MS = 1000
GREET = {"argv": ["/bin/echo", "hello", "{who}"],
         "args": {"who": {"pattern": "^[a-z]{1,16}$", "required": True}}}
STRICT = {"argv": ["/bin/true"],
          "args": {"who": {"pattern": "^[a-z]+$", "required": True}},
          "timeout_ms": 5000, "retry": {"max_attempts": 2},
          "concurrency_key": "strict-{who}"}


def config(job, td=None, name="x"):
    """A node's config: no job, or greet and strict (and slow, given td:
    its process writes td/pid-ID, its cleanup appends "ID name reason" to
    td/cleanups)."""
    cfg = {"lease_ms": LEASE_MS, "jobs": {}}
    if job:
        cfg["jobs"] = {"greet": GREET, "strict": STRICT}
    if job and td is not None:
        cfg["jobs"]["slow"] = {
            "argv": ["/bin/sh", "-c", "echo $$ > %s/pid-$EVTASKD_TASK_ID;"
                     " exec sleep 60" % td],
            "cleanup_argv": ["/bin/sh", "-c", 'echo "$EVTASKD_TASK_ID %s'
                             ' $EVTASKD_CANCEL_REASON" >> %s/cleanups'
                             % (name, td)]}
    return cfg


def node_of(c, tid):
    return c.sql("SELECT coalesce(node, '-') FROM tasks WHERE id = '%s'"
                 % tid)


def test_unplaced_task_is_claimed_by_a_node_with_its_job():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "world"}})
        assert t["state"] == "scheduled", t
        assert t["node"] is None, t
        assert t["job"] == "greet" and t["args"] == {"who": "world"}, t
        assert node_of(c, t["id"]) == "-"
        # Read back on a (from the store now): still waiting.
        got = a.get("/v1/tasks/" + t["id"]).json()
        assert got["state"] == "scheduled" and got["node"] is None, got
        listed = a.get("/v1/tasks?kind=command").json()["tasks"]
        assert [x["id"] for x in listed] == [t["id"]], listed
        # b has the job: it claims the task at start and runs it.
        b = c.start_node("b", config=config(True))
        eventually(lambda: node_of(c, t["id"]) == "b", timeout=10)
        done = wait_end(b, t["id"])
        assert done["state"] == "succeeded", done
        assert done["result"]["exit_code"] == 0, done
        assert done["node"] == "b", done
        assert b.get("/v1/tasks/%s/output" % t["id"]).body == \
            b"hello world\n"
        assert wait_end(a, t["id"])["state"] == "succeeded"


def test_claimed_later_by_a_running_node_and_start_time_kept():
    with Cluster(0) as c:
        b = c.start_node("b", config=config(True))
        a = c.start_node("a", config=config(False))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "later"}, "delay_ms": 3000})
        assert t["state"] == "scheduled" and t["start_at"] is not None, t
        # b claims it within a round (lease_ms / 3), not before its time,
        # and stores it again with its name.
        eventually(lambda: node_of(c, t["id"]) == "b", timeout=5)
        now = eventually(lambda: (lambda x: x if x["node"] == "b" else
                                  None)(a.get("/v1/tasks/" + t["id"]).json()))
        assert now["state"] == "scheduled", now
        assert now["start_at"] == t["start_at"], (now, t)
        done = wait_end(b, t["id"])
        assert done["state"] == "succeeded", done
        assert done["started_at"] >= t["start_at"], done


def test_a_node_with_the_job_runs_its_own_task():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(True))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "here"}})
        assert node_of(c, t["id"]) == "a" and t["node"] == "a", t
        assert wait_end(a, t["id"])["state"] == "succeeded"


def test_unplaced_create_checks_what_needs_no_job():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        for body, at in (({"kind": "command"}, "/job"),
                         ({"kind": "command", "job": 7}, "/job"),
                         ({"kind": "command", "job": "greet", "args": [1]},
                          "/args"),
                         ({"kind": "command", "job": "greet",
                           "args": {"who": 1}}, "/args"),
                         ({"kind": "command", "job": "greet",
                           "concurrency_key": "k", "on_conflict": "replace"},
                          "/on_conflict"),
                         ({"kind": "command", "job": "greet",
                           "on_conflict": "reject"}, "/on_conflict")):
            p = is_problem(a.post("/v1/tasks", json=body), 422)
            assert [e["pointer"] for e in p["errors"]] == [at], (body, p)
        assert c.sql("SELECT count(*) FROM tasks") == "0"
        create(a, {"kind": "command", "job": "greet", "args": {"who": "q"},
                   "concurrency_key": "k", "on_conflict": "queue"})
        # A node without the job leaves it unclaimed, also after a restart.
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "nobody"}})
        a.stop()
        a = c.start_node("a", config=config(False))
        assert a.get("/v1/tasks/" + t["id"]).json()["state"] == "scheduled"
        assert node_of(c, t["id"]) == "-"


def test_the_claiming_node_applies_the_jobs_defaults():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        t = create(a, {"kind": "command", "job": "strict",
                       "args": {"who": "ok"}, "delay_ms": 60000})
        assert t["timeout_ms"] is None and t["retry"] is None, t
        assert t["concurrency_key"] is None, t
        c.start_node("b", config=config(True))
        now = eventually(lambda: (lambda x: x if x["node"] == "b" else
                                  None)(a.get("/v1/tasks/" + t["id"]).json()),
                         timeout=10)
        assert now["state"] == "scheduled", now
        assert now["timeout_ms"] == 5000, now
        assert now["concurrency_key"] == "strict-ok", now
        assert now["retry"]["max_attempts"] == 2, now
        # Cancelled through a, which asks b (the owner now).
        r = a.delete("/v1/tasks/" + t["id"])
        assert r.status == 200, r
        assert r.json()["state"] == "cancelled", r.json()
        assert r.json()["cleanup"]["state"] == "succeeded", r.json()


def test_a_task_its_job_refuses_at_claim_ends_failed():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        bad = [({"args": {"who": "BAD"}}, "/args"),
               ({"args": {"other": "x"}}, "/args"),
               ({"args": {"who": "ok"}, "timeout_ms": 10000}, "/timeout_ms"),
               ({"args": {"who": "ok"}, "retry": {"max_attempts": 5}},
                "/retry/max_attempts")]
        ids = []
        for extra, at in bad:
            body = dict({"kind": "command", "job": "strict"}, **extra)
            ids.append((create(a, body)["id"], at))
        c.start_node("b", config=config(True))
        for tid, at in ids:
            t = wait_end(a, tid)
            assert t["state"] == "failed", t
            assert t["node"] == "b", t
            err = t["result"]["error"]
            assert "job 'strict' on this node refuses the task" in err, t
            assert at in err, (at, t)
            assert any(e["pointer"] == at for e in t["result"]["errors"]), t
            assert t["attempt"] == 1, t


def test_delete_of_an_unclaimed_task_is_done_by_the_node_that_gets_it():
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        b = c.start_node("b", config=config(False))
        t = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "gone"}})
        r = a.delete("/v1/tasks/%s?reason=not%%20needed" % t["id"])
        assert r.status == 200, r
        x = r.json()
        assert x["state"] == "cancelled", x
        assert x["started_at"] is None, x
        assert x["cancellation"]["reason"] == "client", x
        assert x["cancellation"]["message"] == "not needed", x
        assert x["cancellation"]["requests"] == 1, x
        assert x["cleanup"]["state"] == "failed", x
        assert "not in this node's config" in x["cleanup"]["detail"], x
        assert x["node"] == "a" and node_of(c, t["id"]) == "a", x
        assert a.delete("/v1/tasks/" + t["id"]).status == 200
        # Through another node without the job, and without waiting.
        u = create(a, {"kind": "command", "job": "greet",
                       "args": {"who": "other"}})
        r = b.delete("/v1/tasks/%s?wait=false" % u["id"])
        assert r.status == 202, r
        assert r.json()["state"] in ("cancelling", "cancelled"), r.json()
        assert wait_end(a, u["id"])["state"] == "cancelled"
        assert node_of(c, u["id"]) == "b"
        # A node with the job that comes later runs neither.
        d = c.start_node("c", config=config(True))
        v = create(d, {"kind": "command", "job": "greet",
                       "args": {"who": "fence"}})
        assert wait_end(d, v["id"])["state"] == "succeeded"
        for tid in (t["id"], u["id"]):
            assert d.get("/v1/tasks/" + tid).json()["state"] == "cancelled"


def test_a_cancel_no_live_node_can_carry_out_answers_202():
    td = harness.tmpdir()
    with Cluster(0) as c:
        a = c.start_node("a", config=config(False))
        b = c.start_node("b", config=config(True, td, "b"))
        t = create(b, {"kind": "command", "job": "slow"})
        eventually(lambda: os.path.exists(os.path.join(td, "pid-" + t["id"])))
        c.kill("b")
        # The owner is dead and no live node has the job: the request is
        # stored for the adopter, and the answer does not wait for it.
        r = a.delete("/v1/tasks/" + t["id"], timeout=30)
        assert r.status == 202, r
        assert r.json()["state"] == "running", r.json()
        assert cleanups(td) == []
        # A node with the job adopts it: the cleanup runs there, once.
        c.start_node("c", config=config(True, td, "c"))
        e = wait_end(a, t["id"])
        assert e["state"] == "cancelled", e
        assert e["cleanup"]["state"] == "succeeded", e
        assert cleanups(td) == [(t["id"], "c", "node_lost")], cleanups(td)


harness.run(globals())
