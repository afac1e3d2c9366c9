"""HTTP plumbing: /healthz, 404/405 problem bodies, request smuggling,
the access log."""

import harness
from harness import Daemon, is_problem, status_of


def test_healthz():
    with Daemon() as d:
        r = d.get("/healthz")
        assert r.status == 200
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"status": "ok"}


def test_head_healthz():
    with Daemon() as d:
        r = d.request("HEAD", "/healthz")
        assert r.status == 200 and r.body == b""


def test_unknown_path_404():
    with Daemon() as d:
        for path in ("/nope", "/healthz/", "/v2/tasks", "/nope%00", "/ui/a/b"):
            p = is_problem(d.get(path), 404)
            assert p["title"] == "Not Found", p
            assert p["type"].startswith("urn:evtaskd:problem:"), p


def test_wrong_method_405_with_allow():
    with Daemon() as d:
        for method in ("POST", "DELETE", "PUT", "PATCH", "BREW"):
            r = d.request(method, "/healthz")
            p = is_problem(r, 405)
            assert r.headers["allow"] == "GET, HEAD", r.headers
            assert "GET" in p["detail"]


def test_duplicate_content_length_400():
    with Daemon() as d:
        raw = d.raw(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n"
                    b"Content-Length: 1\r\n\r\nx")
        assert status_of(raw) == 400, raw
        assert b"application/problem+json" in raw
        assert d.get("/healthz").status == 200


def test_content_length_with_transfer_encoding_400():
    with Daemon() as d:
        raw = d.raw(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert status_of(raw) == 400, raw


def test_bad_content_length_400():
    with Daemon() as d:
        for v in (b"-1", b"abc", b"1 2", b"0x10"):
            raw = d.raw(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                        + v + b"\r\n\r\n")
            assert status_of(raw) == 400, (v, raw)


def test_keep_alive_many_requests():
    with Daemon() as d:
        c = d.connection()
        for _ in range(200):
            r = d.request("GET", "/healthz", conn=c)
            assert r.status == 200
        c.close()


def test_access_log_line():
    with Daemon() as d:
        d.get("/healthz")
        m = d.wait_log(r'127\.0\.0\.1 "GET /healthz" 200 15 \d+us')
        assert m
        d.get("/no\x01where".replace("\x01", "%01"))
        d.wait_log(r'"GET /no\\x01where" 404 ')


def test_access_log_silenced_at_warn():
    with Daemon("--log-level", "warn") as d:
        d.get("/healthz")
        d.get("/nope")
        d.stop()
        assert "GET /healthz" not in d.log(), d.log()


harness.run(globals())
