"""The docs stand alone and their examples work as written: evtaskd(8)'s
examples against the shipped example config, no reference to a file
outside the repository; and what the docs promise about exits: a
--memory daemon leaves no temporary directory behind on any exit path."""

import glob
import json
import os
import re
import socket

import harness
from harness import Daemon, run_daemon

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOCS = ["README.md", "docs/API.md", "docs/openapi.yaml", "docs/SECURITY.md",
        "docs/BENCHMARKS.md", "docs/evtaskd.8", "docs/evtaskd.json.5",
        "docs/callbacks.md"]
CONFIG = os.path.join(TOP, "etc", "evtaskd.json")


def read(rel):
    with open(os.path.join(TOP, rel), encoding="utf-8") as f:
        return f.read()


def man_examples():
    """The EXAMPLES section of evtaskd(8) as plain text."""
    text = read("docs/evtaskd.8")
    text = text[text.index(".SH EXAMPLES"):text.index(".SH SEE ALSO")]
    return text.replace("\\-", "-").replace("\\e", "\\")


def test_docs_stand_alone():
    for rel in DOCS:
        text = read(rel)
        assert "CONTRACT" not in text, rel
        assert "../shared" not in text, rel


def test_man_page_examples_work_with_the_shipped_config():
    text = man_examples()
    bodies = re.findall(r"-d '(\{.*?\})'", text)
    deletes = re.findall(r"-X DELETE '[^/]*(/v1/tasks/ID[^']*)'", text)
    assert len(bodies) >= 2 and len(deletes) >= 2, text
    with Daemon("-c", CONFIG) as d:
        for body in bodies:
            r = d.post("/v1/tasks", body=body)
            assert r.status == 201, (body, r)
            for path in deletes:
                r = d.delete(path.replace("ID", r.json()["id"]))
                assert r.status == 200, (path, r)
                assert r.json()["state"] == "cancelled", r


def test_help_names_the_default_state_dir():
    code, out, _ = run_daemon("--help")
    assert code == 0
    assert re.search(r"else \S+/lib/evtaskd\n", out), out


def memory_dirs(tmp):
    return glob.glob(os.path.join(tmp, "evtaskd-memory-*"))


def test_memory_dir_removed_when_listen_fails():
    tmp = harness.tmpdir()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        code, _, err = run_daemon("--memory", "-l", "127.0.0.1:%d" % port,
                                  env={"TMPDIR": tmp})
    finally:
        taken.close()
    assert code == 1, err
    assert "cannot listen" in err, err
    assert memory_dirs(tmp) == [], memory_dirs(tmp)


def test_memory_dir_removed_on_stop():
    harness.skip_under_pg("about --memory's directory")
    tmp = harness.tmpdir()
    d = Daemon(env={"TMPDIR": tmp})
    assert len(memory_dirs(tmp)) == 1
    assert d.stop() == 0
    assert memory_dirs(tmp) == [], memory_dirs(tmp)


if __name__ == "__main__":
    harness.run(globals())
