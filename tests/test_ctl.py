"""evtaskctl against the real daemon on port 0 (CONTRACT §10): every
command, human and --json output (golden files in tests/golden/ with ids,
times and durations masked), exit codes, unix sockets, the token file,
colours, and usage errors. GOLDEN_UPDATE=1 rewrites the golden files.
"""

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios

import harness
from harness import (Daemon, SkipTest, create, ctl, ctl_start, ctl_env,
                     EVTASKCTL, EventStream, script, tmpdir, wait_end,
                     write_json)

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
MASKS = [
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<ID>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"), "<TIME>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<CLOCK>"),
    (re.compile(r"just now|\b\d+[smhd] ago|\bin \d+[smhd]\b"), "<AGO>"),
    (re.compile(r"\b(\d+(\.\d)?(ms|s|m|h|d))+\b"), "<DUR>"),
    (re.compile(r'"pid":\d+'), '"pid":<PID>'),
    (re.compile(r'"node":"[^"]*"'), '"node":"<NODE>"'),    # the host name
    # cgroup or process group: whichever isolation this machine allows
    (re.compile(r"to the (cgroup|process group)\b"), "to the <ISOLATION>"),
    (re.compile(r'"method":"(cgroup|process_group)"'), '"method":"<ISOLATION>"'),
    (re.compile(r'"(cpu_ms|memory_peak_bytes)":(\d+|null)'), r'"\1":<N>'),
    (re.compile(r"(?<=\S) {2,}(?=\S)"), "  "),    # columns: their widths vary
]


def mask(text):
    for rx, repl in MASKS:
        text = rx.sub(repl, text)
    return text


def golden(name, text):
    """Compare masked text with tests/golden/name (GOLDEN_UPDATE=1 writes it)."""
    path = os.path.join(GOLDEN, name)
    got = mask(text)
    if os.environ.get("GOLDEN_UPDATE"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
        return
    with open(path, encoding="utf-8") as f:
        want = f.read()
    assert got == want, "%s differs:\n--- want\n%s--- got\n%s" % (name, want, got)


def jobs_config():
    """A config with a job that says hello, one that fails, one with a cleanup."""
    d = tmpdir()
    cfg = {"jobs": {
        "hello": {"argv": ["/bin/sh", "-c", "echo hello {who}; touch %s/started; exec sleep 30" % d],
                  "args": {"who": {"pattern": "^[a-z]+$", "required": True}},
                  "cleanup_argv": [script(d, "cleanup", "exit 0")]},
        "fail": {"argv": ["/bin/sh", "-c", "echo bad; exit 1"]},
        "quick": {"argv": ["/bin/sh", "-c", "echo line one; echo line two"]},
    }}
    return write_json(d, "evtaskd.json", cfg)


def started(cfg):
    """Wait until a hello task of jobs_config(cfg) has said hello."""
    harness.wait_file(os.path.join(os.path.dirname(cfg), "started"))


def usage_error(code, out, err):
    assert code == 2, (code, out, err)
    assert out == "", out
    assert "usage: evtaskctl" in err, err


def has_endpoint(d, path):
    """Does this daemon serve path (not an unknown-path 404)?"""
    r = d.get(path)
    return not (r.status == 404 and r.json().get("type") == "urn:evtaskd:problem:not-found")


# -- usage -------------------------------------------------------------------

def test_usage_errors_exit_2():
    for args in ([], ["frobnicate"], ["ls", "--bogus"], ["--bogus", "ls"],
                 ["sleep"], ["sleep", "5s", "extra"], ["sleep", "5s", "--name"],
                 ["show"], ["show", "a", "b"], ["wait", "X", "--timeout"],
                 ["cancel"], ["run"], ["run", "job", "notanarg"],
                 ["run", "job", "--on-conflict", "maybe"],
                 ["run", "job", "--retry", "0"], ["events", "extra"],
                 ["sleep", "-5s"], ["schedules"], ["schedules", "frob"],
                 ["schedules", "add", "n", "--", "sleep", "1s"],
                 ["schedules", "add", "n", "--every", "1m"],
                 ["schedules", "add", "n", "--every", "1m", "--", "sleep", "1s",
                  "--wait"]):
        code, out, err = ctl(None, *args, url="http://127.0.0.1:1")
        usage_error(code, out, err)


def test_bad_durations():
    for args in (["sleep", "5"], ["sleep", "5x"], ["sleep", "1.5s"],
                 ["sleep", "30m1h"], ["sleep", "5S"],
                 ["sleep", "1s", "--delay", "soon"],
                 ["sleep", "1s", "--timeout", "1h30"],
                 ["wait", "X", "--timeout", "forever"]):
        code, out, err = ctl(None, *args, url="http://127.0.0.1:1")
        usage_error(code, out, err)
        assert "bad duration" in err, err


def test_help():
    code, out, err = ctl(None, "--help")
    assert code == 0 and "usage: evtaskctl" in out and "schedules" in out, out


def test_daemon_down_exit_5():
    code, out, err = ctl(None, "ls", url="http://127.0.0.1:1")
    assert code == 5, (code, err)
    assert "http://127.0.0.1:1" in err and "EVTASKD_URL" in err, err
    code, out, err = ctl(None, "ls", url="unix:/nonexistent/evtaskd.sock")
    assert code == 5 and "unix:/nonexistent/evtaskd.sock" in err, err


# -- exit codes --------------------------------------------------------------

def test_exit_codes_by_state():
    with Daemon("-c", jobs_config()) as d:
        code, out, err = ctl(d, "sleep", "20ms", "--wait")
        assert code == 0 and " succeeded " in out, (code, out, err)
        code, out, err = ctl(d, "run", "fail", "--wait")
        assert code == 1 and " failed " in out, (code, out, err)
        code, out, err = ctl(d, "sleep", "1h", "--timeout", "50ms", "--wait")
        assert code == 4 and " timed_out " in out, (code, out, err)
        code, tid, err = ctl(d, "sleep", "1h")
        tid = tid.strip()
        waiter = ctl_start(d, "wait", tid)
        code, out, err = ctl(d, "cancel", tid)
        assert code == 0 and " cancelled " in out, (code, out, err)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 3 and " cancelled " in out, (waiter.returncode, out, err)
        # wait on a task already ended answers at once, by its state
        assert ctl(d, "wait", tid)[0] == 3


def test_wait_timeout_124():
    with Daemon() as d:
        tid = create(d, {"duration_ms": 3600000})["id"]
        code, out, err = ctl(d, "wait", tid, "--timeout", "200ms")
        assert code == 124, (code, out, err)
        assert "still running" in err, err
        assert d.get("/v1/tasks/" + tid).json()["state"] == "running"


def test_daemon_errors_exit_5():
    with Daemon("-c", jobs_config()) as d:
        code, out, err = ctl(d, "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert code == 5 and "no task with id" in err, err
        code, out, err = ctl(d, "run", "hello", "who=BAD", "bogus=1")
        assert code == 5, (code, err)
        lines = err.strip().split("\n")
        assert "invalid field" in lines[0], err
        assert any("/args" in l for l in lines[1:]), err
        done = create(d, {"duration_ms": 1})["id"]
        wait_end(d, done)
        code, out, err = ctl(d, "cancel", done)
        assert code == 5 and "succeeded" in err, err


def test_ctrl_c_stops_the_client_not_the_task():
    with Daemon() as d:
        tid = create(d, {"duration_ms": 3600000})["id"]
        for args in (["wait", tid], ["events", "--task", tid]):
            p = ctl_start(d, *args)
            # parked: the client is in its long-poll or stream (no event
            # tells, so poll the gauge)
            harness.eventually(lambda: harness.metric(
                d, "evtaskd_http_parked_requests") >= 1)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
            if args[0] == "wait":
                assert p.returncode == 130, (p.returncode, out, err)
                assert "goes on" in err and tid in err, err
            else:
                assert p.returncode == 0, (p.returncode, out, err)
            harness.eventually(lambda: harness.metric(
                d, "evtaskd_http_parked_requests") == 0)
        assert d.get("/v1/tasks/" + tid).json()["state"] == "running"


# -- output ------------------------------------------------------------------

def test_show_and_cancel_in_words_golden():
    cfg = jobs_config()
    with Daemon("-c", cfg) as d:
        tid = ctl(d, "run", "hello", "who=bob", "--name", "greeting")[1].strip()
        started(cfg)
        code, out, err = ctl(d, "cancel", tid, "--reason", "no longer needed")
        assert code == 0, err
        golden("ctl-cancel.txt", out)
        code, out, err = ctl(d, "show", tid)
        assert code == 0, err
        assert 'because a client asked: "no longer needed"' in out, out
        assert re.search(r"^cleanup +succeeded in ", out, re.M), out
        golden("ctl-show-cancelled.txt", out)
        code, out, err = ctl(d, "--json", "show", tid)
        assert out == d.get("/v1/tasks/" + tid).body.decode() + "\n"
        golden("ctl-show-cancelled.json", out)


def test_ls_table_golden_and_json():
    with Daemon() as d:
        a = create(d, {"duration_ms": 1, "name": "first"})["id"]
        wait_end(d, a)
        b = create(d, {"duration_ms": 3600000, "name": "second"})["id"]
        d.delete("/v1/tasks/" + b)
        c = create(d, {"duration_ms": 3600000, "delay_ms": 3600000})["id"]
        code, out, err = ctl(d, "ls")
        assert code == 0, err
        assert [l.split()[0] for l in out.splitlines()[1:]] == [c, b, a], out
        col = out.splitlines()[0].index("STATE")      # aligned columns
        for line, state in zip(out.splitlines()[1:], ("scheduled", "cancelled", "succeeded")):
            assert line[col:].startswith(state), (col, out)
        golden("ctl-ls.txt", out)
        code, out, err = ctl(d, "ls", "--state", "cancelled,succeeded", "--limit", "1")
        assert out.splitlines()[1].startswith(b) and "more" in out, out
        code, out, err = ctl(d, "--json", "ls", "--state", "succeeded")
        assert out == d.get("/v1/tasks?state=succeeded").body.decode() + "\n"
        code, out, err = ctl(d, "ls", "--state", "nonsense")
        assert code == 5 and err, (code, err)


def test_ls_fits_the_width():
    with Daemon() as d:
        create(d, {"duration_ms": 1, "name": "a rather long name " * 5})
        for cols in ("100", "70", "50", "30"):
            code, out, err = ctl(d, "ls", env={"COLUMNS": cols})
            assert code == 0, err
            for line in out.splitlines():
                assert len(line) <= max(int(cols), 26), (cols, line)
        out = ctl(d, "ls", env={"COLUMNS": "70"})[1]
        assert "\u2026" in out, out             # the name was cut
        assert "STATE" in out, out


def pty_run(d, args, env=None, cols=60):
    """Run evtaskctl with stdout on a terminal of cols columns; its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    e = ctl_env(d, env=env)
    e.pop("COLUMNS")
    p = subprocess.Popen([EVTASKCTL] + args, stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=30)
    os.close(master)
    return out.decode()


def test_colours_only_on_a_terminal_and_never_with_no_color():
    with Daemon() as d:
        tid = create(d, {"duration_ms": 1, "name": "x" * 80})["id"]
        wait_end(d, tid)
        out = pty_run(d, ["ls"])
        assert "\033[32msucceeded\033[0m" in out, repr(out)
        for line in out.splitlines():             # the terminal's 60 columns
            assert len(re.sub("\033\\[[0-9;]*m", "", line)) <= 60, line
        assert "\033[" not in pty_run(d, ["ls"], env={"NO_COLOR": "1"})
        assert "\033[" not in pty_run(d, ["--json", "ls"])
        assert "\033[" not in ctl(d, "ls")[1]      # not a terminal


def test_events_one_line_per_change():
    with Daemon() as d:
        tid = create(d, {"duration_ms": 50, "delay_ms": 300})["id"]
        code, out, err = ctl(d, "events", "--task", tid)
        assert code == 0, err
        states = [l.split()[2] for l in out.splitlines()]
        assert states == ["scheduled", "running", "succeeded"], out
        golden("ctl-events.txt", out)
        # ended before: the current state, and done
        code, out, err = ctl(d, "--json", "events", "--task", tid)
        docs = [json.loads(l) for l in out.splitlines()]
        assert [x["state"] for x in docs] == ["succeeded"], out
        assert ctl(d, "events", "--task", "01ARZ3NDEKTSV4RRFFQ69G5FAV")[0] == 5


def test_events_json_stream():
    with Daemon() as d:
        p = ctl_start(d, "--json", "events")
        # its stream is open once parked (no event tells: poll the gauge)
        harness.eventually(lambda: harness.metric(
            d, "evtaskd_http_parked_requests") >= 1)
        tid = create(d, {"duration_ms": 1})["id"]
        seen = []
        while "succeeded" not in seen:
            doc = json.loads(p.stdout.readline())
            assert doc["id"] == tid
            seen.append(doc["state"])
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
        assert p.returncode == 0
        assert seen == ["scheduled", "running", "succeeded"], seen


# -- where the daemon is -----------------------------------------------------

def test_unix_socket():
    path = os.path.join(tmpdir(), "evtaskd.sock")
    with Daemon(listen=("unix:" + path,)) as d:
        code, out, err = ctl(d, "sleep", "10ms", "--wait", url="unix:" + path)
        assert code == 0 and "succeeded" in out, (code, out, err)
        code, out, err = ctl(None, "--url", "unix:" + path, "ls")
        assert code == 0 and "succeeded" in out, err


def test_token_file():
    d0 = tmpdir()
    token = harness.write_file(d0, "token", "s3cret-token-with-enough-entropy\n", 0o600)
    cfg = write_json(d0, "evtaskd.json", {"auth": {"token_file": token}})
    with Daemon("-c", cfg) as d:
        code, out, err = ctl(d, "ls")
        assert code == 5 and "--token-file" in err and "EVTASKD_TOKEN_FILE" in err, err
        assert ctl(d, "--token-file", token, "ls")[0] == 0
        assert ctl(d, "ls", env={"EVTASKD_TOKEN_FILE": token})[0] == 0
        bad = harness.write_file(d0, "bad", "wrong\n", 0o600)
        assert ctl(d, "--token-file", bad, "ls")[0] == 5
        code, out, err = ctl(d, "--token-file", "/nonexistent", "ls")
        assert code == 2 and "/nonexistent" in err, err


# -- 0.2 endpoints: run once they land ---------------------------------------

def need(d, path):
    if not has_endpoint(d, path):
        code, out, err = ctl(d, *{"/v1/jobs": ["jobs"],
                                  "/v1/schedules": ["schedules", "ls"]}.get(
                                      path, ["logs", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]))
        assert code == 5 and "older than 0.2" in err, (code, err)
        raise SkipTest("this daemon has no %s yet" % re.sub(
            r"/v1/tasks/[^/]+/", "/v1/tasks/ID/", path))


def test_jobs():
    with Daemon("-c", jobs_config()) as d:
        need(d, "/v1/jobs")
        code, out, err = ctl(d, "jobs")
        assert code == 0, err
        names = [l.split()[0] for l in out.splitlines()[1:] if not l.startswith("(")]
        assert names == ["fail", "hello", "quick"], out
        code, out, err = ctl(d, "--json", "jobs")
        assert out == d.get("/v1/jobs").body.decode() + "\n"


def test_logs():
    with Daemon("-c", jobs_config()) as d:
        tid = create(d, {"kind": "command", "job": "quick"})["id"]
        wait_end(d, tid)
        need(d, "/v1/tasks/%s/output" % tid)
        code, out, err = ctl(d, "logs", tid)
        assert code == 0 and out == "line one\nline two\n", (out, err)
        code, out, err = ctl(d, "run", "quick", "--follow")
        assert code == 0 and "line one\nline two\n" in out, (out, err)


def test_logs_follow_streams_as_it_comes():
    with Daemon("-c", jobs_config()) as d:
        tid = create(d, {"kind": "command", "job": "hello", "args": {"who": "al"}})["id"]
        need(d, "/v1/tasks/%s/output" % tid)
        p = ctl_start(d, "logs", "-f", tid)
        assert p.stdout.readline() == "hello al\n"   # before the task ends
        d.delete("/v1/tasks/" + tid)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err


def test_schedules():
    with Daemon("-c", jobs_config()) as d:
        need(d, "/v1/schedules")
        code, sid, err = ctl(d, "schedules", "add", "nightly", "--cron",
                             "30 2 * * *", "--tz", "Europe/Berlin", "--",
                             "run", "hello", "who=bob")
        assert code == 0, err
        sid = sid.strip()
        code, out, err = ctl(d, "schedules", "ls")
        assert code == 0 and sid in out and "30 2 * * * Europe/Berlin" in out, out
        assert ctl(d, "schedules", "pause", sid)[0] == 0
        assert "paused" in ctl(d, "schedules", "show", sid)[1]
        assert ctl(d, "schedules", "resume", sid)[0] == 0
        assert ctl(d, "schedules", "rm", sid, "--cancel-running")[0] == 0
        assert ctl(d, "schedules", "show", sid)[0] == 5


if __name__ == "__main__":
    harness.run(globals())
