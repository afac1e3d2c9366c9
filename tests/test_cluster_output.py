"""A command's output on every node of a cluster (CONTRACT §7 and §12), on a
private PostgreSQL 15 (tests/cluster.py; skipped only where it is not
installed): the node that runs a command copies its output into the shared
store, so another node serves it with offsets and the cap, follows it live
(its stream ends when the task ends, with every byte), serves the cleanup's
output, and still serves a finished task's output once the node that ran it
has stopped or died (a follow on another node outlives it); the rows go
with the task when it is purged, and an older database gets the table at
start."""

import harness
from cluster import Cluster
from harness import create, eventually, script, wait_end

# Prints a line, waits for the test's go file, then 3 000 lines (about
# 50 KiB: several loop passes, rows of their own) and a last one.
GATED = """echo first
while [ ! -e @D@/go-$EVTASKD_TASK_ID ]; do sleep 0.02; done
i=0; while [ $i -lt 3000 ]; do echo "line $i of the output"; i=$((i+1)); done
echo last
"""


def jobs(td):
    return {"jobs": {
        "gated": {"argv": [script(td, "gated.sh", GATED)],
                  "cleanup_argv": ["/bin/echo", "cleaned up"]},
        "hello": {"argv": ["/bin/sh", "-c", "echo hello; echo world"]},
        # 1 000 000 bytes through a 256 KiB cap: rows past it are dropped
        "lots": {"argv": ["/usr/bin/seq", "-f", "%09g", "1", "100000"],
                 "max_output_bytes": 262144},
    }}


def follow(d, tid, query=""):
    """GET .../output?follow=true on d; (connection, response), headers read."""
    c = d.connection(timeout=60)
    c.request("GET", "/v1/tasks/%s/output?follow=true%s" % (tid, query))
    return c, c.getresponse()


def output(d, tid, query=""):
    r = d.get("/v1/tasks/%s/output%s" % (tid, query))
    assert r.status == 200, r
    return r


def test_follow_and_offsets_on_another_node():
    td = harness.tmpdir()
    with Cluster(2, config=jobs(td)) as c:
        a, b = c.nodes
        t = create(a, {"kind": "command", "job": "gated"})
        assert t["node"] == "a", t
        conn, r = follow(b, t["id"])
        assert r.status == 200, r.status
        assert r.getheader("Evtaskd-Output-Start") == "0"
        assert r.getheader("Content-Type").startswith("text/plain")
        # the first line comes through b while the task still runs on a
        assert r.readline() == b"first\n"
        assert b.get("/v1/tasks/" + t["id"]).json()["state"] == "running"
        harness.write_file(td, "go-" + t["id"], "")
        rest = r.read()			# ends when the task ends
        conn.close()
        done = wait_end(a, t["id"])
        assert done["state"] == "succeeded", done
        whole = output(a, t["id"]).body	# a's own file
        assert b"first\n" + rest == whole, (len(rest), len(whole))
        assert whole.endswith(b"line 2999 of the output\nlast\n")
        assert done["result"]["output_bytes"] == len(whole)
        # offsets on b, as on a
        r = output(b, t["id"], "?offset=6")
        assert r.body == whole[6:] and r.headers["evtaskd-output-start"] == "6"
        r = output(b, t["id"], "?offset=%d" % (len(whole) - 5))
        assert r.body == b"last\n"
        r = output(b, t["id"], "?offset=%d" % (len(whole) + 10))
        assert r.body == b"", r
        assert r.headers["evtaskd-output-start"] == str(len(whole) + 10)
        # a follow of a finished task ends at once with every byte
        r = output(b, t["id"], "?follow=true&offset=6")
        assert r.body == whole[6:]
        assert int(c.sql("SELECT count(*) FROM output WHERE task_id = '%s'"
                         % t["id"])) >= 2


def test_cap_cleanup_and_a_follow_that_ends_with_a_cancel():
    td = harness.tmpdir()
    with Cluster(2, config=jobs(td)) as c:
        a, b = c.nodes
        t = create(a, {"kind": "command", "job": "lots"})
        done = wait_end(a, t["id"])
        assert done["result"]["output_bytes"] == 1000000, done
        r = output(b, t["id"])
        assert r.headers["evtaskd-output-start"] == str(1000000 - 262144)
        assert len(r.body) == 262144 and r.body.endswith(b"000100000\n")
        assert r.body == output(a, t["id"]).body
        r = output(b, t["id"], "?offset=999990")
        assert r.body == b"000100000\n"
        # the table keeps about the cap, not every byte ever written
        kept = int(c.sql("SELECT sum(length(data)) FROM output WHERE"
                         " task_id = '%s'" % t["id"]))
        assert 262144 <= kept < 262144 + 512 * 1024, kept
        # a follower on b of a task a runs ends when b cancels it
        g = create(a, {"kind": "command", "job": "gated"})
        conn, r = follow(b, g["id"])
        assert r.readline() == b"first\n"
        assert b.delete("/v1/tasks/" + g["id"]).json()["state"] == "cancelled"
        assert r.read() == b""
        conn.close()
        r = output(b, g["id"], "?stream=cleanup&follow=true")
        assert r.body == b"cleaned up\n", r


def test_output_of_a_finished_task_from_a_stopped_node():
    td = harness.tmpdir()
    with Cluster(2, config=jobs(td)) as c:
        a, b = c.nodes
        t = create(a, {"kind": "command", "job": "hello"})
        s = create(a, {"duration_ms": 0})
        wait_end(a, t["id"])
        wait_end(a, s["id"])
        a.stop()
        r = output(b, t["id"])
        assert r.body == b"hello\nworld\n" and \
            r.headers["evtaskd-output-start"] == "0"
        assert output(b, t["id"], "?offset=6&follow=true").body == b"world\n"
        assert output(b, t["id"], "?stream=cleanup").body == b""
        assert output(b, s["id"], "?follow=true").body == b""
        assert b.get("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/output").status == 404


def test_a_follow_outlives_the_node_that_ran_the_task():
    td = harness.tmpdir()
    with Cluster(2, config=jobs(td)) as c:
        a, b = c.nodes
        t = create(a, {"kind": "command", "job": "gated"})
        conn, r = follow(b, t["id"])
        assert r.readline() == b"first\n"
        c.kill("a")
        # b adopts the task (node_lost), runs its cleanup, and the follow
        # ends with the task
        assert r.read() == b""
        conn.close()
        done = wait_end(b, t["id"])
        assert done["node"] == "b" and done["state"] == "cancelled", done
        assert done["cancellation"]["reason"] == "node_lost", done
        # b serves what a wrote, and the cleanup it ran itself
        assert output(b, t["id"]).body == b"first\n"
        assert output(b, t["id"], "?stream=cleanup").body == b"cleaned up\n"


def test_rows_go_with_their_task():
    td = harness.tmpdir()
    config = jobs(td)
    config["retention_s"] = 0
    with Cluster(1, config=config) as c:
        a = c.nodes[0]
        kept = create(a, {"kind": "command", "job": "gated"})
        gone = create(a, {"kind": "command", "job": "hello"})
        wait_end(a, gone["id"])
        eventually(lambda: a.get("/v1/tasks/" + gone["id"]).status == 404)
        assert c.sql("SELECT count(*) FROM output WHERE task_id = '%s'"
                     % gone["id"]) == "0"
        # a running task's rows stay
        eventually(lambda: c.sql("SELECT count(*) FROM output WHERE"
                                 " task_id = '%s'" % kept["id"]) != "0")
        harness.write_file(td, "go-" + kept["id"], "")
        wait_end(a, kept["id"])


def test_a_version_3_database_gets_the_output_table():
    with Cluster(1, start=False) as c:
        a = c.start_node("a")
        a.stop()
        c.sql("DROP TABLE output; UPDATE meta SET value = '3'"
              " WHERE key = 'schema_version'")
        a = c.start_node("a")
        a.wait_log("schema version 3 upgraded to 4")
        assert c.sql("SELECT value FROM meta WHERE key = 'schema_version'") == "4"
        assert c.sql("SELECT to_regclass('output') IS NOT NULL") == "t"


if __name__ == "__main__":
    harness.run(globals())
