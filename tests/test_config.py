"""The config file: --check-config and start-up errors name the file, line
and column of every problem; flags override the file; limits, retention and
jobs from the file apply; SIGHUP reloads it (or keeps the old one)."""

import fcntl
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import time

import harness
from harness import (Daemon, create, is_problem, run_daemon, script,
                     wait_end, wait_file, write_file, write_json)


# -- helpers -------------------------------------------------------------

def pos(text, needle, nth=0):
    """(line, column), 1-based, where the nth occurrence of needle starts."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


def expect(out, path, text, needle, key, nth=0):
    """out holds the line PATH:LINE:COL: key: ... for needle's place."""
    line, col = pos(text, needle, nth)
    prefix = "%s:%d:%d: %s: " % (path, line, col, key)
    found = [l for l in out.splitlines() if l.startswith(prefix)]
    assert len(found) == 1, (prefix, out)
    assert len(found[0]) > len(prefix), found       # and a message
    return found[0]


# Every kind of mistake, one per line where possible.
BAD = """\
{
  "listen": ["127.0.0.1:0"],
  "retension_s": 10,
  "retention_s": "60",
  "limits": {"max_body_bytes": 100, "max_actve_tasks": 5},
  "on_shutdown": "later",
  "jobs": {
    "backup": {
      "argv": ["/bin/echo", "--target", "{target}"],
      "args": {"name": {"pattern": "a(b", "required": true}},
      "kill_signal": "TERMINATE",
      "timeot_ms": 5
    },
    "rel": {
      "argv": ["bin/echo", "{task_id}"],
      "working_dir": "tmp"
    }
  }
}
"""

# (key path, the text its place starts with, which occurrence, message part)
BAD_ERRORS = [
    ("retension_s", '"retension_s"', 0, "unknown key"),
    ("retention_s", '"retention_s"', 0, "integer"),
    ("limits.max_body_bytes", '"max_body_bytes"', 0, "1024"),
    ("limits.max_actve_tasks", '"max_actve_tasks"', 0, "unknown key"),
    ("on_shutdown", '"on_shutdown"', 0, "keep"),
    ("jobs.backup.argv[2]", '"{target}"', 0, "{target}"),
    ("jobs.backup.args.name.pattern", '"pattern"', 0, "regular expression"),
    ("jobs.backup.kill_signal", '"kill_signal"', 0, "TERMINATE"),
    ("jobs.backup.timeot_ms", '"timeot_ms"', 0, "unknown key"),
    ("jobs.rel.argv[0]", '"bin/echo"', 0, "absolute"),
    ("jobs.rel.working_dir", '"working_dir"', 0, "absolute"),
]


# -- --check-config --------------------------------------------------------

def test_check_config_good():
    td = harness.tmpdir()
    cfg = write_json(td, "good.json", {
        "listen": ["127.0.0.1:0", "unix:/tmp/evtaskd-test.sock"],
        "retention_s": 60, "shutdown_grace_ms": 500, "on_shutdown": "cancel",
        "isolation": "process_group",
        "limits": {"max_active_tasks": 5, "max_body_bytes": 4096,
                   "max_connections": 10, "max_connections_per_ip": 5,
                   "connection_timeout_s": 5, "max_duration_ms": 1000,
                   "max_output_bytes": 65536},
        "jobs": {"a": {"argv": ["/bin/true", "{x}", "{task_id}"],
                       "args": {"x": {"pattern": "[a-z]+", "required": True,
                                      "description": "a word"}},
                       "timeout_ms": 1000, "kill_signal": "SIGINT",
                       "kill_grace_ms": 0, "cleanup_argv": ["/bin/true"],
                       "cleanup_timeout_ms": 100, "max_concurrent": 2,
                       "working_dir": "/tmp", "env": {"A": "b"},
                       "description": "Does nothing, well.",
                       "max_output_bytes": 4096,
                       "resources": {"memory_max_bytes": 1048576,
                                     "pids_max": 8, "cpu_weight": 100}},
                 "b.c-d_E": {"argv": ["/bin/false"]}}})
    code, out, err = run_daemon("--check-config", "-c", cfg)
    assert code == 0, (code, out, err)
    assert "ok" in out and "2 jobs" in out, out
    assert cfg in out, out
    assert err == "", err


def test_check_config_every_error_with_its_place():
    td = harness.tmpdir()
    path = write_file(td, "bad.json", BAD)
    code, out, err = run_daemon("--check-config", "-c", path)
    assert code == 1, (code, out, err)
    lines = [l for l in err.splitlines() if l]
    for key, needle, nth, msg in BAD_ERRORS:
        line = expect(err, path, BAD, needle, key, nth)
        assert msg in line, (msg, line)
    assert len(lines) == len(BAD_ERRORS), err
    # the places, spelled out for a few
    assert "%s:3:3: retension_s: " % path in err, err
    assert "%s:4:3: retention_s: " % path in err, err
    assert "%s:9:41: jobs.backup.argv[2]: " % path in err, err
    assert "%s:15:16: jobs.rel.argv[0]: " % path in err, err
    assert "ok" not in out


def test_check_config_invalid_json():
    td = harness.tmpdir()
    path = write_file(td, "inv.json", '{\n  "listen": ["127.0.0.1:0"]\n  "retention_s": 5\n}\n')
    code, out, err = run_daemon("--check-config", "-c", path)
    assert code == 1, (code, out, err)
    # jansson's own place: the token it did not expect, on line 3
    assert err.startswith("%s:3:15: " % path), err
    assert "expected" in err, err
    assert len(err.splitlines()) == 1, err
    # truncated file: the end
    path = write_file(td, "cut.json", '{\n  "jobs": {\n')
    code, out, err = run_daemon("--check-config", "-c", path)
    assert code == 1 and err.startswith(path + ":"), (code, err)
    assert re.match(re.escape(path) + r":\d+:\d+: ", err), err


def test_check_config_duplicate_keys():
    td = harness.tmpdir()
    text = '{\n  "retention_s": 5,\n  "jobs": {},\n  "retention_s": 6\n}\n'
    path = write_file(td, "dup.json", text)
    code, _, err = run_daemon("--check-config", "-c", path)
    assert code == 1, (code, err)
    assert err.startswith("%s:4:" % path), err
    assert "duplicate" in err, err
    text = ('{\n  "jobs": {\n'
            '    "a": {"argv": ["/bin/true"], "argv": ["/bin/false"]}\n'
            '  }\n}\n')
    path = write_file(td, "dup2.json", text)
    code, _, err = run_daemon("--check-config", "-c", path)
    assert code == 1, (code, err)
    assert err.startswith("%s:3:" % path) and "duplicate" in err, err


def test_check_config_not_an_object_and_types():
    td = harness.tmpdir()
    path = write_file(td, "arr.json", '["jobs"]\n')
    code, _, err = run_daemon("--check-config", "-c", path)
    assert code == 1 and err.startswith(path + ":1:1:"), (code, err)
    assert "object" in err, err
    text = """\
{
  "jobs": {
    "a": {"argv": "/bin/true"},
    "b": {"argv": ["/bin/true", 5]},
    "c": {"args": {"x": {"pattern": "x"}}},
    "d": {"argv": ["/bin/true"], "args": {"Bad-Name": {"pattern": "x"}}},
    "e": {"argv": ["/bin/true"], "args": {"x": {"required": "yes"}}},
    "f": {"argv": ["/bin/true"], "max_concurrent": 0, "env": {"A": 1}}
  },
  "auth": {"token_file": "token"},
  "limits": []
}
"""
    path = write_file(td, "types.json", text)
    code, _, err = run_daemon("--check-config", "-c", path)
    assert code == 1, (code, err)
    expect(err, path, text, '"argv"', "jobs.a.argv", 0)
    expect(err, path, text, '5]', "jobs.b.argv[1]")
    expect(err, path, text, '"c"', "jobs.c")                  # needs an argv
    expect(err, path, text, '"Bad-Name"', "jobs.d.args.Bad-Name")
    expect(err, path, text, '"x": {"required"', "jobs.e.args.x")  # no pattern
    expect(err, path, text, '"required"', "jobs.e.args.x.required")
    expect(err, path, text, '"max_concurrent"', "jobs.f.max_concurrent")
    expect(err, path, text, '"A": 1', "jobs.f.env.A")
    expect(err, path, text, '"token_file"', "auth.token_file")
    expect(err, path, text, '"limits"', "limits")


# -- starting with a config ------------------------------------------------

def test_start_with_bad_config_exits_2_same_message():
    td = harness.tmpdir()
    path = write_file(td, "bad.json", BAD)
    code, out, err = run_daemon("-c", path, "-l", "127.0.0.1:0", "--memory")
    assert code == 2, (code, out, err)
    _, _, check = run_daemon("--check-config", "-c", path)
    assert err == check, (err, check)
    for key, needle, nth, _ in BAD_ERRORS:
        expect(err, path, BAD, needle, key, nth)
    assert "listening" not in err


def test_missing_config_file_exits_2():
    path = os.path.join(harness.tmpdir(), "nope.json")
    code, out, err = run_daemon("-c", path, "-l", "127.0.0.1:0", "--memory")
    assert code == 2, (code, out, err)
    assert path in err and "No such file" in err, err
    code, out, err = run_daemon("--check-config", "-c", path)
    assert code == 1 and path in err, (code, err)


def test_no_config_file_needed():
    with Daemon() as d:
        assert d.get("/healthz").status == 200
        t = create(d, {"duration_ms": 0})
        assert wait_end(d, t["id"])["state"] == "succeeded"
        if harness.STORE != "pg":  # a cluster's waits unplaced (test_placement)
            p = is_problem(d.post("/v1/tasks", json={"kind": "command", "job": "x"}), 422)
            assert any(e["pointer"] == "/job" for e in p["errors"]), p


def test_flags_override_the_file():
    td = harness.tmpdir()
    sock = os.path.join(td, "from-file.sock")
    file_sd = os.path.join(td, "file-state")
    flag_sd = os.path.join(td, "flag-state")
    cfg = write_json(td, "c.json", {"listen": ["unix:" + sock],
                                    "state_dir": file_sd})
    with Daemon("-c", cfg, "-d", flag_sd) as d:
        assert d.url.startswith("http://127.0.0.1:"), d.url
        assert d.get("/healthz").status == 200
        assert len(re.findall(r"listening on ", d.log())) == 1, d.log()
        assert not os.path.exists(sock)
        create(d, {"duration_ms": 0})
    assert os.path.exists(os.path.join(flag_sd, "evtaskd.db"))
    assert not os.path.exists(file_sd)
    # without -l and -d, the file's listen and state_dir are used
    with Daemon("-c", cfg, listen=(), memory=False) as d:
        assert d.url == "unix:" + sock, d.url
        assert d.get("/healthz").status == 200
    assert os.path.exists(os.path.join(file_sd, "evtaskd.db"))


# -- limits and retention ------------------------------------------------

def test_limits_from_the_file():
    td = harness.tmpdir()
    cfg = write_json(td, "c.json", {"limits": {
        "max_active_tasks": 2, "max_body_bytes": 2048, "max_duration_ms": 1000}})
    with Daemon("-c", cfg) as d:
        a = create(d, {"duration_ms": 1000})
        b = create(d, {"duration_ms": 0, "delay_ms": 1000})
        r = d.post("/v1/tasks", json={"duration_ms": 1})
        is_problem(r, 429)
        assert r.headers.get("retry-after"), r.headers
        # a finished task frees its place
        assert d.delete("/v1/tasks/" + a["id"]).json()["state"] == "cancelled"
        c = create(d, {"duration_ms": 1000})
        for t in (b, c):
            d.delete("/v1/tasks/" + t["id"])
        empty = json.dumps({"duration_ms": 1, "metadata": {"pad": ""}})
        body = empty.replace('""', '"%s"' % ("p" * (3000 - len(empty))))
        assert len(body) == 3000
        is_problem(d.post("/v1/tasks", body=body,
                          headers={"Content-Type": "application/json"}), 413)
        p = is_problem(d.post("/v1/tasks", json={"duration_ms": 2000}), 422)
        assert any(e["pointer"] == "/duration_ms" for e in p["errors"]), p
        p = is_problem(d.post("/v1/tasks", json={"duration_ms": 1, "delay_ms": 1001}), 422)
        assert any(e["pointer"] == "/delay_ms" for e in p["errors"]), p
        # a body under the limit is read
        small = {"duration_ms": 1, "metadata": {"pad": "p" * 1990}}
        assert 2000 < len(json.dumps(small)) <= 2048
        create(d, small)


def test_limit_max_duration_accepts_the_limit():
    td = harness.tmpdir()
    cfg = write_json(td, "c.json", {"limits": {"max_duration_ms": 1000}})
    with Daemon("-c", cfg) as d:
        t = create(d, {"duration_ms": 1000, "timeout_ms": 1000})
        assert t["duration_ms"] == 1000
        d.delete("/v1/tasks/" + t["id"])


def test_retention_purges_finished_tasks():
    td = harness.tmpdir()
    cfg = write_json(td, "c.json", {"retention_s": 0})
    with Daemon("-c", cfg, "--log-level", "debug") as d:
        done = create(d, {"duration_ms": 0})
        assert wait_end(d, done["id"])["state"] == "succeeded"
        running = create(d, {"duration_ms": 60000})
        d.wait_log(r"store: purged 1 tasks older than retention_s", timeout=5)
        is_problem(d.get("/v1/tasks/" + done["id"]), 404)
        assert d.get("/v1/tasks/" + running["id"]).json()["state"] == "running"
        ids = [t["id"] for t in d.get("/v1/tasks").json()["tasks"]]
        assert ids == [running["id"]], ids


def test_retention_default_keeps_finished_tasks():
    """A purge round with retention_s 3600 keeps a task that ended just now.
    A round that purges nothing says nothing, so the store is given a task
    that ended two hours ago: the round that purges it (and logs so) is the
    event to await, and it had the new task in front of it too."""
    td = harness.tmpdir()
    sd = os.path.join(td, "state")
    cfg = write_json(td, "c.json", {"retention_s": 3600})
    with Daemon("-c", cfg, "-d", sd) as d:
        old = create(d, {"duration_ms": 0})
        done = create(d, {"duration_ms": 0})
        wait_end(d, old["id"])
        wait_end(d, done["id"])
    db = sqlite3.connect(os.path.join(sd, "evtaskd.db"))
    with db:
        n = db.execute("UPDATE tasks SET finished_at = finished_at - 7200000"
                       " WHERE id = ?", (old["id"],)).rowcount
    db.close()
    assert n == 1, n
    with Daemon("-c", cfg, "-d", sd, "--log-level", "debug") as d:
        d.wait_log(r"store: purged 1 tasks older than retention_s", timeout=5)
        is_problem(d.get("/v1/tasks/" + old["id"]), 404)
        assert d.get("/v1/tasks/" + done["id"]).status == 200


# -- SIGHUP ----------------------------------------------------------------

def test_reload_good():
    td = harness.tmpdir()
    ok = script(td, "ok.sh", "echo $EVTASKD_JOB\n")
    path = write_json(td, "c.json", {"jobs": {"a": {"argv": [ok]}}})
    with Daemon("-c", path) as d:
        if harness.STORE != "pg":  # a cluster's waits unplaced (test_placement)
            p = is_problem(d.post("/v1/tasks", json={"kind": "command", "job": "b"}), 422)
            assert any(e["pointer"] == "/job" for e in p["errors"]), p
        create(d, {"duration_ms": 5000})
        write_json(td, "c.json", {"jobs": {"a": {"argv": [ok]}, "b": {"argv": [ok]}},
                                  "limits": {"max_duration_ms": 2000}})
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: 2 jobs")
        t = create(d, {"kind": "command", "job": "b"})
        f = wait_end(d, t["id"])
        assert f["state"] == "succeeded" and f["result"]["output"] == "b\n", f
        # the limits too
        is_problem(d.post("/v1/tasks", json={"duration_ms": 2001}), 422)
        create(d, {"duration_ms": 2000})
        # nothing was dropped: the listener and the sleep task go on
        assert d.get("/healthz").status == 200
        assert len(d.get("/v1/tasks?state=running").json()["tasks"]) == 2


def test_reload_broken_keeps_old_config():
    td = harness.tmpdir()
    ok = script(td, "ok.sh", "echo fine\n")
    path = write_json(td, "c.json", {"jobs": {"a": {"argv": [ok]}}})
    with Daemon("-c", path) as d:
        assert d.get("/healthz").status == 200
        text = '{\n  "jobs": {\n    "a": {"argv": ["%s"], "kill_signal": "NOPE"}\n  }\n}\n' % ok
        write_file(td, "c.json", text)
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reload failed; the old config stays")
        line, col = pos(text, '"kill_signal"')
        d.wait_log(re.escape("%s:%d:%d: jobs.a.kill_signal: " % (path, line, col)))
        assert "reloaded" not in d.log()
        f = wait_end(d, create(d, {"kind": "command", "job": "a"})["id"])
        assert f["state"] == "succeeded" and f["result"]["output"] == "fine\n", f
        # invalid JSON: the same, with jansson's place
        write_file(td, "c.json", '{\n  "jobs": \n')
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reload failed; the old config stays", start=1)
        d.wait_log(re.escape(path) + r":\d+:\d+: ", start=1)
        f = wait_end(d, create(d, {"kind": "command", "job": "a"})["id"])
        assert f["state"] == "succeeded", f
        # a missing file too
        os.unlink(path)
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reload failed; the old config stays", start=2)
        assert wait_end(d, create(d, {"kind": "command", "job": "a"})["id"])["state"] == "succeeded"
        assert d.get("/healthz").status == 200


def test_sighup_as_soon_as_listening():
    """A caller that has read the listening line may signal at once: the
    daemon handles SIGHUP from then on. A full stderr pipe holds the daemon
    right at that line, so the moment is hit every time."""
    F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        os.write(w, b"#" * (fcntl.fcntl(w, F_GETPIPE_SZ) - 16))
    except OSError as e:
        os.close(r)
        os.close(w)
        raise harness.SkipTest("cannot shrink a pipe: %s" % e)
    env = dict(os.environ)
    for k in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(k, None)
    p = subprocess.Popen([harness.EVTASKD, "--memory", "-l", "127.0.0.1:0"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=w, env=env)
    os.close(w)
    try:
        def blocked():
            with open("/proc/%d/wchan" % p.pid) as f:
                return "pipe_write" in f.read()
        try:
            harness.eventually(blocked, timeout=5)
        except AssertionError:
            raise harness.SkipTest("cannot see the daemon wait on its stderr")
        p.send_signal(signal.SIGHUP)
        log = b""
        deadline = time.monotonic() + 10 * harness.SLOW
        while b"reloaded" not in log and time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                log += chunk
        text = log.lstrip(b"#").decode("utf-8", "replace")
        assert p.poll() is None, \
            "SIGHUP right after the listening line killed the daemon (%s); log:\n%s" % (
                p.returncode, text)
        assert "listening on http://127.0.0.1:" in text, text
        assert "received SIGHUP" in text and "reloaded" in text, text
        p.send_signal(signal.SIGTERM)
        assert p.wait(10 * harness.SLOW) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(r)


def test_reload_running_task_keeps_its_job():
    td = harness.tmpdir()
    job = script(td, "job.sh", "touch @D@/ready-$EVTASKD_TASK_ID\nwhile :; do sleep 0.05; done\n")
    old = script(td, "old.sh", "echo old >> @D@/cleanup-$EVTASKD_TASK_ID\n")
    new = script(td, "new.sh", "echo new >> @D@/cleanup-$EVTASKD_TASK_ID\n")

    def ready(t):
        wait_file(os.path.join(td, "ready-" + t["id"]))

    def cleanups(t):
        with open(os.path.join(td, "cleanup-" + t["id"])) as f:
            return f.read()

    path = write_json(td, "c.json", {"jobs": {
        "changed": {"argv": [job], "cleanup_argv": [old]},
        "removed": {"argv": [job], "cleanup_argv": [old], "kill_signal": "INT"}}})
    with Daemon("-c", path) as d:
        c1 = create(d, {"kind": "command", "job": "changed"})
        r1 = create(d, {"kind": "command", "job": "removed"})
        ready(c1)
        ready(r1)
        write_json(td, "c.json", {"jobs": {
            "changed": {"argv": [job], "cleanup_argv": [new]}}})
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: 1 jobs?")
        c2 = create(d, {"kind": "command", "job": "changed"})
        if harness.STORE != "pg":  # a cluster's waits unplaced (test_placement)
            is_problem(d.post("/v1/tasks", json={"kind": "command", "job": "removed"}), 422)
        ready(c2)
        for t, want in ((c1, "old\n"), (r1, "old\n"), (c2, "new\n")):
            c = d.delete("/v1/tasks/" + t["id"]).json()
            assert c["state"] == "cancelled", c
            assert c["cleanup"]["state"] == "succeeded", c
            assert cleanups(t) == want, (t["job"], cleanups(t))
        assert d.get("/v1/tasks/" + r1["id"]).json()["result"]["signal"] == "INT"


harness.run(globals())
