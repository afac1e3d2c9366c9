"""GET /v1/jobs: the isolation mode in use and every configured job, sorted
by name, with its description, args, limits and resources, and how many of
its tasks run and wait for a slot; a reload shows the new jobs."""

import re
import signal

import harness
from harness import (Daemon, create, is_problem, script, wait_end, write_file,
                     write_json)

ISOLATIONS = ("cgroup", "process_group")   # what "auto" may resolve to


def jobs(d, **kw):
    """GET /v1/jobs (asserting 200 and JSON); the answer."""
    r = d.get("/v1/jobs", **kw)
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json", r.headers
    return r.json()


def by_name(answer):
    return {j["name"]: j for j in answer["jobs"]}


def counts(d, name):
    j = by_name(jobs(d))[name]
    return j["running"], j["queued"]


def test_shape_sorting_and_descriptions():
    td = harness.tmpdir()
    cfg = write_json(td, "c.json", {
        "isolation": "process_group",
        "jobs": {
            "zeta": {"argv": ["/bin/true"]},
            "backup": {
                "description": "Backs up one host \u2014 with care.",
                "argv": ["/bin/echo", "{target}", "{level}"],
                "args": {"target": {"pattern": "[a-z0-9-]{1,64}",
                                    "required": True,
                                    "description": "The host."},
                         "level": {"pattern": "[0-9]"}},
                "timeout_ms": 600000, "max_concurrent": 2,
                "max_output_bytes": 65536,
                "resources": {"memory_max_bytes": 1048576, "cpu_weight": 50}},
            "Upper": {"argv": ["/bin/true"]},
            "a.b-c_d": {"argv": ["/bin/true"], "resources": {}},
        }})
    with Daemon("-c", cfg) as d:
        a = jobs(d)
        assert set(a) == {"isolation", "jobs"}, a
        assert a["isolation"] == "process_group", a
        # sorted by name, byte order
        assert [j["name"] for j in a["jobs"]] == [
            "Upper", "a.b-c_d", "backup", "zeta"], a
        assert by_name(a)["backup"] == {
            "name": "backup",
            "description": "Backs up one host \u2014 with care.",
            "args": {"target": {"pattern": "[a-z0-9-]{1,64}",
                                "required": True,
                                "description": "The host."},
                     "level": {"pattern": "[0-9]", "required": False,
                               "description": None}},
            "timeout_ms": 600000, "max_concurrent": 2,
            "running": 0, "queued": 0,
            "max_output_bytes": 65536,
            "resources": {"memory_max_bytes": 1048576, "pids_max": None,
                          "cpu_weight": 50},
        }, by_name(a)["backup"]
        # what is not set is null; the defaults of the caps
        for name in ("zeta", "a.b-c_d"):
            assert by_name(a)[name] == {
                "name": name, "description": None, "args": {},
                "timeout_ms": None, "max_concurrent": None,
                "running": 0, "queued": 0, "max_output_bytes": 16777216,
                "resources": {"memory_max_bytes": None, "pids_max": None,
                              "cpu_weight": None},
            }, by_name(a)[name]
        # HEAD is answered as GET, without the body
        r = d.request("HEAD", "/v1/jobs")
        assert r.status == 200 and r.body == b"", r


def test_isolation_in_use():
    td = harness.tmpdir()
    for configured in (None, "auto", "cgroup", "process_group"):
        doc = {} if configured is None else {"isolation": configured}
        with Daemon("-c", write_json(td, "c.json", doc)) as d:
            a = jobs(d)
            assert a["jobs"] == [], a
            # the mode in use, never "auto"
            assert a["isolation"] in ISOLATIONS, (configured, a)
            if configured == "process_group":
                assert a["isolation"] == "process_group", a


def test_counts_running_and_queued():
    td = harness.tmpdir()
    # the cleanup of a task that ran waits for "go": until then it is
    # cancelling, and still counts as running
    hold = script(td, "hold.sh", """\
[ "$EVTASKD_TASK_STARTED" = true ] || exit 0
while [ ! -e @D@/go ]; do sleep 0.02; done
""")
    cfg = write_json(td, "c.json", {"jobs": {
        "nap": {"argv": ["/bin/sleep", "300"], "max_concurrent": 1,
                "cleanup_argv": [hold]},
        "other": {"argv": ["/bin/true"]}}})
    with Daemon("-c", cfg) as d:
        assert counts(d, "nap") == (0, 0)
        run = create(d, {"kind": "command", "job": "nap"})
        assert run["state"] == "running", run
        wait = create(d, {"kind": "command", "job": "nap"})
        assert wait["state"] == "scheduled", wait
        # not due yet: scheduled, but not waiting for a slot
        later = create(d, {"kind": "command", "job": "nap",
                           "delay_ms": 3600000})
        assert later["state"] == "scheduled", later
        assert counts(d, "nap") == (1, 1)
        assert counts(d, "other") == (0, 0)
        # the waiting one cancelled: no longer queued
        c = d.delete("/v1/tasks/" + wait["id"]).json()
        assert c["state"] == "cancelled" and c["started_at"] is None, c
        assert counts(d, "nap") == (1, 0)
        # the running one cancelled: while its cleanup runs it counts
        r = d.delete("/v1/tasks/" + run["id"] + "?wait=false")
        assert r.status == 202 and r.json()["state"] == "cancelling", r
        assert counts(d, "nap") == (1, 0)
        write_file(td, "go", "")
        r = wait_end(d, run["id"])
        assert r["state"] == "cancelled" and r["started_at"] is not None, r
        # nothing runs now, and the later one is not due
        assert counts(d, "nap") == (0, 0)
        c = d.delete("/v1/tasks/" + later["id"]).json()
        assert c["state"] == "cancelled", c
        assert counts(d, "nap") == (0, 0)


def test_reload_adds_a_job():
    td = harness.tmpdir()
    path = write_json(td, "c.json", {"jobs": {"old": {"argv": ["/bin/true"]}}})
    with Daemon("-c", path) as d:
        assert [j["name"] for j in jobs(d)["jobs"]] == ["old"]
        write_json(td, "c.json", {"jobs": {
            "old": {"argv": ["/bin/true"]},
            "new": {"argv": ["/bin/true"], "description": "Added by a reload.",
                    "timeout_ms": 1000}}})
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: 2 jobs")
        a = by_name(jobs(d))
        assert list(a) == ["new", "old"], a
        assert a["new"]["description"] == "Added by a reload.", a
        assert a["new"]["timeout_ms"] == 1000, a


def test_output_cap_clamped_with_a_warning():
    td = harness.tmpdir()
    # the limit comes after the jobs in the file
    text = ('{\n  "jobs": {\n'
            '    "big": {"argv": ["/bin/true"], "max_output_bytes": 1048576},\n'
            '    "fits": {"argv": ["/bin/true"], "max_output_bytes": 4096},\n'
            '    "dflt": {"argv": ["/bin/true"]}\n'
            '  },\n'
            '  "limits": {"max_output_bytes": 65536}\n}\n')
    path = write_file(td, "c.json", text)
    with Daemon("-c", path) as d:
        d.wait_log(re.escape(
            "warn %s:3:36: jobs.big.max_output_bytes: 1048576 is above "
            "limits.max_output_bytes: clamped to 65536" % path))
        a = by_name(jobs(d))
        assert a["big"]["max_output_bytes"] == 65536, a
        assert a["fits"]["max_output_bytes"] == 4096, a
        assert a["dflt"]["max_output_bytes"] == 65536, a
        # only the job that asked for more is warned about
        assert "jobs.dflt" not in d.log() and "jobs.fits" not in d.log()


def test_bad_query_and_auth():
    td = harness.tmpdir()
    token = write_file(td, "token", "s3cret\n", 0o600)
    cfg = write_json(td, "c.json", {"auth": {"token_file": token},
                                    "jobs": {"a": {"argv": ["/bin/true"]}}})
    with Daemon("-c", cfg) as d:
        r = d.get("/v1/jobs")
        is_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        auth = {"Authorization": "Bearer s3cret"}
        assert [j["name"] for j in jobs(d, headers=auth)["jobs"]] == ["a"]
        p = is_problem(d.get("/v1/jobs?verbose=1", headers=auth), 400)
        assert p["type"] == "urn:evtaskd:problem:bad-query", p
        assert "verbose" in p["detail"], p
        p = is_problem(d.post("/v1/jobs", json={}, headers=auth), 405)
        assert d.get("/v1/jobs", headers=auth).status == 200


harness.run(globals())
