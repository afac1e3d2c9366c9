"""The command kind: jobs named in the config run with their args as whole
arguments (no shell), in their own process group, with captured output;
cancel signals the group, SIGKILLs it after the grace, and runs the job's
cleanup with the reason in its environment; max_concurrent queues; crashes
and shutdowns cancel what cannot resume."""

import os
import time

import harness
from harness import (Daemon, create, is_problem, script, wait_end,
                     wait_file, write_file, write_json)


# -- helpers -------------------------------------------------------------

def config(d, jobs, name="evtaskd.json", **top):
    """Write a config file with these jobs (and top-level keys); its path."""
    doc = dict(top)
    doc["jobs"] = jobs
    return write_json(d, name, doc)


def command(d, job, args=None, **extra):
    body = {"kind": "command", "job": job}
    if args is not None:
        body["args"] = args
    body.update(extra)
    return create(d, body)


def read_text(path):
    with open(path) as f:
        return f.read()


def cancel_when_ready(d, td, t):
    """Once the job has written its ready file, cancel it; return the
    cancelled task and how long the DELETE took."""
    wait_file(os.path.join(td, "ready-" + t["id"]))
    t0 = time.monotonic()
    r = d.delete("/v1/tasks/" + t["id"])
    took = time.monotonic() - t0
    assert r.status == 200, r
    c = r.json()
    assert c["state"] == "cancelled", c
    return c, took


# A cleanup that appends one record per run, in a file per task.
RECORDER = """\
f=@D@/cleanup-$EVTASKD_TASK_ID
{
  echo "id=$EVTASKD_TASK_ID"
  echo "reason=$EVTASKD_CANCEL_REASON"
  echo "started=$EVTASKD_TASK_STARTED"
  echo "job=$EVTASKD_JOB"
  echo "argc=$#"
  for a in "$@"; do echo "arg=$a"; done
  echo "--"
} >> "$f"
"""


def cleanup_runs(d, tid):
    """The records the RECORDER cleanup wrote for task tid: a list of dicts
    (args under "args"); [] if it never ran."""
    path = os.path.join(d, "cleanup-" + tid)
    if not os.path.exists(path):
        return []
    runs, cur = [], {"args": []}
    with open(path) as f:
        for line in f.read().splitlines():
            if line == "--":
                runs.append(cur)
                cur = {"args": []}
            elif line.startswith("arg="):
                cur["args"].append(line[4:])
            else:
                k, _, v = line.partition("=")
                cur[k] = v
    return runs


def gone(pid):
    """Has the process ended? (A zombie waiting for init counts as ended.)"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except FileNotFoundError:
        return True
    return st[st.rindex(")") + 2] in "ZX"


# A job that says it is ready, then waits to be stopped.
WAITER = """\
touch @D@/ready-$EVTASKD_TASK_ID
while :; do sleep 0.05; done
"""


# -- how a command ends --------------------------------------------------

def test_success_with_output():
    td = harness.tmpdir()
    job = script(td, "ok.sh", "echo hello from the job\necho to stderr >&2\nexit 0\n")
    with Daemon("-c", config(td, {"ok": {"argv": [job]}})) as d:
        t = command(d, "ok")
        assert t["kind"] == "command" and t["job"] == "ok" and t["args"] == {}
        assert t["duration_ms"] is None
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded", f
        r = f["result"]
        assert r["exit_code"] == 0 and r["signal"] is None, r
        assert "hello from the job\n" in r["output"], r
        assert "to stderr\n" in r["output"], r
        assert r["output_truncated"] is False, r
        assert f["cancellation"] is None and f["cleanup"] is None
        assert isinstance(f["pid"], int) and f["pid"] > 0


def test_silent_job_and_cleanup_have_empty_output():
    td = harness.tmpdir()
    job = script(td, "quiet.sh", "exit 0\n")
    wjob = script(td, "wait.sh", WAITER)
    cln = script(td, "cleanup.sh", "exit 0\n")
    cfg = config(td, {"quiet": {"argv": [job]},
                      "w": {"argv": [wjob], "cleanup_argv": [cln]}})
    with Daemon("-c", cfg) as d:
        for _ in range(3):
            f = wait_end(d, command(d, "quiet")["id"])
            assert f["state"] == "succeeded", f
            assert f["result"].get("output") == "", f["result"]
            assert f["result"]["output_truncated"] is False
        t = command(d, "w")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        c = d.delete("/v1/tasks/" + t["id"]).json()
        assert c["result"].get("output") == "", c["result"]
        assert c["cleanup"]["state"] == "succeeded", c
        assert c["cleanup"].get("output") == "", c["cleanup"]
        assert c["cleanup"]["exit_code"] == 0, c["cleanup"]


def test_failure_exit_code():
    td = harness.tmpdir()
    job = script(td, "fail.sh", "echo about to fail\nexit 3\n")
    with Daemon("-c", config(td, {"fail": {"argv": [job]}})) as d:
        f = wait_end(d, command(d, "fail")["id"])
        assert f["state"] == "failed", f
        assert f["result"]["exit_code"] == 3 and f["result"]["signal"] is None
        assert "about to fail" in f["result"]["output"]
        is_problem(d.delete("/v1/tasks/" + f["id"]), 409)


def test_shell_metacharacters_arrive_verbatim():
    td = harness.tmpdir()
    job = script(td, "args.sh", 'printf "%s\\n" "$#"\n'
                 'for a in "$@"; do printf "<%s>\\n" "$a"; done\n')
    cfg = config(td, {"echo": {
        "argv": [job, "{x}", "--opt={x}", "{{literal}}"],
        "args": {"x": {"pattern": ".*", "required": True}},
        "working_dir": td}})
    evil = "a; touch MARKER $(touch MARKER2) `touch M3` | x > y"
    with Daemon("-c", cfg) as d:
        f = wait_end(d, command(d, "echo", {"x": evil})["id"])
        assert f["state"] == "succeeded", f
        assert f["result"]["output"] == "3\n<%s>\n<--opt=%s>\n<{literal}>\n" % (evil, evil), f
        # also with quotes, newlines and a leading dash
        odd = "-rf '\"\n\t\\ *"
        f = wait_end(d, command(d, "echo", {"x": odd})["id"])
        assert f["result"]["output"] == "3\n<%s>\n<--opt=%s>\n<{literal}>\n" % (odd, odd), f
    for name in ("MARKER", "MARKER2", "M3", "y", "x"):
        assert not os.path.exists(os.path.join(td, name)), name


def test_optional_arg_absent_drops_its_element():
    td = harness.tmpdir()
    job = script(td, "args.sh", 'printf "%s|" "$#" "$@"\n')
    cfg = config(td, {"opt": {
        "argv": [job, "{a}", "{b}", "b={b}"],
        "args": {"a": {"pattern": "[a-z]+", "required": True},
                 "b": {"pattern": "[a-z]+"}}}})
    with Daemon("-c", cfg) as d:
        f = wait_end(d, command(d, "opt", {"a": "x"})["id"])
        assert f["result"]["output"] == "2|x|b=|", f
        f = wait_end(d, command(d, "opt", {"a": "x", "b": "y"})["id"])
        assert f["result"]["output"] == "3|x|y|b=y|", f


def test_validation_422():
    td = harness.tmpdir()
    job = script(td, "ok.sh", "exit 0\n")
    cfg = config(td, {"backup": {
        "argv": [job, "--target", "{target}", "{level}"],
        "args": {"target": {"pattern": "^[a-z0-9-]{1,64}$", "required": True},
                 "level": {"pattern": "[0-9]"}},
        "timeout_ms": 60000}})

    def refused(body, pointer):
        p = is_problem(d.post("/v1/tasks", json=body), 422)
        ptrs = [e["pointer"] for e in p["errors"]]
        assert pointer in ptrs, (body, p)
        for e in p["errors"]:
            assert e["detail"], p
        return p

    with Daemon("-c", cfg) as d:
        base = {"kind": "command", "job": "backup"}
        refused(dict(base, args={"target": "DB 1"}), "/args")
        refused(dict(base, args={"target": "db1; rm -rf /"}), "/args")
        refused(dict(base, args={"target": "x" * 65}), "/args")
        # the pattern must match the whole value, not a part of it
        refused(dict(base, args={"target": "db1", "level": "12"}), "/args")
        refused(dict(base, args={"target": "db1", "nope": "x"}), "/args")
        refused(dict(base, args={}), "/args")
        refused(dict(base), "/args")
        refused(dict(base, args={"target": 5}), "/args")
        refused(dict(base, args=["db1"]), "/args")
        if harness.STORE != "pg":  # a cluster's waits unplaced (test_placement)
            refused({"kind": "command", "job": "restore",
                     "args": {"target": "db1"}}, "/job")
        refused({"kind": "command", "args": {"target": "db1"}}, "/job")
        refused({"kind": "command", "job": 7}, "/job")
        refused(dict(base, args={"target": "db1"}, timeout_ms=60001), "/timeout_ms")
        refused(dict(base, args={"target": "db1"}, duration_ms=5), "/duration_ms")
        # a sleep task may not name a job
        refused({"duration_ms": 5, "job": "backup"}, "/job")
        # nothing was created by all that
        assert d.get("/v1/tasks").json()["tasks"] == []
        t = command(d, "backup", {"target": "db-1", "level": "7"})
        assert t["timeout_ms"] == 60000, t
        t = command(d, "backup", {"target": "db-1"}, timeout_ms=1000)
        assert t["timeout_ms"] == 1000, t
        assert wait_end(d, t["id"])["state"] == "succeeded"


# -- cancel --------------------------------------------------------------

def test_cancel_term_trap_runs_and_cleanup():
    td = harness.tmpdir()
    job = script(td, "trap.sh", """\
trap 'echo got TERM; touch @D@/trapped; exit 7' TERM
echo started
touch @D@/ready-$EVTASKD_TASK_ID
while :; do sleep 0.05; done
""")
    cln = script(td, "cleanup.sh", RECORDER)
    cfg = config(td, {"trap": {"argv": [job], "cleanup_argv": [cln, "{task_id}"]}})
    with Daemon("-c", cfg) as d:
        t = command(d, "trap")
        assert t["state"] == "running", t
        wait_file(os.path.join(td, "ready-" + t["id"]))
        r = d.delete("/v1/tasks/" + t["id"])
        assert r.status == 200, r
        c = r.json()
        assert c["state"] == "cancelled", c
        assert os.path.exists(os.path.join(td, "trapped"))
        assert c["result"]["exit_code"] == 7 and c["result"]["signal"] is None, c
        assert "started\n" in c["result"]["output"] and "got TERM" in c["result"]["output"], c
        assert c["cancellation"]["reason"] == "client"
        assert c["cleanup"]["state"] == "succeeded", c
        assert c["cleanup"]["exit_code"] == 0, c
        runs = cleanup_runs(td, t["id"])
        assert len(runs) == 1, runs
        assert d.get("/v1/tasks/" + t["id"]).json() == c


def test_term_ignored_killed_after_grace():
    td = harness.tmpdir()
    job = script(td, "stubborn.sh", """\
trap '' TERM
touch @D@/ready-$EVTASKD_TASK_ID
while :; do sleep 0.05; done
""")
    cfg = config(td, {"stubborn": {"argv": [job], "kill_grace_ms": 300}})
    with Daemon("-c", cfg) as d:
        t = command(d, "stubborn")
        c, took = cancel_when_ready(d, td, t)
        assert c["result"]["signal"] == "KILL" and c["result"]["exit_code"] is None, c
        assert 0.29 <= took < 5, took
        assert c["cleanup"]["state"] == "succeeded", c


def test_kill_signal_from_job():
    td = harness.tmpdir()
    job = script(td, "int.sh", """\
trap 'echo got INT; exit 9' INT
trap 'echo got TERM; exit 8' TERM
touch @D@/ready-$EVTASKD_TASK_ID
while :; do sleep 0.05; done
""")
    cfg = config(td, {"int": {"argv": [job], "kill_signal": "SIGINT"}})
    with Daemon("-c", cfg) as d:
        t = command(d, "int")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        c = d.delete("/v1/tasks/" + t["id"]).json()
        assert c["state"] == "cancelled"
        assert c["result"]["exit_code"] == 9 and "got INT" in c["result"]["output"], c


def test_grandchildren_killed_with_the_group():
    td = harness.tmpdir()
    job = script(td, "family.sh", """\
sleep 300 &
echo $! >> @D@/pids
(trap '' TERM; exec sleep 300) &
echo $! >> @D@/pids
touch @D@/ready-$EVTASKD_TASK_ID
wait
""")
    cfg = config(td, {"family": {"argv": [job], "kill_grace_ms": 5000}})
    with Daemon("-c", cfg) as d:
        t = command(d, "family")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        with open(os.path.join(td, "pids")) as f:
            pids = [int(x) for x in f.read().split()]
        assert len(pids) == 2 and not any(gone(p) for p in pids), pids
        c = d.delete("/v1/tasks/" + t["id"]).json()
        assert c["state"] == "cancelled", c
        assert c["result"]["signal"] == "TERM", c
        harness.eventually(lambda: all(gone(p) for p in pids), timeout=5)
        assert gone(c["pid"])


def test_cleanup_environment_and_args():
    td = harness.tmpdir()
    job = script(td, "job.sh", "touch @D@/ran-$EVTASKD_TASK_ID\n" + WAITER)
    cln = script(td, "cleanup.sh", RECORDER)
    cfg = config(td, {"deploy": {
        "argv": [job, "{target}"],
        "args": {"target": {"pattern": "[a-z0-9]+", "required": True}},
        "cleanup_argv": [cln, "{task_id}", "--target", "{target}", "x{{y}}"]}})
    with Daemon("-c", cfg) as d:
        t = command(d, "deploy", {"target": "db1"})
        wait_file(os.path.join(td, "ready-" + t["id"]))
        c = d.delete("/v1/tasks/%s?reason=enough" % t["id"]).json()
        assert c["state"] == "cancelled" and c["cleanup"]["state"] == "succeeded", c
        runs = cleanup_runs(td, t["id"])
        assert len(runs) == 1, runs
        r = runs[0]
        assert r["id"] == t["id"], r
        assert r["reason"] == "client", r
        assert r["started"] == "true", r
        assert r["job"] == "deploy", r
        assert r["args"] == [t["id"], "--target", "db1", "x{y}"], r

        # cancelled while still scheduled: the cleanup runs once, knows it,
        # and the job itself never runs
        s = command(d, "deploy", {"target": "db2"}, delay_ms=60000)
        assert s["state"] == "scheduled" and s["pid"] is None, s
        c = d.delete("/v1/tasks/" + s["id"]).json()
        assert c["state"] == "cancelled" and c["started_at"] is None, c
        assert c["cleanup"]["state"] == "succeeded", c
        assert c["pid"] is None, c
        runs = cleanup_runs(td, s["id"])
        assert len(runs) == 1, runs
        assert runs[0]["started"] == "false" and runs[0]["reason"] == "client", runs
        assert runs[0]["args"] == [s["id"], "--target", "db2", "x{y}"], runs
        assert not os.path.exists(os.path.join(td, "ran-" + s["id"]))
        assert os.path.exists(os.path.join(td, "ran-" + t["id"]))


def test_timeout_ends_timed_out_with_cleanup():
    td = harness.tmpdir()
    job = script(td, "slow.sh", WAITER)
    cln = script(td, "cleanup.sh", RECORDER)
    cfg = config(td, {"slow": {"argv": [job], "cleanup_argv": [cln],
                               "timeout_ms": 400}})
    with Daemon("-c", cfg) as d:
        t = command(d, "slow")               # the job's timeout_ms applies
        assert t["timeout_ms"] == 400
        f = wait_end(d, t["id"])
        assert f["state"] == "timed_out", f
        assert f["cancellation"]["reason"] == "timeout", f
        assert f["cleanup"]["state"] == "succeeded", f
        assert f["result"]["signal"] == "TERM", f
        runs = cleanup_runs(td, t["id"])
        assert len(runs) == 1 and runs[0]["reason"] == "timeout", runs
        assert runs[0]["started"] == "true"
        # and a shorter one from the client
        t = command(d, "slow", timeout_ms=100)
        f = wait_end(d, t["id"])
        assert f["state"] == "timed_out" and f["timeout_ms"] == 100, f
        is_problem(d.delete("/v1/tasks/" + t["id"]), 409)


def test_cleanup_overrunning_its_timeout():
    td = harness.tmpdir()
    job = script(td, "job.sh", WAITER)
    cln = script(td, "cleanup.sh", "echo cleaning\nsleep 30\n")
    cfg = config(td, {"j": {"argv": [job], "cleanup_argv": [cln],
                            "cleanup_timeout_ms": 300}})
    with Daemon("-c", cfg) as d:
        t = command(d, "j")
        c, took = cancel_when_ready(d, td, t)
        assert c["cleanup"]["state"] == "timed_out", c
        assert "cleanup_timeout_ms" in c["cleanup"]["detail"] or \
            "timeout" in c["cleanup"]["detail"], c
        assert c["cleanup"]["finished_at"] is not None
        assert 0.29 <= took < 5, took


def test_cleanup_failing():
    td = harness.tmpdir()
    job = script(td, "job.sh", WAITER)
    cln = script(td, "cleanup.sh", "echo cleanup broke >&2\nexit 4\n")
    cfg = config(td, {"j": {"argv": [job], "cleanup_argv": [cln]}})
    with Daemon("-c", cfg) as d:
        t = command(d, "j")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        c = d.delete("/v1/tasks/" + t["id"]).json()
        assert c["state"] == "cancelled", c
        assert c["cleanup"]["state"] == "failed", c
        assert c["cleanup"]["exit_code"] == 4, c
        assert "4" in c["cleanup"]["detail"], c
        assert "cleanup broke" in c["cleanup"]["output"], c


# -- max_concurrent --------------------------------------------------------

def test_max_concurrent_queues_in_order():
    td = harness.tmpdir()
    job = script(td, "gate.sh", """\
touch @D@/ran-$EVTASKD_TASK_ID
while [ ! -e @D@/go ]; do sleep 0.02; done
""")
    cln = script(td, "cleanup.sh", RECORDER)
    cfg = config(td, {"gate": {"argv": [job], "cleanup_argv": [cln],
                               "max_concurrent": 1}})
    with Daemon("-c", cfg) as d:
        ts = [command(d, "gate") for _ in range(4)]
        assert ts[0]["state"] == "running", ts[0]
        for t in ts[1:]:
            assert t["state"] == "scheduled" and t["started_at"] is None, t
        wait_file(os.path.join(td, "ran-" + ts[0]["id"]))
        for t in ts[1:]:
            assert d.get("/v1/tasks/" + t["id"]).json()["state"] == "scheduled"
        # a waiting one cancelled: its cleanup runs once, it never starts
        c = d.delete("/v1/tasks/" + ts[2]["id"]).json()
        assert c["state"] == "cancelled" and c["started_at"] is None, c
        assert c["cleanup"]["state"] == "succeeded", c
        runs = cleanup_runs(td, ts[2]["id"])
        assert len(runs) == 1 and runs[0]["started"] == "false", runs
        # the first is still the only one running
        assert d.get("/v1/tasks/" + ts[1]["id"]).json()["state"] == "scheduled"
        open(os.path.join(td, "go"), "w").close()
        done = [wait_end(d, t["id"]) for t in (ts[0], ts[1], ts[3])]
        for f in done:
            assert f["state"] == "succeeded", f
        for a, b in zip(done, done[1:]):
            assert a["started_at"] < b["started_at"], (a, b)
            assert b["started_at"] >= a["finished_at"], (a, b)   # one at a time
        g = d.get("/v1/tasks/" + ts[2]["id"]).json()
        assert g["state"] == "cancelled" and g["started_at"] is None
        assert not os.path.exists(os.path.join(td, "ran-" + ts[2]["id"]))
        assert len(cleanup_runs(td, ts[2]["id"])) == 1
        for t in (ts[0], ts[1], ts[3]):
            assert cleanup_runs(td, t["id"]) == []


# -- output ----------------------------------------------------------------

def test_output_capped_to_tail():
    td = harness.tmpdir()
    job = script(td, "loud.sh", """\
yes 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz_' | head -c 204800
echo "the last line"
""")
    with Daemon("-c", config(td, {"loud": {"argv": [job]}})) as d:
        f = wait_end(d, command(d, "loud")["id"])
        assert f["state"] == "succeeded", f
        out = f["result"]["output"]
        assert len(out.encode("utf-8")) <= 65536, len(out.encode())
        assert len(out) > 60000, len(out)
        assert out.endswith("xyz_\nthe last line\n"), out[-100:]
        assert f["result"]["output_truncated"] is True, f["result"]["output_truncated"]


def test_output_cap_cut_inside_a_character():
    """The tail starts in the middle of a 2-byte character: the output still
    fits in 64 KiB of UTF-8 and ends with what was printed last."""
    td = harness.tmpdir()
    job = script(td, "utf8.sh", """\
yes 'éééééééé' | tr -d '\\n' | head -c 204800
printf '\\n'
""")
    with Daemon("-c", config(td, {"utf8": {"argv": [job]}})) as d:
        f = wait_end(d, command(d, "utf8")["id"])
        assert f["state"] == "succeeded", f
        out = f["result"]["output"]
        assert out.endswith("\u00e9\u00e9\n"), out[-10:]
        assert f["result"]["output_truncated"] is True
        n = len(out.encode("utf-8"))
        assert n <= 65536, n


def test_output_pipe_is_blocking():
    """The job's stdout and stderr are an ordinary (blocking) pipe: a write
    larger than the pipe holds waits for the daemon instead of failing."""
    td = harness.tmpdir()
    with open(os.path.join(td, "big"), "w") as f:
        f.write("a" * (1024 * 1024 - 1) + "\n")
    job = script(td, "big.sh", """\
dd if=@D@/big bs=1048576 count=1 status=none
echo "dd=$?"
grep '^flags' /proc/self/fdinfo/1
grep '^flags' /proc/self/fdinfo/2 >&2
""")
    with Daemon("-c", config(td, {"big": {"argv": [job]}})) as d:
        f = wait_end(d, command(d, "big")["id"])
        assert f["state"] == "succeeded", f
        out = f["result"]["output"]
        flags = [int(l.split()[1], 8) for l in out.splitlines() if l.startswith("flags:")]
        assert len(flags) == 2, out[-300:]
        for fl in flags:
            assert not fl & os.O_NONBLOCK, (
                "the job's stdout/stderr are O_NONBLOCK: %o" % fl, out[-300:])
        assert "dd=0\n" in out and "Resource temporarily unavailable" not in out, out[-300:]
        assert out.startswith("a" * 1000), out[:100]


def test_invalid_utf8_output_replaced():
    td = harness.tmpdir()
    job = script(td, "bad.sh", "printf 'a\\377b\\300\\n'\n")
    with Daemon("-c", config(td, {"bad": {"argv": [job]}})) as d:
        r = d.get("/v1/tasks/%s?wait=20" % command(d, "bad")["id"])
        assert r.status == 200, r
        r.body.decode("utf-8")              # the answer itself is valid UTF-8
        f = r.json()
        assert f["state"] == "succeeded", f
        assert f["result"]["output"] == "a\ufffdb\ufffd\n", f["result"]
        l = d.get("/v1/tasks?kind=command")
        assert l.status == 200 and l.json()["tasks"][0]["id"] == f["id"]


# -- the child's world -------------------------------------------------------

def test_no_inherited_fds():
    td = harness.tmpdir()
    job = script(td, "fds.sh", """\
ls -l /proc/self/fd/
echo "stdin=$(readlink /proc/$$/fd/0)"
""")
    cln = script(td, "cleanup.sh", "ls -l /proc/self/fd/\n")
    wjob = script(td, "wait.sh", WAITER)
    cfg = config(td, {"fds": {"argv": [job]},
                      "w": {"argv": [wjob], "cleanup_argv": [cln]}})

    def check(out):
        fds = {}
        for line in out.splitlines():
            if " -> " in line:
                left, target = line.split(" -> ", 1)
                fds[int(left.split()[-1])] = target
        assert fds.get(0) == "/dev/null", out
        assert fds.get(1, "").startswith("pipe:") and fds.get(2) == fds[1], out
        extra = {fd: tgt for fd, tgt in fds.items() if fd > 2}
        # ls's own directory fd, nothing else
        assert len(extra) <= 1, out
        for tgt in extra.values():
            assert tgt.startswith("/proc/") and tgt.endswith("/fd"), out
        assert "socket:" not in out and "evtaskd.db" not in out, out
        assert "eventpoll" not in out and "timerfd" not in out, out

    with Daemon("-c", cfg, "-d", harness.tmpdir()) as d:
        d.get("/healthz")                   # a connection is open, too
        f = wait_end(d, command(d, "fds")["id"])
        assert f["state"] == "succeeded", f
        out = f["result"]["output"]
        check(out)
        assert "stdin=/dev/null" in out, out
        t = command(d, "w")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        c = d.delete("/v1/tasks/" + t["id"]).json()
        assert c["cleanup"]["state"] == "succeeded", c
        check(c["cleanup"]["output"])


def test_environment_and_working_dir():
    td = harness.tmpdir()
    job = script(td, "env.sh", 'pwd\nenv | sort\n')
    cfg = config(td, {
        "env": {"argv": [job], "working_dir": td,
                "env": {"LANG": "C.UTF-8", "ODD": "a b=c $HOME"}},
        "root": {"argv": [job]}})
    with Daemon("-c", cfg, env={"EVTASKD_TEST_LEAK": "leaked"}) as d:
        t = command(d, "env")
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded", f
        lines = f["result"]["output"].splitlines()
        assert os.path.realpath(lines[0]) == os.path.realpath(td), lines
        env = dict(l.split("=", 1) for l in lines[1:] if "=" in l)
        assert env.get("EVTASKD_TASK_ID") == t["id"], env
        assert env.get("EVTASKD_JOB") == "env", env
        assert env.get("LANG") == "C.UTF-8", env
        assert env.get("ODD") == "a b=c $HOME", env
        assert "PATH" in env, env
        # the daemon's own environment is not passed on
        assert "EVTASKD_TEST_LEAK" not in env, env
        assert "EVTASKD_CANCEL_REASON" not in env, env
        f = wait_end(d, command(d, "root")["id"])
        assert f["result"]["output"].splitlines()[0] == "/", f


def test_argv0_that_cannot_run():
    td = harness.tmpdir()
    plain = write_file(td, "not-executable.sh", "#!/bin/sh\nexit 0\n", 0o644)
    missing = os.path.join(td, "no-such-program")
    cfg = config(td, {"plain": {"argv": [plain]}, "missing": {"argv": [missing]},
                      "dir": {"argv": [td]}})
    with Daemon("-c", cfg) as d:
        for job, path in (("plain", plain), ("missing", missing), ("dir", td)):
            f = wait_end(d, command(d, job)["id"])
            assert f["state"] == "failed", f
            if harness.WRAPPER:
                continue        # valgrind's posix_spawn cannot report exec errors
            assert f["result"]["exit_code"] is None, f
            assert path in f["result"]["error"], f
        assert d.get("/healthz").status == 200


# -- crashes and stops -------------------------------------------------------

def test_running_at_crash_cancelled_with_reason_restart():
    td = harness.tmpdir()
    sd = harness.tmpdir()
    job = script(td, "job.sh", WAITER)
    cln = script(td, "cleanup.sh", RECORDER)
    cfg = config(td, {"long": {"argv": [job], "cleanup_argv": [cln, "{task_id}"]}})
    d = Daemon("-c", cfg, "-d", sd)
    try:
        t = command(d, "long")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        pid = d.get("/v1/tasks/" + t["id"]).json()["pid"]
        assert pid == t["pid"] and pid > 0 and not gone(pid)
    finally:
        d.kill()
    assert not gone(pid)                    # the daemon died; its child did not
    assert cleanup_runs(td, t["id"]) == []
    with Daemon("-c", cfg, "-d", sd) as d:
        f = wait_end(d, t["id"])
        assert f["state"] == "cancelled", f
        assert f["cancellation"]["reason"] == "restart", f
        assert f["cleanup"]["state"] == "succeeded", f
        runs = cleanup_runs(td, t["id"])
        assert len(runs) == 1, runs
        assert runs[0]["reason"] == "restart" and runs[0]["started"] == "true", runs
        assert runs[0]["args"] == [t["id"]], runs
        harness.eventually(lambda: gone(pid), timeout=5)


def test_sigterm_cancels_commands_keeps_sleeps():
    td = harness.tmpdir()
    sd = harness.tmpdir()
    job = script(td, "job.sh", WAITER)
    cln = script(td, "cleanup.sh", "sleep 0.3\n" + RECORDER)
    cfg = config(td, {"long": {"argv": [job], "cleanup_argv": [cln]}})
    d = Daemon("-c", cfg, "-d", sd)
    try:
        cmd = command(d, "long")
        later = command(d, "long", delay_ms=60000)
        slp = create(d, {"duration_ms": 60000})
        sch = create(d, {"duration_ms": 10, "delay_ms": 60000})
        wait_file(os.path.join(td, "ready-" + cmd["id"]))
        assert d.stop() == 0, d.log()
    finally:
        d.kill()
    # the cleanup ran before the daemon exited
    runs = cleanup_runs(td, cmd["id"])
    assert len(runs) == 1 and runs[0]["reason"] == "shutdown", runs
    harness.eventually(lambda: gone(cmd["pid"]), timeout=5)
    with Daemon("-c", cfg, "-d", sd) as d:
        c = d.get("/v1/tasks/" + cmd["id"]).json()
        assert c["state"] == "cancelled", c
        assert c["cancellation"]["reason"] == "shutdown", c
        assert c["cleanup"]["state"] == "succeeded", c
        s = d.get("/v1/tasks/" + slp["id"]).json()
        assert s["state"] == "running" and s["cancellation"] is None, s
        assert s["started_at"] == slp["started_at"]
        assert d.get("/v1/tasks/" + sch["id"]).json()["state"] == "scheduled"
        assert len(cleanup_runs(td, cmd["id"])) == 1
        # a scheduled command is kept too, not cancelled
        g = d.get("/v1/tasks/" + later["id"]).json()
        assert g["state"] == "scheduled" and g["cancellation"] is None, g
        assert cleanup_runs(td, later["id"]) == []


def test_shutdown_grace_bounds_cleanups():
    """A cleanup still running when shutdown_grace_ms has passed does not
    hold the stop; it runs again after the restart."""
    td = harness.tmpdir()
    sd = harness.tmpdir()
    job = script(td, "job.sh", WAITER)
    cln = script(td, "cleanup.sh", "echo $EVTASKD_CANCEL_REASON "
                 ">> @D@/cleanup-$EVTASKD_TASK_ID\nexec sleep 30\n")
    cfg = config(td, {"long": {"argv": [job], "cleanup_argv": [cln]}},
                 shutdown_grace_ms=300)
    d = Daemon("-c", cfg, "-d", sd)
    try:
        t = command(d, "long")
        wait_file(os.path.join(td, "ready-" + t["id"]))
        t0 = time.monotonic()
        assert d.stop() == 0, d.log()
    finally:
        d.kill()
    took = time.monotonic() - t0
    assert 0.29 <= took < 5, took
    assert "shutdown_grace_ms passed" in d.log(), d.log()
    runs = os.path.join(td, "cleanup-" + t["id"])
    assert read_text(runs) == "shutdown\n"
    with Daemon("-c", cfg, "-d", sd) as d:
        g = d.get("/v1/tasks/" + t["id"]).json()
        assert g["state"] == "cancelling", g
        assert g["cancellation"]["reason"] == "shutdown", g
        assert g["cleanup"]["state"] == "running", g
        harness.eventually(lambda: read_text(runs) == "shutdown\nshutdown\n")


def test_sigterm_on_shutdown_cancel():
    td = harness.tmpdir()
    sd = harness.tmpdir()
    cfg = config(td, {}, on_shutdown="cancel")
    d = Daemon("-c", cfg, "-d", sd)
    try:
        slp = create(d, {"duration_ms": 60000, "cleanup_ms": 100})
        sch = create(d, {"duration_ms": 10, "delay_ms": 60000})
        assert d.stop() == 0, d.log()
    finally:
        d.kill()
    with Daemon("-c", cfg, "-d", sd) as d:
        for t in (slp, sch):
            g = d.get("/v1/tasks/" + t["id"]).json()
            assert g["state"] == "cancelled", g
            assert g["cancellation"]["reason"] == "shutdown", g
            assert g["cleanup"]["state"] == "succeeded", g
        assert d.get("/v1/tasks/" + sch["id"]).json()["started_at"] is None


def test_sigterm_does_not_start_queued_commands():
    """A task waiting for a max_concurrent slot is scheduled: a stop keeps it
    for the next start instead of starting it when the slot frees up."""
    td = harness.tmpdir()
    sd = harness.tmpdir()
    job = script(td, "job.sh", "touch @D@/ran-$EVTASKD_TASK_ID\n" + WAITER)
    cfg = config(td, {"one": {"argv": [job], "max_concurrent": 1}})
    d = Daemon("-c", cfg, "-d", sd)
    try:
        first = command(d, "one")
        second = command(d, "one")
        assert second["state"] == "scheduled", second
        wait_file(os.path.join(td, "ready-" + first["id"]))
        assert d.stop() == 0, d.log()
    finally:
        d.kill()
    assert not os.path.exists(os.path.join(td, "ran-" + second["id"])), \
        "the queued task was started while the daemon stopped"
    with Daemon("-c", cfg, "-d", sd) as d:
        f = d.get("/v1/tasks/" + first["id"]).json()
        assert f["state"] == "cancelled" and f["cancellation"]["reason"] == "shutdown", f
        s = d.get("/v1/tasks/" + second["id"]).json()
        assert s["cancellation"] is None, s
        assert s["state"] in ("scheduled", "running"), s


harness.run(globals())
