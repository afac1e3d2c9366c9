"""docs/openapi.yaml against the real daemon: every route is documented,
and real answers (tasks of both kinds in every interesting state, listings,
problems of every status the daemon can be made to give, the event stream,
health and metrics) validate against the document's schemas, with a status
code and Content-Type that the document lists for the operation.

Needs the yaml and jsonschema modules (Debian: python3-yaml,
python3-jsonschema); without them every test is skipped (exit 77)."""

import json
import os
import re
import signal
import threading
import urllib.parse

import harness
from harness import Daemon, SkipTest, metric, script, write_file, write_json

try:
    import yaml
except ImportError:
    yaml = None
try:
    import jsonschema
except ImportError:
    jsonschema = None

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(os.path.dirname(__file__), "..", "docs", "openapi.yaml")
API_C = os.path.join(HERE, "..", "src", "api.c")
BASE = "https://evtaskd.invalid/openapi.yaml"   # never fetched: in the store
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# -- the document ----------------------------------------------------------

_doc = None


def doc():
    """The parsed document (SkipTest without yaml or jsonschema)."""
    global _doc
    if yaml is None or jsonschema is None:
        raise SkipTest("needs the python3 modules yaml and jsonschema")
    if _doc is None:
        with open(DOC_PATH, encoding="utf-8") as f:
            _doc = yaml.safe_load(f)
    return _doc


def pointer(*parts):
    """A JSON Pointer (RFC 6901) from its reference tokens."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1")
                   for p in parts)


def at(ptr):
    """The node of the document at a JSON Pointer."""
    node = doc()
    for tok in ptr.split("/")[1:]:
        tok = urllib.parse.unquote(tok).replace("~1", "/").replace("~0", "~")
        node = node[int(tok)] if isinstance(node, list) else node[tok]
    return node


def follow(ptr):
    """(node, pointer) after following a chain of local $refs from ptr."""
    node = at(ptr)
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), "only local refs: %r" % ref
        assert ref not in seen, "$ref loop at %r" % ref
        seen.add(ref)
        ptr = ref[1:]
        node = at(ptr)
    return node, ptr


def validator(ptr):
    """A Draft 2020-12 validator for the schema at ptr in the document,
    its "#/components/..." refs resolved in the whole document."""
    d = doc()
    schema = {"$ref": BASE + "#" + urllib.parse.quote(ptr, safe="/~")}
    cls = jsonschema.Draft202012Validator
    checker = getattr(cls, "FORMAT_CHECKER", None) or getattr(
        jsonschema, "draft202012_format_checker", None)
    try:                    # jsonschema >= 4.18: a referencing.Registry
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012
        registry = Registry().with_resource(
            BASE, DRAFT202012.create_resource(d))
        return cls(schema, registry=registry, format_checker=checker)
    except (ImportError, TypeError):    # older (Debian 12: 4.10): RefResolver
        resolver = jsonschema.RefResolver(BASE, d, store={BASE: d})
        return cls(schema, resolver=resolver, format_checker=checker)


def explain(errors, depth=0):
    """Lines saying why, down into the branches of oneOf/anyOf."""
    lines = []
    for e in errors[:10]:
        lines.append("%s at /%s: %s" % ("  " * (depth + 1), "/".join(
            map(str, e.absolute_path)), e.message[:300]))
        if e.context and depth < 3:
            lines += explain(sorted(e.context, key=lambda c: (
                -len(c.absolute_path), str(c.message))), depth + 1)
    return lines


def validate(instance, ptr):
    """Assert instance is valid against the schema at ptr (all errors)."""
    errors = sorted(validator(ptr).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    assert not errors, "%s\ndoes not match %s:\n%s" % (
        json.dumps(instance)[:2000], ptr, "\n".join(explain(errors)))


def schema_ptr(name):
    return pointer("components", "schemas", name)


def operation_ptr(path, method):
    assert path in doc()["paths"], "path %s not in the document" % path
    ops = doc()["paths"][path]
    assert method.lower() in ops, "%s %s not in the document" % (method, path)
    return pointer("paths", path, method.lower())


HEADER_TYPES = {"integer": int, "number": float}


def check(resp, path, method, status=None):
    """Check an answer to METHOD PATH (a path template of the document)
    against the operation: its status is listed, its Content-Type is one of
    that response's media types, its body validates against the media
    type's schema, and the response's required headers are present and
    valid. Returns the parsed body (JSON) or the text."""
    if status is not None:
        assert resp.status == status, resp
    op = operation_ptr(path, method)
    responses = at(op + "/responses")
    code = str(resp.status)
    assert code in responses, "%s %s answered %s, which the document does " \
        "not list (it lists %s)" % (method, path, code, sorted(responses))
    r, rptr = follow(op + pointer("responses", code))
    ctype = resp.headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    content = r.get("content", {})
    if not content and not resp.body:   # 304: no body, no Content-Type
        media = ""
        content = {"": {}}
    assert media in content, "%s %s %s: Content-Type %r, the document " \
        "has %s" % (method, path, code, ctype, sorted(content))
    body = resp.body.decode("utf-8")
    if media.endswith("json"):
        body = json.loads(body)
    if "schema" in content[media]:
        validate(body, rptr + pointer("content", media, "schema"))
    for name, h in r.get("headers", {}).items():
        h, hptr = follow(rptr + pointer("headers", name))
        value = resp.headers.get(name.lower())
        if value is None:
            assert not h.get("required"), "%s %s %s: no %s header" % (
                method, path, code, name)
            continue
        conv = HEADER_TYPES.get(h.get("schema", {}).get("type"), str)
        validate(conv(value), hptr + "/schema")
    return body


def check_problem(resp, path, method, status, slug):
    """A problem answer of this status and type, checked as above."""
    p = check(resp, path, method, status)
    assert resp.headers["content-type"] == "application/problem+json", resp
    assert p["type"] == "urn:evtaskd:problem:" + slug, p
    assert p["status"] == status, p
    return p


def parse_raw(raw):
    """A harness.Response from the raw bytes of one HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return harness.Response(status, headers, body)


def raw(d, data):
    """Send raw request bytes (say Connection: close, or this waits for the
    read timeout); the parsed answer."""
    return parse_raw(d.raw(data))


# -- helpers for tasks -------------------------------------------------------
# harness.create and harness.wait_end, but every answer is checked against
# the document (check): what this file is for.

TASK = "/v1/tasks/{id}"


def create(d, body, status=201, headers=None):
    r = d.post("/v1/tasks", json=body, headers=headers)
    t = check(r, "/v1/tasks", "POST", status)
    if status == 201:
        assert r.headers["location"] == "/v1/tasks/" + t["id"], r.headers
    return t


def get(d, tid, query=""):
    return check(d.get("/v1/tasks/" + tid + query, timeout=30), TASK, "GET", 200)


def wait_end(d, tid):
    t = get(d, tid, "?wait=20")
    assert t["state"] in harness.TERMINAL, t
    return t


def cancel(d, tid, query="", status=200):
    return check(d.delete("/v1/tasks/" + tid + query, timeout=30), TASK,
                 "DELETE", status)


# -- the document itself -----------------------------------------------------

def test_document_is_openapi_3_1_with_valid_schemas():
    d = doc()
    assert d["openapi"] == "3.1.0", d["openapi"]
    for name in d["components"]["schemas"]:
        jsonschema.Draft202012Validator.check_schema(
            d["components"]["schemas"][name])

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/"), (where, ref)
                at(ref[1:])         # resolves
            for k, v in node.items():
                walk(v, where + pointer(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, where + pointer(i))
    walk(d, "")
    # Examples in components validate like answers.
    for name, ex in d["components"].get("examples", {}).items():
        v = ex["value"]
        validate(v, schema_ptr("Problem" if "status" in v else "Task"))


def api_routes():
    """The route table of src/api.c: {(path template, METHOD)}."""
    with open(API_C, encoding="utf-8") as f:
        src = f.read()
    table = re.search(r"api_routes\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "no api_routes table in src/api.c"
    # { "PATH", "METHOD", handler, ROUTE_AUTH }
    routes = re.findall(
        r'\{\s*"([^"]+)"\s*,\s*"([A-Z]+)"\s*,\s*\w+\s*,\s*\w+\s*\}',
        table.group(1))
    assert len(routes) >= 7, routes
    return set(routes)


def documented_operations():
    """{(path with {params} as *, METHOD)} of the document."""
    ops = set()
    for path, item in doc()["paths"].items():
        for m in item:
            if m in METHODS:
                ops.add((re.sub(r"\{[^}]+\}", "*", path), m.upper()))
    return ops


def test_schemas_are_not_vacuous():
    """The validator resolves the refs and rejects what the contract rules
    out: a missing or unknown member, a bad id, state or time."""
    good = doc()["components"]["examples"]["CancelledSleepTask"]["value"]
    validate(good, schema_ptr("Task"))
    bad = []
    for change in (lambda t: t.pop("result"),
                   lambda t: t.pop("cleanup_ms"),
                   lambda t: t.__setitem__("extra", 1),
                   lambda t: t.__setitem__("id", t["id"].lower()),
                   lambda t: t.__setitem__("id", t["id"][:25]),
                   lambda t: t.__setitem__("state", "done"),
                   lambda t: t.__setitem__("kind", "command"),
                   lambda t: t.__setitem__("created_at", "2026-11-24T23:22:48Z"),
                   lambda t: t["cancellation"].__setitem__("reason", "user"),
                   lambda t: t["cleanup"].__setitem__("state", "ok"),
                   lambda t: t["cleanup"].pop("detail")):
        t = json.loads(json.dumps(good))
        change(t)
        bad.append(t)
    for t in bad:
        assert not validator(schema_ptr("Task")).is_valid(t), t
    assert not validator(schema_ptr("Problem")).is_valid(
        {"type": "about:blank", "title": "x", "status": 400, "detail": "x"})
    assert not validator(schema_ptr("CreateTask")).is_valid(
        {"duration_ms": 5, "durration_ms": 5})
    assert not validator(schema_ptr("CreateTask")).is_valid(
        {"duration_ms": 5, "delay_ms": 1, "start_at": "2026-11-24T23:22:48.000Z"})
    assert validator(schema_ptr("CreateTask")).is_valid({"duration_ms": 5})
    assert validator(schema_ptr("CreateTask")).is_valid(
        {"kind": "command", "job": "backup", "args": {"target": "db1"}})


def test_every_route_is_documented():
    routes, ops = api_routes(), documented_operations()
    assert routes - ops == set(), "routed but not documented: %s" % sorted(
        routes - ops)
    assert ops - routes == set(), "documented but not routed: %s" % sorted(
        ops - routes)


# Statuses libmicrohttpd answers before a request reaches evtaskd (HTML).
LIBRARY_ANSWERS = ("414", "431", "505")


def test_every_status_is_described():
    for path, item in doc()["paths"].items():
        for m, op in item.items():
            if m not in METHODS:
                continue
            assert op.get("operationId"), (m, path)
            for code in op["responses"]:
                r, _ = follow(operation_ptr(path, m) + pointer("responses", code))
                assert r.get("description"), (m, path, code)
                # /healthz's 503 is a Health document, like its 200.
                if int(code) >= 400 and code not in LIBRARY_ANSWERS and \
                        (path, code) != ("/healthz", "503"):
                    assert "application/problem+json" in r["content"], (m, path, code)
    post = doc()["paths"]["/v1/tasks"]["post"]["responses"]
    for code in ("200", "201", "400", "401", "411", "413", "415", "422",
                 "429", "500", "503"):
        assert code in post, code
    assert "Retry-After" in post["429"]["headers"]
    delete = doc()["paths"]["/v1/tasks/{id}"]["delete"]["responses"]
    for code in ("200", "202", "404", "409"):
        assert code in delete, code


# -- answers of the real daemon ------------------------------------------------

def test_sleep_tasks_validate():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000, "name": "nightly-report",
                       "metadata": {"owner": "ops"}})
        assert t["kind"] == "sleep" and t["state"] == "running", t
        assert get(d, t["id"])["id"] == t["id"]
        # Scheduled, then cancelled before it started: its cleanup runs.
        s = create(d, {"duration_ms": 1000, "delay_ms": 60000})
        assert s["state"] == "scheduled" and s["started_at"] is None, s
        c = cancel(d, s["id"], "?reason=no%20longer%20needed")
        assert c["state"] == "cancelled" and c["started_at"] is None, c
        assert c["cleanup"]["state"] == "succeeded", c
        assert c["cancellation"]["message"] == "no longer needed", c
        # Running, with a slow cleanup: 202 cancelling, then joined: 200.
        r = create(d, {"duration_ms": 60000, "cleanup_ms": 300})
        c = cancel(d, r["id"], "?wait=false", status=202)
        assert c["state"] in ("cancelling", "cancelled"), c
        c = cancel(d, r["id"])
        assert c["state"] == "cancelled" and c["cancellation"]["requests"] == 2, c
        assert c["cleanup"]["finished_at"] is not None, c
        assert cancel(d, r["id"])["state"] == "cancelled"      # idempotent
        # Timed out.
        o = create(d, {"duration_ms": 60000, "timeout_ms": 50})
        o = wait_end(d, o["id"])
        assert o["state"] == "timed_out", o
        assert o["cancellation"]["reason"] == "timeout", o
        # Succeeded; a cancel now is 409 with the task.
        f = create(d, {"duration_ms": 0, "start_at": "2000-01-01T00:00:00.000Z"})
        f = wait_end(d, f["id"])
        assert f["state"] == "succeeded", f
        p = check_problem(d.delete("/v1/tasks/" + f["id"]), TASK, "DELETE",
                          409, "task-finished")
        assert p["task"]["id"] == f["id"], p
        # Long-poll that ends before the task does.
        assert get(d, t["id"], "?wait=0.05")["state"] == "running"


def test_callback_member_validates():
    # A receiver answering 204, and one where nobody listens (refused).
    import http.server
    import socket

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))           # bound, never listening
    td = harness.tmpdir()
    sec = write_file(td, "s", "secret\n", 0o600)
    cfg = write_json(td, "c.json", {"callbacks": {
        "ok": {"url": "http://127.0.0.1:%d/" % srv.server_address[1],
               "secret_file": sec},
        "down": {"url": "http://127.0.0.1:%d/" % closed.getsockname()[1],
                 "secret_file": sec, "max_attempts": 1}}})
    try:
        with Daemon("-c", cfg) as d:
            p = create(d, {"duration_ms": 60000, "callback": "ok"})
            assert p["callback"]["state"] == "pending", p
            for name, state in (("ok", "delivered"), ("down", "failed")):
                t = create(d, {"duration_ms": 0, "callback": name})
                harness.eventually(lambda: get(d, t["id"])["callback"]
                                   ["state"] == state)
            check_problem(d.post("/v1/tasks", json={"callback": "nope"}),
                          "/v1/tasks", "POST", 422, "invalid-task")
    finally:
        srv.shutdown()
        srv.server_close()
        closed.close()


def test_idempotency_key_answers_validate():
    with Daemon() as d:
        h = {"Idempotency-Key": "report-2026-11-24"}
        t = create(d, {"duration_ms": 60000}, headers=h)
        again = create(d, {"duration_ms": 60000}, status=200, headers=h)
        assert again["id"] == t["id"], (t, again)
        p = check_problem(d.post("/v1/tasks", json={"duration_ms": 5},
                                 headers=h), "/v1/tasks", "POST", 422,
                          "idempotency-key-reused")
        assert p["errors"], p
        check_problem(d.post("/v1/tasks", json={"duration_ms": 5},
                             headers={"Idempotency-Key": "a b"}),
                      "/v1/tasks", "POST", 400, "bad-idempotency-key")


def test_listing_validates():
    with Daemon() as d:
        ids = [create(d, {"duration_ms": 60000})["id"] for _ in range(3)]
        cancel(d, ids[0])
        page = check(d.get("/v1/tasks?limit=2"), "/v1/tasks", "GET", 200)
        assert [t["id"] for t in page["tasks"]] == ids[:0:-1], page
        assert page["next_page_token"] is not None, page
        last = check(d.get("/v1/tasks?limit=2&page_token=" +
                           page["next_page_token"]), "/v1/tasks", "GET", 200)
        assert [t["id"] for t in last["tasks"]] == ids[:1], last
        assert last["next_page_token"] is None, last
        f = check(d.get("/v1/tasks?state=cancelled,timed_out&kind=sleep"),
                  "/v1/tasks", "GET", 200)
        assert [t["id"] for t in f["tasks"]] == ids[:1], f
        check_problem(d.get("/v1/tasks?limit=0"), "/v1/tasks", "GET", 400,
                      "bad-query")
        check_problem(d.get("/v1/tasks?bogus=1"), "/v1/tasks", "GET", 400,
                      "bad-query")


def test_problems_validate():
    with Daemon() as d:
        missing = "01M87XWYC4C5X7F3ED1KBCB9S4"
        check_problem(d.get("/v1/tasks/" + missing), TASK, "GET", 404,
                      "task-not-found")
        check_problem(d.get("/v1/tasks/not-an-id"), TASK, "GET", 404,
                      "task-not-found")
        check_problem(d.delete("/v1/tasks/" + missing), TASK, "DELETE", 404,
                      "task-not-found")
        check_problem(d.get("/v1/tasks/" + missing + "?wait=301"), TASK,
                      "GET", 400, "bad-query")
        check_problem(d.delete("/v1/tasks/" + missing + "?wait=maybe"), TASK,
                      "DELETE", 400, "bad-query")
        # An unknown path: no operation, but a Problem all the same.
        r = d.get("/v2/nothing")
        assert r.status == 404, r
        p = r.json()
        validate(p, schema_ptr("Problem"))
        assert p["type"] == "urn:evtaskd:problem:not-found", p
        # Bodies: bad JSON, invalid fields, wrong type, too large, chunked.
        p = check_problem(d.post("/v1/tasks", body='{"duration_ms":'),
                          "/v1/tasks", "POST", 400, "bad-json")
        assert p["line"] == 1 and p["column"] > 0, p
        check_problem(d.post("/v1/tasks", body='{"a":1,"a":2}'),
                      "/v1/tasks", "POST", 400, "bad-json")
        p = check_problem(d.post("/v1/tasks", json={"durration_ms": 5}),
                          "/v1/tasks", "POST", 422, "invalid-task")
        assert {e["pointer"] for e in p["errors"]} == {"/durration_ms",
                                                       "/duration_ms"}, p
        check_problem(d.post("/v1/tasks", json=[1]), "/v1/tasks", "POST",
                      422, "invalid-task")
        check_problem(d.post("/v1/tasks", body='{"duration_ms":1}',
                             headers={"Content-Type": "text/plain"}),
                      "/v1/tasks", "POST", 415, "unsupported-media-type")
        big = '{"duration_ms":1,"metadata":{"x":"' + "a" * 70000 + '"}}'
        check_problem(d.post("/v1/tasks", body=big), "/v1/tasks", "POST",
                      413, "body-too-large")
        check_problem(raw(d, b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                      "/v1/tasks", "POST", 411, "length-required")
        check_problem(raw(d, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\nContent-Length: 1\r\n"
                          b"Content-Length: 1\r\n\r\nx"),
                      "/healthz", "GET", 400, "bad-request")
        # Unknown query arguments: 400 everywhere, as documented.
        check_problem(d.post("/v1/tasks?foo=1", json={"duration_ms": 1}),
                      "/v1/tasks", "POST", 400, "bad-query")
        check_problem(d.get("/healthz?foo=1"), "/healthz", "GET", 400,
                      "bad-query")
        check_problem(d.get("/metrics?foo=1"), "/metrics", "GET", 400,
                      "bad-query")
        check_problem(d.get("/v1/tasks?foo=1"), "/v1/tasks", "GET", 400,
                      "bad-query")
        check_problem(d.get("/v1/events?foo=1"), "/v1/events", "GET", 400,
                      "bad-query")
        assert d.get("/v1/tasks?limit=1").status == 200


def test_library_answers_are_documented():
    """414, 431 and 505 come from libmicrohttpd before any endpoint runs:
    the daemon sends them, and every operation lists them."""
    with Daemon() as d:
        got = [
            raw(d, b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\n"
                b"Host: x\r\nConnection: close\r\n\r\n").status,
            raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                b"a" * 9000 + b"\r\nConnection: close\r\n\r\n").status,
            raw(d, b"GET /healthz HTTP/2.0\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n").status,
        ]
    assert got == [414, 431, 505], got
    for path, item in doc()["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                for code in LIBRARY_ANSWERS:
                    assert code in op["responses"], (m, path, code)


def test_method_not_allowed_lists_the_documented_methods():
    with Daemon() as d:
        for path, item in doc()["paths"].items():
            real = path.replace("{id}", "01M87XWYC4C5X7F3ED1KBCB9S4")
            methods = {m.upper() for m in item if m in METHODS}
            if "GET" in methods:
                methods.add("HEAD")     # answered as GET
            r = d.request("PUT", real)
            for m in item:
                if m in METHODS:
                    check_problem(r, path, m, 405, "method-not-allowed")
            allow = {m.strip() for m in r.headers["allow"].split(",")}
            assert allow == methods, (path, allow, methods)


def test_auth_problems_validate():
    tmp = harness.tmpdir()
    token = write_file(tmp, "token", "s3cret\n", 0o600)
    cfg = write_json(tmp, "evtaskd.json", {"auth": {"token_file": token}})
    with Daemon("-c", cfg) as d:
        for path, method in (("/v1/tasks", "GET"), ("/v1/tasks", "POST"),
                             ("/v1/events", "GET"), ("/v1/jobs", "GET"),
                             ("/metrics", "GET")):
            r = d.request(method, path, json={} if method == "POST" else None)
            check_problem(r, path, method, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        check(d.get("/healthz"), "/healthz", "GET", 200)
        auth = {"Authorization": "Bearer s3cret"}
        check(d.get("/v1/tasks", headers=auth), "/v1/tasks", "GET", 200)
        check(d.get("/v1/jobs", headers=auth), "/v1/jobs", "GET", 200)
        check(d.get("/metrics", headers=auth), "/metrics", "GET", 200)


def test_too_many_tasks_validates():
    tmp = harness.tmpdir()
    cfg = write_json(tmp, "evtaskd.json", {"limits": {"max_active_tasks": 1}})
    with Daemon("-c", cfg) as d:
        create(d, {"duration_ms": 60000})
        r = d.post("/v1/tasks", json={"duration_ms": 60000})
        check_problem(r, "/v1/tasks", "POST", 429, "too-many-tasks")
        assert int(r.headers["retry-after"]) >= 0, r.headers


def test_shutting_down_validates():
    tmp = harness.tmpdir()
    job = script(tmp, "job.sh", "echo started\nexec sleep 60\n")
    slow = script(tmp, "cleanup.sh", "echo cleaning\nsleep 2\n")
    cfg = write_json(tmp, "evtaskd.json", {"shutdown_grace_ms": 3000 * harness.SLOW,
                             "jobs": {"work": {"argv": [job],
                                               "cleanup_argv": [slow]}}})
    d = Daemon("-c", cfg)
    try:
        create(d, {"kind": "command", "job": "work"})  # its cleanup delays the stop
        waited = create(d, {"duration_ms": 60000})
        cancelled = create(d, {"duration_ms": 60000, "cleanup_ms": 60000})
        out = {}
        threads = [
            threading.Thread(target=lambda: out.__setitem__("get", d.get(
                "/v1/tasks/%s?wait=60" % waited["id"], timeout=60))),
            threading.Thread(target=lambda: out.__setitem__("delete", d.delete(
                "/v1/tasks/" + cancelled["id"], timeout=60))),
        ]
        for t in threads:
            t.start()
        harness.eventually(lambda: metric(d, "evtaskd_http_parked_requests") == 2)
        conn = d.connection()           # kept open across the stop
        check(d.get("/healthz", conn=conn), "/healthz", "GET", 200)
        d.send_signal(signal.SIGTERM)
        d.wait_log(r"received SIGTERM, stopping")
        # Until the command's cleanup ends, the daemon refuses new work.
        r = d.post("/v1/tasks", json={"duration_ms": 1}, conn=conn)
        check_problem(r, "/v1/tasks", "POST", 503, "shutting-down")
        assert "retry-after" in r.headers, r.headers
        # Health says so too: a load balancer stops sending.
        h = check(d.get("/healthz", conn=conn), "/healthz", "GET", 503)
        assert h == {"status": "stopping"}, h
        r = d.delete("/v1/tasks/" + waited["id"], conn=conn)
        check_problem(r, TASK, "DELETE", 503, "shutting-down")
        assert "retry-after" in r.headers, r.headers
        conn.close()
        # Requests still waiting when it stops get 503 too.
        for t in threads:
            t.join(30 * harness.SLOW)
        check_problem(out["get"], TASK, "GET", 503, "shutting-down")
        check_problem(out["delete"], TASK, "DELETE", 503, "shutting-down")
        code = d.stop()
        assert code == 0, "exit %s; log:\n%s" % (code, d.log())
    finally:
        d.kill()


JOB = """\
echo "job $1 starts"
case "$1" in
fast) exit 0 ;;
fail) echo "it broke" >&2; exit 3 ;;
esac
trap 'echo "got TERM"; exit 143' TERM
while :; do sleep 0.05; done
"""

CLEANUP = 'echo "cleanup of $1 ($EVTASKD_CANCEL_REASON)"\n'


def test_command_tasks_validate():
    tmp = harness.tmpdir()
    job = script(tmp, "job.sh", JOB)
    cleanup = script(tmp, "cleanup.sh", CLEANUP)
    cfg = write_json(tmp, "evtaskd.json", {"jobs": {
        "work": {"argv": [job, "{mode}"],
                 "args": {"mode": {"pattern": "^[a-z]{1,16}$",
                                   "required": True}},
                 "cleanup_argv": [cleanup, "{task_id}"],
                 "kill_grace_ms": 5000},
        "missing": {"argv": ["/nonexistent/evtaskd-test-job"]},
        "quiet": {"argv": ["/bin/true"]},
    }})
    with Daemon("-c", cfg) as d:
        t = create(d, {"kind": "command", "job": "work",
                       "args": {"mode": "fast"}, "name": "quick"})
        assert t["kind"] == "command" and t["duration_ms"] is None, t
        t = wait_end(d, t["id"])
        assert t["state"] == "succeeded" and t["result"]["exit_code"] == 0, t
        f = wait_end(d, create(d, {"kind": "command", "job": "work",
                                   "args": {"mode": "fail"}})["id"])
        assert f["state"] == "failed" and f["result"]["exit_code"] == 3, f
        # Cancelled while running: the result of the stopped job, and the
        # cleanup's facts inside "cleanup".
        r = create(d, {"kind": "command", "job": "work",
                       "args": {"mode": "slow"}})
        c = cancel(d, r["id"], "?reason=stop")
        assert c["state"] == "cancelled", c
        assert c["result"] is not None, c
        assert c["cleanup"]["state"] == "succeeded", c
        assert "cleanup of " + r["id"] in c["cleanup"]["output"], c
        # Cancelled before it started: the cleanup runs, no result.
        s = create(d, {"kind": "command", "job": "work",
                       "args": {"mode": "slow"}, "delay_ms": 60000})
        assert s["state"] == "scheduled" and s["pid"] is None, s
        c = cancel(d, s["id"])
        assert c["state"] == "cancelled" and c["result"] is None, c
        assert c["cleanup"]["exit_code"] == 0, c
        # A job that writes nothing: output "".
        q = wait_end(d, create(d, {"kind": "command", "job": "quiet"})["id"])
        assert q["state"] == "succeeded" and q["result"]["output"] == "", q
        # A job that cannot start: failed, with "error" (under valgrind,
        # whose posix_spawn cannot report a failed exec: an exit code).
        m = create(d, {"kind": "command", "job": "missing"})
        m = wait_end(d, m["id"])
        assert m["state"] == "failed", m
        assert m["result"].get("error") or m["result"]["exit_code"], m
        # Invalid command fields.
        p = check_problem(d.post("/v1/tasks", json={
            "kind": "command", "job": "work", "args": {"mode": "X"}}),
            "/v1/tasks", "POST", 422, "invalid-task")
        assert p["errors"][0]["pointer"] == "/args", p
        page = check(d.get("/v1/tasks?kind=command"), "/v1/tasks", "GET", 200)
        assert len(page["tasks"]) == 6, page


def test_jobs_validate():
    tmp = harness.tmpdir()
    cfg = write_json(tmp, "evtaskd.json", {"jobs": {
        "backup": {"description": "Backs up one host.",
                   "argv": ["/bin/sleep", "{seconds}"],
                   "args": {"seconds": {"pattern": "[0-9]{1,3}",
                                        "required": True,
                                        "description": "How long."},
                            "quiet": {"pattern": "yes"}},
                   "timeout_ms": 600000, "max_concurrent": 1,
                   "max_output_bytes": 65536,
                   "resources": {"memory_max_bytes": 268435456,
                                 "pids_max": 64, "cpu_weight": 100}},
        "plain": {"argv": ["/bin/true"]},
    }})
    with Daemon("-c", cfg) as d:
        a = check(d.get("/v1/jobs"), "/v1/jobs", "GET", 200)
        assert [j["name"] for j in a["jobs"]] == ["backup", "plain"], a
        # with a task running and one waiting for the slot
        run = create(d, {"kind": "command", "job": "backup",
                         "args": {"seconds": "300"}})
        wait = create(d, {"kind": "command", "job": "backup",
                          "args": {"seconds": "300"}})
        a = check(d.get("/v1/jobs"), "/v1/jobs", "GET", 200)
        assert (a["jobs"][0]["running"], a["jobs"][0]["queued"]) == (1, 1), a
        cancel(d, wait["id"])
        cancel(d, run["id"])
        check_problem(d.get("/v1/jobs?name=backup"), "/v1/jobs", "GET", 400,
                      "bad-query")
        # the schema is not vacuous: "auto" is never the mode in use, and
        # every member is there
        bad = json.loads(json.dumps(a))
        bad["isolation"] = "auto"
        assert not validator(schema_ptr("JobList")).is_valid(bad)
        bad = json.loads(json.dumps(a))
        del bad["jobs"][1]["resources"]
        assert not validator(schema_ptr("JobList")).is_valid(bad)


def test_event_stream_validates():
    with Daemon() as d:
        t = create(d, {"duration_ms": 60000})
        s = harness.EventStream(d, "?task=" + t["id"])
        try:
            check(s.response, "/v1/events", "GET", 200)
            assert s.response.headers["cache-control"] == "no-store"
            cancel(d, t["id"])
            seen = []
            while not seen or seen[-1]["state"] != "cancelled":
                m = s.next_event()
                assert m["event"] == "task" and m["id"].isdigit(), m
                task = json.loads(m["data"])
                validate(task, schema_ptr("Task"))
                seen.append(task)
            assert [x["state"] for x in seen] == ["cancelling", "cancelled"], seen
        finally:
            s.close()
        # A Last-Event-ID too old to replay: the stream starts with a reset
        # (on PostgreSQL ids are the events' seqs: 0 is not too old on a
        # fresh database, and one that is no number resets).
        s = harness.EventStream(d, last_id="0" if harness.STORE != "pg"
                                else "not-a-number")
        try:
            check(s.response, "/v1/events", "GET", 200)
            m = s.next_event()
            assert m["event"] == "reset" and m["id"].isdigit(), m
            assert json.loads(m["data"]) == {}, m
        finally:
            s.close()
        check_problem(d.get("/v1/events?task=nope"), "/v1/events", "GET",
                      400, "bad-query")
        check_problem(d.get("/v1/events?task=01M87XWYC4C5X7F3ED1KBCB9S4"),
                      "/v1/events", "GET", 404, "task-not-found")


def test_dashboard_answers_validate():
    with Daemon() as d:
        check(d.get("/"), "/", "GET", 302)
        check(d.get("/ui"), "/ui", "GET", 302)
        page = d.get("/ui/")
        check(page, "/ui/", "GET", 200)
        check(d.get("/ui/", headers={"If-None-Match": page.headers["etag"]}),
              "/ui/", "GET", 304)
        for name in ("app.js", "app.css", "icon.svg", "index.html"):
            check(d.get("/ui/" + name), "/ui/{asset}", "GET", 200)
        check_problem(d.get("/ui/nope.js"), "/ui/{asset}", "GET", 404,
                      "not-found")
        check_problem(d.get("/ui/?x=1"), "/ui/", "GET", 400, "bad-query")
        check_problem(d.get("/ui/", headers={"Origin": "http://evil.example"}),
                      "/ui/", "GET", 403, "cross-origin")


def test_health_and_metrics_validate():
    with Daemon() as d:
        check(d.get("/healthz"), "/healthz", "GET", 200)
        text = check(d.get("/metrics"), "/metrics", "GET", 200)
        assert "# TYPE evtaskd_" in text, text[:300]


def test_schedules_validate():
    with Daemon() as d:
        r = d.post("/v1/schedules", json={
            "name": "nightly", "cron": "30 2 * * *",
            "time_zone": "Europe/Berlin", "task": {"duration_ms": 1}})
        s = check(r, "/v1/schedules", "POST", 201)
        one = "/v1/schedules/{id}"
        check(d.get("/v1/schedules"), "/v1/schedules", "GET", 200)
        check(d.get("/v1/schedules/" + s["id"]), one, "GET", 200)
        check(d.request("PATCH", "/v1/schedules/" + s["id"],
                        json={"paused": True}), one, "PATCH", 200)
        check_problem(d.request("PATCH", "/v1/schedules/" + s["id"],
                                json={"cron": "bad"}), one, "PATCH", 422,
                      "invalid-schedule")
        check_problem(d.post("/v1/schedules", json={"task": 1}),
                      "/v1/schedules", "POST", 422, "invalid-schedule")
        check(d.delete("/v1/schedules/" + s["id"] + "?cancel_running=true"),
              one, "DELETE", 200)
        check_problem(d.get("/v1/schedules/" + s["id"]), one, "GET", 404,
                      "schedule-not-found")


harness.run(globals())
