"""Completion callbacks (CONTRACT §9): a real local HTTP receiver records
what the daemon POSTs. Delivery on each listed event and none on others,
the signature, retries with growing spacing, a hanging receiver cut at
timeout_ms, deliveries that survive SIGKILL with their ids, no redirects,
https verified against the system's CAs, 422 for an unknown name, and bad
configs refused with their place."""

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time

import harness
from receiver import Receiver
from harness import Daemon, create, is_problem, metric, post_task, \
    run_daemon, wait_end, write_file, write_json

SECRET = "s3cret-for-tests"


def config(td, receivers, secret=SECRET, **top):
    """A config with one callback per receiver name: {name: {url, ...}}."""
    sec = write_file(td, "hook.secret", secret + "\n", 0o600)
    cbs = {}
    for name, spec in receivers.items():
        cbs[name] = dict({"secret_file": sec}, **spec)
    doc = dict(top)
    doc["callbacks"] = cbs
    return write_json(td, "evtaskd.json", doc)


def wait_callback(d, tid, state, timeout=10):
    """The task once its callback member is in state (null: None); polled,
    as no event names it (SSE would: this keeps the tests short)."""
    def check():
        t = d.get("/v1/tasks/" + tid).json()
        cb = t["callback"]
        if state is None:
            return t if cb is None else None
        return t if cb is not None and cb["state"] == state else None
    return harness.eventually(check, timeout=timeout)


def signature_ok(req, secret=SECRET):
    """Does Evtaskd-Signature verify the body under secret?"""
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})",
                     req["headers"]["evtaskd-signature"])
    assert m, req["headers"]
    want = hmac.new(secret.encode(), m.group(1).encode() + b"." + req["body"],
                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, m.group(2)) and \
        abs(int(m.group(1)) - time.time()) < 60


def test_delivery_on_listed_events_only():
    td = harness.tmpdir()
    job = harness.script(td, "fail.sh", "exit 3\n")
    with Receiver() as r:
        cfg = config(td, {"ci": {"url": r.url,
                                 "events": ["succeeded", "cancelled"]}},
                     jobs={"fail": {"argv": [job]}})
        with Daemon("-c", cfg) as d:
            ok = create(d, {"duration_ms": 0, "callback": "ci"})
            assert ok["callback"] == {"name": "ci", "state": "pending",
                                      "attempts": 0, "last_status": None,
                                      "last_error": None,
                                      "delivered_at": None}, ok
            long = create(d, {"duration_ms": 60000, "callback": "ci"})
            fail = create(d, {"kind": "command", "job": "fail",
                              "callback": "ci"})
            slow = create(d, {"duration_ms": 60000, "timeout_ms": 50,
                              "callback": "ci"})
            plain = create(d, {"duration_ms": 0})
            assert plain["callback"] is None
            assert d.delete("/v1/tasks/" + long["id"]).status == 200
            # not listed: nothing is sent, the member becomes null
            for t, state in ((fail, "failed"), (slow, "timed_out")):
                assert wait_end(d, t["id"])["state"] == state
                wait_callback(d, t["id"], None)
            for t in (ok, long):
                done = wait_callback(d, t["id"], "delivered")["callback"]
                assert done["attempts"] == 1 and done["last_status"] == 200
                assert done["last_error"] is None and done["delivered_at"]
            reqs = r.wait(2)
            got = {json.loads(q["body"])["task"]["id"]:
                   json.loads(q["body"])["task"]["state"] for q in reqs}
            assert got == {ok["id"]: "succeeded", long["id"]: "cancelled"}, got
            assert len(r.requests) == 2, r.requests
            assert metric(d, "evtaskd_callback_deliveries_total",
                          'outcome="delivered"') == 2
            assert metric(d, "evtaskd_callback_attempts_total",
                          'result="2xx"') == 2
            assert metric(d, "evtaskd_callback_outbox") == 0


def test_signature_headers_and_body():
    td = harness.tmpdir()
    with Receiver() as r, Daemon("-c", config(td, {"ci": {"url": r.url}})) as d:
        t = create(d, {"duration_ms": 0, "name": "sig", "callback": "ci"})
        req = r.wait(1)[0]
        assert req["path"] == "/hook"
        assert req["headers"]["content-type"] == "application/json"
        body = json.loads(req["body"])
        assert set(body) == {"type", "delivery", "task"}, body
        assert body["type"] == "task.finished"
        assert body["delivery"] == req["headers"]["evtaskd-delivery"]
        assert re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", body["delivery"])
        assert body["task"]["id"] == t["id"]
        assert body["task"]["state"] == "succeeded"
        assert signature_ok(req)
        assert not signature_ok(req, secret="another")
        wait_callback(d, t["id"], "delivered")


def test_secret_reread_on_sighup_and_mode_warning():
    td = harness.tmpdir()
    with Receiver() as r:
        cfg = config(td, {"ci": {"url": r.url}})
        os.chmod(os.path.join(td, "hook.secret"), 0o644)
        with Daemon("-c", cfg) as d:
            d.wait_log("callback secret file can be read by others")
            create(d, {"duration_ms": 0, "callback": "ci"})
            assert signature_ok(r.wait(1)[0])
            write_file(td, "hook.secret", "rotated\n", 0o600)
            d.send_signal(signal.SIGHUP)
            d.wait_log("reloaded")
            create(d, {"duration_ms": 0, "callback": "ci"})
            req = r.wait(2)[1]
            assert signature_ok(req, secret="rotated")


def test_unknown_callback_is_422():
    td = harness.tmpdir()
    with Daemon("-c", config(td, {"ci": {"url": "http://127.0.0.1:9/"}})) as d:
        p = is_problem(post_task(d, {"duration_ms": 0, "callback": "nope"},
                                 status=422), 422)
        assert p["errors"][0]["pointer"] == "/callback", p
        assert "nope" in p["errors"][0]["detail"], p
        p = is_problem(post_task(d, {"callback": 3}, status=422), 422)
        assert p["errors"][0]["pointer"] == "/callback", p


def test_500_twice_then_200_three_attempts_growing_spacing():
    td = harness.tmpdir()
    answer = lambda n, path: (500 if n < 2 else 200, {}, 0)
    with Receiver(answer) as r, \
            Daemon("-c", config(td, {"ci": {"url": r.url}})) as d:
        t = create(d, {"duration_ms": 0, "callback": "ci"})
        first = r.wait(1)[0]
        reqs = r.wait(3, timeout=15)
        ids = {q["headers"]["evtaskd-delivery"] for q in reqs}
        assert len(ids) == 1, ids           # one delivery, three attempts
        gap1 = reqs[1]["at"] - reqs[0]["at"]
        gap2 = reqs[2]["at"] - reqs[1]["at"]
        # 1 s, then 2 s (as the receiver's thread saw the requests come)
        assert 0.7 <= gap1 < 1.9 * harness.SLOW, gap1
        assert gap1 + 0.5 <= gap2 < 3.5 * harness.SLOW, (gap1, gap2)
        done = wait_callback(d, t["id"], "delivered")["callback"]
        assert done["attempts"] == 3 and done["last_status"] == 200, done
        assert first["body"] == reqs[2]["body"]     # the same body each time
        assert metric(d, "evtaskd_callback_attempts_total",
                      'result="5xx"') == 2


def test_hanging_receiver_is_cut_at_timeout_ms():
    td = harness.tmpdir()
    answer = lambda n, path: (200, {}, 30)
    limit = 300 * harness.SLOW
    with Receiver(answer) as r, Daemon("-c", config(td, {"ci": {
            "url": r.url, "timeout_ms": limit, "max_attempts": 1}})) as d:
        t = create(d, {"duration_ms": 0, "callback": "ci"})
        came = r.wait(1)[0]["at"]
        cb = wait_callback(d, t["id"], "failed")["callback"]
        cut = time.monotonic() - came
        assert cut < limit / 1000 + 2, cut  # not the 30 s it would hang
        assert cb["attempts"] == 1 and cb["last_status"] is None, cb
        assert "timed out" in cb["last_error"].lower(), cb
        assert metric(d, "evtaskd_callback_attempts_total",
                      'result="timeout"') == 1
        assert metric(d, "evtaskd_callback_deliveries_total",
                      'outcome="failed"') == 1


def test_redirect_is_not_followed():
    td = harness.tmpdir()
    answer = lambda n, path: (302, {"Location": "/elsewhere"}, 0)
    with Receiver(answer) as r, Daemon("-c", config(td, {"ci": {
            "url": r.url, "max_attempts": 1}})) as d:
        t = create(d, {"duration_ms": 0, "callback": "ci"})
        cb = wait_callback(d, t["id"], "failed")["callback"]
        assert cb["last_status"] == 302, cb
        assert "redirect" in cb["last_error"], cb
        assert [q["path"] for q in r.requests] == ["/hook"]


def test_https_self_signed_fails_verification():
    td = harness.tmpdir()
    key, crt = os.path.join(td, "key.pem"), os.path.join(td, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "1",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with Receiver(tls=(crt, key)) as r, Daemon("-c", config(td, {"ci": {
            "url": r.url, "max_attempts": 1}})) as d:
        assert r.url.startswith("https://")
        t = create(d, {"duration_ms": 0, "callback": "ci"})
        cb = wait_callback(d, t["id"], "failed")["callback"]
        assert "certificate" in cb["last_error"].lower(), cb
        assert cb["last_status"] is None, cb
        assert r.requests == []             # nothing was sent in clear


def test_pending_deliveries_survive_sigkill_with_their_ids():
    td = harness.tmpdir()
    state = os.path.join(td, "state")
    failing = [True]
    answer = lambda n, path: (503 if failing[0] else 200, {}, 0)
    with Receiver(answer) as r:
        cfg = config(td, {"ci": {"url": r.url}})
        d = Daemon("-c", cfg, "-d", state)
        try:
            ids = [create(d, {"duration_ms": 0, "callback": "ci"})["id"]
                   for _ in range(3)]
            first = r.wait(3)
            before = {json.loads(q["body"])["task"]["id"]:
                      q["headers"]["evtaskd-delivery"] for q in first}
            assert set(before) == set(ids), before
        finally:
            d.kill()                        # SIGKILL: pending, mid-back-off
        failing[0] = False
        with Daemon("-c", cfg, "-d", state) as d2:
            d2.wait_log("resumed 3 pending callback deliveries")
            for tid in ids:
                wait_callback(d2, tid, "delivered")
            after = {json.loads(q["body"])["task"]["id"]:
                     q["headers"]["evtaskd-delivery"] for q in r.requests[3:]}
            assert after == before, (before, after)
            assert metric(d2, "evtaskd_callback_outbox") == 0
        # delivered ones are not sent again after another restart
        n = len(r.requests)
        with Daemon("-c", cfg, "-d", state) as d3:
            assert d3.get("/v1/tasks/" + ids[0]).json()["callback"]["state"] \
                == "delivered"
        assert len(r.requests) == n


# -- bad configs: exit 2 at start, with FILE:LINE:COLUMN ---------------------

BAD_CASES = [
    # (callback definition as JSON text, key path, message)
    ('{"url": "http://h/", "secret_file": "@S@", "retries": 3}',
     "callbacks.ci.retries", "unknown key"),
    ('{"url": "http://h/", "secret_file": "relative.secret"}',
     "callbacks.ci.secret_file", "must be an absolute path"),
    ('{"url": "http://h/", "secret_file": "/nonexistent/x.secret"}',
     "callbacks.ci.secret_file", "No such file"),
    ('{"url": "ftp://h/", "secret_file": "@S@"}',
     "callbacks.ci.url", "is not an http:// or https:// URL"),
    ('{"url": "http://h/", "secret_file": "@S@", "events": ["running"]}',
     "callbacks.ci.events[0]", "is not one of"),
    ('{"url": "http://h/", "secret_file": "@S@", "max_attempts": 0}',
     "callbacks.ci.max_attempts", "must be between 1 and 100"),
]


def test_bad_configs_exit_2_with_their_place():
    td = harness.tmpdir()
    sec = write_file(td, "ok.secret", "x\n", 0o600)
    for spec, path, msg in BAD_CASES:
        text = '{\n  "callbacks": {\n    "ci": %s\n  }\n}\n' % \
            spec.replace("@S@", sec)
        cfg = write_file(td, "bad.json", text)
        code, _, err = run_daemon("-c", cfg, "--memory", "-l", "127.0.0.1:0")
        assert code == 2, (code, err)
        m = re.search(r"^%s:(\d+):(\d+): %s: (.*)$" % (re.escape(cfg),
                      re.escape(path)), err, re.M)
        assert m, (path, err)
        assert msg in m.group(3), (msg, err)
        assert int(m.group(1)) == 3, err    # the line of "ci"


if __name__ == "__main__":
    harness.run(globals())
