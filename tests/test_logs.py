"""Logs that tell an operator what happened: one entry per task outcome
(succeeded at info; failed, cancelled, timed out at warn; a start that
failed at error) with the task id; access lines with the query, the
created task's id and a stream's bytes; journald's rules: <N> prefixes on
every stream line only when JOURNAL_STREAM names stderr, and outcome
entries with fields over the native protocol (a fake journal socket bound
here, named by EVTASKD_JOURNAL_SOCKET: libsystemd's path cannot be moved)."""

import os
import re
import signal
import socket
import struct

import harness
from harness import Daemon, EventStream, create, script, wait_end, write_json

STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "


def outcome(d, tid, state, level=r"\w+"):
    """The stream line of task tid's end (waited for); its text."""
    return d.wait_log(r"(%s|<\d>)(%s )?task %s %s: .*" % (
        STAMP[1:], level, tid, state)).group(0)


def jobs_config(td, **top):
    fail = script(td, "fail.sh", "exit 3\n")
    bad_cleanup = script(td, "bad-cleanup.sh", "exit 1\n")
    doc = dict(top)
    doc["jobs"] = {
        "fail": {"argv": [fail]},
        "missing": {"argv": [os.path.join(td, "no-such-program")]},
        "slow": {"argv": ["/bin/sleep", "30"], "cleanup_argv": [bad_cleanup]},
    }
    return write_json(td, "evtaskd.json", doc)


def test_one_line_per_outcome():
    td = harness.tmpdir()
    with Daemon("-c", jobs_config(td)) as d:
        ok = create(d, {"duration_ms": 1})
        wait_end(d, ok["id"])
        line = outcome(d, ok["id"], "succeeded", "info")
        assert "kind=sleep" in line and "total_ms=" in line, line
        assert "run_ms=" in line, line

        f = create(d, {"kind": "command", "job": "fail"})
        wait_end(d, f["id"])
        line = outcome(d, f["id"], "failed", "warn")
        assert "kind=command job=fail" in line, line

        m = create(d, {"kind": "command", "job": "missing"})
        assert wait_end(d, m["id"])["state"] == "failed"
        line = outcome(d, m["id"], "failed", "error")
        assert "job=missing" in line and "error=" in line, line

        c = create(d, {"duration_ms": 60000, "cleanup_ms": 5})
        d.delete("/v1/tasks/%s?reason=%s" % (c["id"], "no%0Alonger"))
        line = outcome(d, c["id"], "cancelled", "warn")
        assert 'reason=client message="no\\nlonger"' in line, line
        assert "cleanup=succeeded cleanup_ms=" in line, line

        t = create(d, {"duration_ms": 60000, "timeout_ms": 50})
        wait_end(d, t["id"])
        line = outcome(d, t["id"], "timed_out", "warn")
        assert "reason=timeout cleanup=succeeded" in line, line

        s = create(d, {"kind": "command", "job": "slow"})
        d.delete("/v1/tasks/%s" % s["id"])
        line = outcome(d, s["id"], "cancelled", "warn")
        assert "job=slow reason=client cleanup=failed" in line, line
        assert "cleanup_detail=" in line, line


def test_warn_level_keeps_failures_only():
    with Daemon("--log-level", "warn") as d:
        ok = create(d, {"duration_ms": 1})
        wait_end(d, ok["id"])
        c = create(d, {"duration_ms": 60000})
        d.delete("/v1/tasks/%s" % c["id"])
        outcome(d, c["id"], "cancelled", "warn")
        assert "task %s succeeded" % ok["id"] not in d.log()


def test_access_line_query_created_and_stream_bytes():
    with Daemon() as d:
        d.get("/v1/tasks?state=running&limit=5")
        d.wait_log(r'"GET /v1/tasks\?state=running&limit=5" 200 \d+ ')
        t = create(d, {"duration_ms": 60000})
        d.wait_log(r'"POST /v1/tasks" 201 \d+ \d+us created=%s$' % t["id"])
        es = EventStream(d, "?task=" + t["id"])
        d.delete("/v1/tasks/%s" % t["id"])
        es.until_state(t["id"], "cancelled")
        es.close()
        m = d.wait_log(r'"GET /v1/events\?task=%s" 200 (\d+) ' % t["id"])
        assert int(m.group(1)) > 500, m.group(0)


def test_prefixes_when_journal_stream_names_stderr():
    td = harness.tmpdir()
    cfg = write_json(td, "evtaskd.json", {"retention_s": 60})
    # Entries with fields fall back to the stream when the journal's
    # socket is not there: they get the same prefix.
    env = {"EVTASKD_JOURNAL_SOCKET": os.path.join(td, "no-journal")}
    with Daemon("-c", cfg, journal_stream=True, env=env) as d:
        t = create(d, {"duration_ms": 60000})
        d.delete("/v1/tasks/%s" % t["id"])
        outcome(d, t["id"], "cancelled")
        with open(cfg, "w") as f:
            f.write('{"retention_s": "x",\n "nope": 1}\n')
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded|unknown key")
        d.wait_log(r"nope")
        d.stop()
        lines = [l for l in d.log().split("\n") if l]
    assert lines, lines
    bad = [l for l in lines if not re.match(r"^<[3-7]>", l)]
    assert not bad, bad
    assert any(l.startswith("<4>task %s cancelled" % t["id"]) for l in lines)
    errs = [l for l in lines if "nope" in l or "retention_s" in l]
    assert len(errs) >= 2 and all(l.startswith("<3>") for l in errs), errs


def test_no_prefixes_when_journal_stream_names_something_else():
    st = os.fstat(0)
    env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
    with Daemon(env=env) as d:
        d.get("/healthz")
        d.wait_log(r'"GET /healthz" 200')
        d.stop()
        lines = [l for l in d.log().split("\n") if l]
    bad = [l for l in lines if not re.match(STAMP, l)]
    assert not bad, bad


def parse_native(data):
    """A native-protocol datagram: its fields (both encodings)."""
    fields = {}
    while data:
        nl = data.index(b"\n")
        eq = data.find(b"=", 0, nl)
        if eq >= 0:
            fields[data[:eq].decode()] = data[eq + 1:nl].decode()
            data = data[nl + 1:]
        else:
            name = data[:nl].decode()
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[name] = data[nl + 9:nl + 9 + n].decode()
            assert data[nl + 9 + n:nl + 10 + n] == b"\n"
            data = data[nl + 10 + n:]
    return fields


def test_native_journal_entries_with_fields():
    td = harness.tmpdir()
    path = os.path.join(td, "journal.socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10 * harness.SLOW)
    env = {"EVTASKD_JOURNAL_SOCKET": path}
    try:
        with Daemon("-c", jobs_config(td), journal_stream=True, env=env) as d:
            t = create(d, {"duration_ms": 60000, "name": "x"})
            d.delete("/v1/tasks/%s?reason=done" % t["id"])
            f = create(d, {"kind": "command", "job": "fail"})
            wait_end(d, f["id"])
            got = {}
            while len(got) < 2:
                e = parse_native(sock.recv(65536))
                got[e["TASK_ID"]] = e
            log = d.log()
    finally:
        sock.close()
    c = got[t["id"]]
    assert c["PRIORITY"] == "4" and c["SYSLOG_IDENTIFIER"] == "evtaskd", c
    assert c["STATE"] == "cancelled" and c["REASON"] == "client", c
    assert c["KIND"] == "sleep" and c["CLEANUP"] == "succeeded", c
    assert "JOB" not in c, c
    assert c["MESSAGE"].startswith("task %s cancelled: " % t["id"]), c
    e = got[f["id"]]
    assert e["JOB"] == "fail" and e["STATE"] == "failed", e
    assert "REASON" not in e, e
    # Sent to the journal, not also to the stream.
    assert "task %s" % t["id"] not in log, log


if __name__ == "__main__":
    harness.run(globals())
