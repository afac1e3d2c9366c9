"""Tasks over HTTP: create, get, long-poll, list and page, idempotency,
limits, and the request-body rules of the contract."""

import re
import threading
import time

import harness
from harness import Daemon, create, is_problem, post_task, status_of, wait_end

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = ("id", "kind", "name", "state", "created_at", "start_at",
          "started_at", "finished_at", "duration_ms", "timeout_ms",
          "metadata", "cancellation", "cleanup", "result")


def check_task(t):
    for f in FIELDS:
        assert f in t, (f, t)
    assert ULID_RE.match(t["id"]), t["id"]
    for f in ("created_at", "start_at", "started_at", "finished_at"):
        assert t[f] is None or TIME_RE.match(t[f]), (f, t[f])
    return t


def test_create_sleep_task():
    with Daemon() as d:
        r = post_task(d, {"duration_ms": 60000, "name": "nightly-report",
                          "metadata": {"owner": "ops"}})
        t = check_task(r.json())
        assert r.headers["location"] == "/v1/tasks/" + t["id"]
        assert r.headers["content-type"] == "application/json"
        assert t["kind"] == "sleep" and t["state"] == "running"
        assert t["name"] == "nightly-report" and t["metadata"] == {"owner": "ops"}
        assert t["duration_ms"] == 60000 and t["timeout_ms"] is None
        assert t["cancellation"] is None and t["cleanup"] is None
        assert t["started_at"] is not None and t["finished_at"] is None
        g = d.get(r.headers["location"])
        assert g.status == 200 and g.json()["id"] == t["id"]


def test_curl_d_form_content_type_is_json():
    with Daemon() as d:
        r = d.post("/v1/tasks", body='{"duration_ms":1000}',
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 201, r
        r = d.post("/v1/tasks", body='{"duration_ms":1000}')      # no type
        assert r.status == 201, r
        r = d.post("/v1/tasks", body='{"duration_ms":1000}',
                   headers={"Content-Type": "application/json; charset=utf-8"})
        assert r.status == 201, r


def test_other_content_type_415():
    with Daemon() as d:
        r = d.post("/v1/tasks", body='{"duration_ms":1000}',
                   headers={"Content-Type": "text/plain"})
        is_problem(r, 415)


def test_body_over_limit_413_before_reading():
    with Daemon() as d:
        # 1 GiB announced, nothing sent: the answer must come at once.
        raw = d.raw(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Content-Length: 1073741824\r\n\r\n{", timeout=5)
        assert status_of(raw) == 413, raw
        assert b"problem+json" in raw
        big = '{"duration_ms":1,"metadata":{"x":"' + "a" * 70000 + '"}}'
        is_problem(d.post("/v1/tasks", body=big), 413)
        assert d.get("/healthz").status == 200


def test_chunked_body_411():
    with Daemon() as d:
        raw = d.raw(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                    b"14\r\n{\"duration_ms\":1000}\r\n0\r\n\r\n")
        assert status_of(raw) == 411, raw


def test_bad_json_400_with_place():
    with Daemon() as d:
        p = is_problem(d.post("/v1/tasks", body='{"duration_ms":\n  5000,,}'), 400)
        assert p["line"] == 2 and p["column"] >= 6, p
        assert "line 2" in p["detail"], p
        is_problem(d.post("/v1/tasks", body='{"a":1,"a":2}'), 400)   # duplicate key
        is_problem(d.post("/v1/tasks", body='[' * 60000), 400)       # too deep
        is_problem(d.post("/v1/tasks", body=b'{"name":"\xff"}'), 400)  # not UTF-8


# docs/API.md: an empty body is bad JSON
def test_empty_body_400_bad_json():
    with Daemon() as d:
        for headers in ({"Content-Type": "application/json"}, {}):
            p = is_problem(d.post("/v1/tasks", body=b"", headers=headers), 400)
            assert p["type"] == "urn:evtaskd:problem:bad-json", p
        assert d.get("/v1/tasks").json()["tasks"] == []


def test_invalid_fields_422_lists_every_error():
    with Daemon() as d:
        p = is_problem(d.post("/v1/tasks", json={
            "durration_ms": 5, "timeout_ms": -1, "name": 7,
            "metadata": [1], "kind": "sleep"}), 422)
        pointers = sorted(e["pointer"] for e in p["errors"])
        assert pointers == ["/duration_ms", "/durration_ms", "/metadata",
                            "/name", "/timeout_ms"], p
        for e in p["errors"]:
            assert e["detail"], e
        p = is_problem(d.post("/v1/tasks", json=[1, 2]), 422)
        assert p["errors"][0]["pointer"] == "", p
        p = is_problem(d.post("/v1/tasks", json={"kind": "nope", "duration_ms": 1}), 422)
        assert p["errors"][0]["pointer"] == "/kind"


def test_max_duration_enforced():
    with Daemon() as d:
        p = is_problem(d.post("/v1/tasks", json={"duration_ms": 31536000001}), 422)
        assert p["errors"][0]["pointer"] == "/duration_ms"
        create(d, {"duration_ms": 31536000000})


def test_delay_and_start_at_schedule():
    with Daemon() as d:
        t = create(d, {"duration_ms": 10, "delay_ms": 60000})
        assert t["state"] == "scheduled" and t["started_at"] is None
        start = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
        t = create(d, {"duration_ms": 10, "start_at": start})
        assert t["state"] == "scheduled" and t["start_at"] == start
        t = create(d, {"duration_ms": 0, "delay_ms": 50})
        r = d.get("/v1/tasks/%s?wait=10" % t["id"])
        assert r.json()["state"] == "succeeded", r
        t = r.json()
        assert t["started_at"] >= t["start_at"]


def test_get_unknown_and_malformed_404():
    with Daemon() as d:
        is_problem(d.get("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
        is_problem(d.get("/v1/tasks/not-an-id"), 404)
        is_problem(d.delete("/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_long_poll_returns_on_end():
    with Daemon() as d:
        t = create(d, {"duration_ms": 300})
        t0 = time.monotonic()
        r = d.get("/v1/tasks/%s?wait=30" % t["id"])
        took = time.monotonic() - t0
        assert r.status == 200 and r.json()["state"] == "succeeded", r
        assert took < 10, took


def test_long_poll_times_out_with_current_state():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        t0 = time.monotonic()
        r = d.get("/v1/tasks/%s?wait=0.3" % t["id"])
        took = time.monotonic() - t0
        assert r.status == 200 and r.json()["state"] == "running", r
        assert 0.25 <= took < 10, took
        r = d.get("/v1/tasks/%s?wait=0" % t["id"])
        assert r.json()["state"] == "running"


def test_long_poll_bad_wait_400():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        for w in ("301", "-1", "abc", "", "nan", "inf"):
            is_problem(d.get("/v1/tasks/%s?wait=%s" % (t["id"], w)), 400)
        is_problem(d.get("/v1/tasks/%s?wiat=1" % t["id"]), 400)


def test_long_poll_client_leaving_is_harmless():
    with Daemon() as d:
        t = create(d, {"duration_ms": 200})
        for _ in range(20):
            d.raw(("GET /v1/tasks/%s?wait=100 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                   % t["id"]).encode(), read=False)
        r = d.get("/v1/tasks/%s?wait=30" % t["id"])
        assert r.json()["state"] == "succeeded"
        assert d.get("/healthz").status == 200


def test_list_newest_first_with_filters():
    with Daemon() as d:
        ids = [create(d, {"duration_ms": 60000})["id"] for _ in range(5)]
        done = create(d, {"duration_ms": 0})["id"]
        wait_end(d, done)
        r = d.get("/v1/tasks")
        assert r.status == 200
        body = r.json()
        got = [t["id"] for t in body["tasks"]]
        assert got == [done] + ids[::-1], got
        assert body["next_page_token"] is None
        for t in body["tasks"]:
            check_task(t)
        r = d.get("/v1/tasks?state=running")
        assert [t["id"] for t in r.json()["tasks"]] == ids[::-1]
        r = d.get("/v1/tasks?state=succeeded,failed&kind=sleep")
        assert [t["id"] for t in r.json()["tasks"]] == [done]
        r = d.get("/v1/tasks?state=cancelled")
        assert r.json() == {"tasks": [], "next_page_token": None}


def test_list_bad_query_400():
    with Daemon() as d:
        for q in ("state=bogus", "state=running,", "kind=nope", "limit=0",
                  "limit=1001", "limit=x", "page_token=zzz", "sort=id"):
            is_problem(d.get("/v1/tasks?" + q), 400)


def test_pagination_walks_every_task_once():
    with Daemon() as d:
        ids = set()
        ended = []
        for i in range(57):
            tid = create(d, {"duration_ms": 60000 if i % 2 else 0})["id"]
            ids.add(tid)
            if i % 2 == 0:
                ended.append(tid)
        for tid in ended:       # their endings are stored (a commit later)
            wait_end(d, tid)
        seen = []
        token = None
        pages = 0
        while True:
            q = "/v1/tasks?limit=10" + ("&page_token=" + token if token else "")
            body = d.get(q).json()
            seen += [t["id"] for t in body["tasks"]]
            pages += 1
            token = body["next_page_token"]
            if token is None:
                break
        assert pages == 6, pages
        assert len(seen) == len(set(seen)) == 57 and set(seen) == ids
        assert seen == sorted(seen, reverse=True)
        # filtered pages too
        seen = []
        token = None
        while True:
            q = "/v1/tasks?limit=7&state=running" + ("&page_token=" + token if token else "")
            body = d.get(q).json()
            seen += [t["id"] for t in body["tasks"]]
            token = body["next_page_token"]
            if token is None:
                break
        assert len(seen) == len(set(seen)) == 28, len(seen)


def test_idempotency_key_replays():
    with Daemon() as d:
        h = {"Idempotency-Key": "order-42"}
        a = create(d, {"duration_ms": 60000, "name": "a"}, headers=h)
        b = create(d, {"name": "a", "duration_ms": 60000}, status=200, headers=h)
        assert a["id"] == b["id"]
        p = is_problem(d.post("/v1/tasks", json={"duration_ms": 1}, headers=h), 422)
        assert "Idempotency-Key" in p["detail"]
        c = create(d, {"duration_ms": 60000, "name": "a"},
                   headers={"Idempotency-Key": "order-43"})
        assert c["id"] != a["id"]
        is_problem(d.post("/v1/tasks", json={"duration_ms": 1},
                          headers={"Idempotency-Key": "x" * 256}), 400)


def test_idempotency_key_concurrent_same_key():
    with Daemon() as d:
        results = []

        def go():
            r = d.post("/v1/tasks", json={"duration_ms": 60000},
                       headers={"Idempotency-Key": "same"})
            results.append((r.status, r.json()["id"]))
        threads = [threading.Thread(target=go) for _ in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        statuses = sorted(s for s, _ in results)
        assert statuses == [200] * 15 + [201], statuses
        assert len({i for _, i in results}) == 1


def test_idempotency_key_after_task_ended():
    with Daemon() as d:
        h = {"Idempotency-Key": "k1"}
        a = create(d, {"duration_ms": 0}, headers=h)
        wait_end(d, a["id"])
        b = create(d, {"duration_ms": 0}, status=200, headers=h)
        assert b["id"] == a["id"] and b["state"] == "succeeded", (a, b)


def test_ids_strictly_increase():
    with Daemon() as d:
        ids = [create(d, {"duration_ms": 0})["id"] for _ in range(50)]
        assert ids == sorted(ids) and len(set(ids)) == 50


def test_head_and_405_on_tasks():
    with Daemon() as d:
        r = d.request("PUT", "/v1/tasks")
        is_problem(r, 405)
        assert r.headers["allow"] == "GET, HEAD, POST"
        r = d.request("POST", "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        is_problem(r, 405)
        assert r.headers["allow"] == "GET, HEAD, DELETE"


harness.run(globals())
