"""Command tasks you can watch and that stop for real (CONTRACT §7): live
output with offsets and a cap, the cleanup's output, output across a
restart; every process of a cancelled task gone (cgroup or process group),
the kill receipt, the cleanup after the last process."""

import http.client
import os
import re
import socket
import time

import harness
from harness import (Daemon, create, is_problem, script, wait_end,
                     wait_file, write_json)

UNIFIED = None


def cgroup_mount():
    """The cgroup2 mount point from /proc/self/mountinfo, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if " - cgroup2 " in line:
                return line.split()[4]
    return None


def cgroup_writable():
    m = cgroup_mount()
    return m is not None and os.access(m, os.W_OK)


def config(d, jobs, **top):
    doc = dict(top)
    doc["jobs"] = jobs
    return write_json(d, "evtaskd.json", doc)


def start(td, jobs, *args, **top):
    return Daemon("-c", config(td, jobs, **top), *args)


def processes_of(tid):
    """Pids of live processes whose environment names the task."""
    needle = ("EVTASKD_TASK_ID=" + tid).encode()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % p, "rb") as f:
                env = f.read()
            with open("/proc/%s/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z":
            pids.append(int(p))
    return pids


def follow(d, tid, query=""):
    """Open GET .../output?follow=true; the HTTP response, headers read."""
    c = d.connection(timeout=30)
    c.request("GET", "/v1/tasks/%s/output?follow=true%s" % (tid, query))
    return c, c.getresponse()


TICKER = 'i=0; while [ $i -lt 15 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done\n'


def test_follow_streams_while_running():
    td = harness.tmpdir()
    job = script(td, "ticker.sh", TICKER)
    with start(td, {"ticker": {"argv": [job]}}) as d:
        t = create(d, {"kind": "command", "job": "ticker"})
        c, r = follow(d, t["id"])
        assert r.status == 200 and r.getheader("Evtaskd-Output-Start") == "0"
        assert r.getheader("Content-Type").startswith("text/plain")
        first = r.readline()
        assert first == b"line 0\n", first
        # The first line came while the job still runs, not at the end.
        assert d.get("/v1/tasks/" + t["id"]).json()["state"] == "running"
        rest = r.read()
        c.close()
        lines = (first + rest).decode().splitlines()
        assert lines == ["line %d" % i for i in range(15)], lines
        done = wait_end(d, t["id"])
        assert done["result"]["output_bytes"] == len(first + rest)
        assert done["result"]["usage"]["cpu_ms"] >= 0
        assert done["result"]["oom_killed"] is False


def test_offset_resumes_and_bad_queries():
    td = harness.tmpdir()
    job = script(td, "hello.sh", "echo hello; echo world\n")
    with start(td, {"hello": {"argv": [job]}}) as d:
        t = create(d, {"kind": "command", "job": "hello"})
        wait_end(d, t["id"])
        base = "/v1/tasks/%s/output" % t["id"]
        r = d.get(base)
        assert r.status == 200 and r.body == b"hello\nworld\n", r
        r = d.get(base + "?offset=6")
        assert r.body == b"world\n" and r.headers["evtaskd-output-start"] == "6"
        r = d.get(base + "?offset=100")
        assert r.body == b"" and r.headers["evtaskd-output-start"] == "100"
        for q in ("?offset=-1", "?offset=abc", "?offset=", "?follow=maybe",
                  "?limit=3"):
            assert is_problem(d.get(base + q), 400), q
        assert is_problem(d.get(base + "?stream=stderr"), 422)
        assert is_problem(d.get("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/output"),
                          404)
        assert is_problem(d.get("/v1/tasks/nope/output"), 404)
        s = create(d, {"duration_ms": 0})
        wait_end(d, s["id"])
        r = d.get("/v1/tasks/%s/output?follow=true" % s["id"])
        assert r.status == 200 and r.body == b"", r


def test_cap_drops_the_oldest_bytes():
    td = harness.tmpdir()
    # 10 000 numbered lines of 10 bytes: 100 000 bytes through a 4 KiB cap.
    job = script(td, "lots.sh", "seq -f '%09g' 1 10000\n")
    with start(td, {"lots": {"argv": [job], "max_output_bytes": 4096}}) as d:
        t = create(d, {"kind": "command", "job": "lots"})
        done = wait_end(d, t["id"])
        assert done["result"]["output_bytes"] == 100000
        r = d.get("/v1/tasks/%s/output" % t["id"])
        assert r.headers["evtaskd-output-start"] == str(100000 - 4096)
        assert len(r.body) == 4096 and r.body.endswith(b"000010000\n")
        r = d.get("/v1/tasks/%s/output?offset=99990" % t["id"])
        assert r.body == b"000010000\n"


def test_output_survives_a_restart_and_cleanup_output():
    td = harness.tmpdir()
    state = os.path.join(td, "state")
    job = script(td, "slow.sh", "echo before; touch @D@/ready; sleep 60\n")
    clean = script(td, "clean.sh", "echo cleaning up $EVTASKD_CANCEL_REASON\n")
    jobs = {"slow": {"argv": [job], "cleanup_argv": [clean]}}
    d = start(td, jobs, "-d", state)
    try:
        t = create(d, {"kind": "command", "job": "slow"})
        wait_file(os.path.join(td, "ready"))
        d.delete("/v1/tasks/" + t["id"])
        r = d.get("/v1/tasks/%s/output?stream=cleanup" % t["id"])
        assert r.body == b"cleaning up client\n", r
    finally:
        d.stop()
    with start(td, jobs, "-d", state) as d:
        r = d.get("/v1/tasks/%s/output" % t["id"])
        assert r.status == 200 and r.body == b"before\n", r
        r = d.get("/v1/tasks/%s/output?stream=cleanup&follow=true" % t["id"])
        assert r.body == b"cleaning up client\n", r


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_a_follower_that_never_reads_costs_nothing():
    td = harness.tmpdir()
    # 32 MiB of output while a follower reads nothing at all.
    job = script(td, "flood.sh", "head -c 33554432 /dev/zero | tr '\\0' x\n")
    with start(td, {"flood": {"argv": [job],
                              "max_output_bytes": 1048576}}) as d:
        base = rss_kb(d.proc.pid)
        t = create(d, {"kind": "command", "job": "flood"})
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(d.host_port())
        s.sendall(("GET /v1/tasks/%s/output?follow=true HTTP/1.1\r\n"
                   "Host: x\r\n\r\n" % t["id"]).encode())
        done = wait_end(d, t["id"])
        assert done["state"] == "succeeded", done
        assert done["result"]["output_bytes"] == 33554432
        grown = rss_kb(d.proc.pid) - base
        assert grown < 8 * 1024, "RSS grew by %d KiB" % grown
        s.close()


ESCAPER = """echo started
setsid sleep 300 &
( sleep 301 & ) &
trap '' TERM
touch @D@/ready-$EVTASKD_TASK_ID
while :; do sleep 1; done
"""


def cancel_escaper(isolation):
    td = harness.tmpdir()
    job = script(td, "escaper.sh", ESCAPER)
    clean = script(td, "clean.sh", "echo cleanup\n")
    jobs = {"esc": {"argv": [job], "kill_grace_ms": 300,
                    "cleanup_argv": [clean]}}
    with start(td, jobs, isolation=isolation) as d:
        t = create(d, {"kind": "command", "job": "esc"})
        wait_file(os.path.join(td, "ready-" + t["id"]))
        harness.eventually(lambda: len(processes_of(t["id"])) >= 4)
        done = d.delete("/v1/tasks/" + t["id"]).json()
        assert processes_of(t["id"]) == [], processes_of(t["id"])
        return d.log(), done


def check_receipt(done, method):
    assert done["state"] == "cancelled", done
    k = done["cancellation"]["kill"]
    assert k["method"] == method and k["signal"] == "TERM", k
    assert k["escalated"] is True and k["survivors"] == 0, k
    assert k["signalled_at"] <= k["ended_at"], k
    # The cleanup started after the last process was gone.
    assert done["cleanup"]["started_at"] >= k["ended_at"], done
    assert done["cleanup"]["state"] == "succeeded", done


def test_cancel_leaves_nothing_behind_cgroup():
    if not cgroup_writable():
        raise harness.SkipTest("no writable cgroup v2 hierarchy here")
    log, done = cancel_escaper("cgroup")
    assert "isolated by cgroup" in log, log
    check_receipt(done, "cgroup")


def test_cancel_leaves_nothing_behind_process_group():
    log, done = cancel_escaper("process_group")
    assert "isolated by process_group" in log, log
    check_receipt(done, "process_group")


def test_receipt_without_escalation_and_on_timeout():
    td = harness.tmpdir()
    job = script(td, "polite.sh", "touch @D@/ready-$EVTASKD_TASK_ID\nexec sleep 60\n")
    with start(td, {"polite": {"argv": [job]}}) as d:
        t = create(d, {"kind": "command", "job": "polite"})
        wait_file(os.path.join(td, "ready-" + t["id"]))
        done = d.delete("/v1/tasks/" + t["id"]).json()
        k = done["cancellation"]["kill"]
        assert k["escalated"] is False and k["survivors"] == 0, k
        t = create(d, {"kind": "command", "job": "polite", "timeout_ms": 300})
        done = wait_end(d, t["id"])
        assert done["state"] == "timed_out", done
        k = done["cancellation"]["kill"]
        assert k["signal"] == "TERM" and k["survivors"] == 0, k
        s = create(d, {"duration_ms": 60000})
        done = d.delete("/v1/tasks/" + s["id"]).json()
        assert done["cancellation"]["kill"] is None, done


def test_oom_killed():
    m = cgroup_mount()
    if m is None or not cgroup_writable():
        raise harness.SkipTest("no writable cgroup v2 hierarchy here")
    with open(os.path.join(m, "cgroup.controllers")) as f:
        if "memory" not in f.read().split():
            raise harness.SkipTest("the cgroup v2 hierarchy here has no "
                                   "memory controller (v1 holds it)")
    td = harness.tmpdir()
    job = script(td, "hog.sh", "head -c 200000000 /dev/zero | tail -c 1 >/dev/null\n")
    with start(td, {"hog": {"argv": [job], "resources":
                            {"memory_max_bytes": 16 * 1024 * 1024}}}) as d:
        t = create(d, {"kind": "command", "job": "hog"})
        done = wait_end(d, t["id"])
        assert done["state"] == "failed" and done["result"]["oom_killed"], done


if __name__ == "__main__":
    harness.run(globals())
