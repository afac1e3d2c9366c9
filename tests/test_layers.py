"""The dependency rules of the source tree (README, "Layout").

A call graph in miniature: every C function call in src/ (comments and
strings removed, an identifier followed by "("), checked against who may
call whom. Dependencies point one way: the API layer over the model
(task, hub, kinds), the model over its sinks (store, metrics), and the
sinks see rows and tasks, never HTTP and never the waiters.
"""

import os
import re

import harness

TOP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(TOP_DIR, "src")

# The files of the HTTP and API layers (and main, which wires everything).
TOP = re.compile(r"^(api.*|http.*|router|main)\.c$")

# (files, forbidden call prefixes, why)
RULES = [
    (r"^(?!api|http|router|main).*\.c$", ("http_",),
     "no http_* below the API layer"),
    (r"^store.*\.c$", ("hub_", "events_", "task_free", "registry_remove",
                       "api_", "callback_"),
     "the store is a sink: it wakes no waiter and frees no task"),
    (r"^task(-json)?\.c$", ("store_", "hub_", "events_", "api_",
                            "callback_"),
     "task.c announces through its observers only"),
    (r"^hub\.c$", ("store_", "api_", "metrics_", "callback_"),
     "the hub knows tasks and callbacks, not the store or HTTP"),
    (r"^metrics\.c$", ("hub_", "store_", "events_", "api_", "registry_remove",
                        "callback_"),
     "metrics are a sink: the API layer hands them its figures"),
    (r"^task-log\.c$", ("hub_", "store_", "events_", "api_", "task_free",
                         "task_set_", "task_cancel", "callback_"),
     "the task log is a sink: it reads the task and writes a line"),
    (r"^kind.*\.c$", ("store_", "hub_", "api_", "callback_"),
     "kinds change their task through task_* calls"),
    (r"^callback\.c$", ("hub_", "events_", "api_", "task_free",
                         "task_set_state", "task_cancel", "task_finish",
                         "kind_"),
     "callbacks hear endings as an observer, show their delivery through "
     "task_callback_* and write the outbox through the store"),
    (r"^(config.*|job|token|hmac)\.c$", ("task_set", "task_callback_update",
                                         "store_", "callback_", "hub_",
                                         "metrics_"),
     "the config and the things it reads sit below the model"),
]

CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
NOISE = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'",
                   re.S)


def calls(path):
    """(line, name) of every call-shaped identifier in a C file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = NOISE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            continue
        for m in CALL.finditer(line):
            yield lineno, m.group(1)


def test_rules_hold():
    files = sorted(f for f in os.listdir(SRC) if f.endswith(".c"))
    assert len(files) > 20, files
    bad = []
    for pattern, prefixes, why in RULES:
        matched = [f for f in files if re.match(pattern, f)]
        assert matched, pattern
        for name in matched:
            for lineno, fn in calls(os.path.join(SRC, name)):
                if fn.startswith(prefixes):
                    bad.append(f"src/{name}:{lineno}: {fn}(): {why}")
    assert not bad, "\n".join(bad)


def test_top_layer_exists():
    # The rules above mean something only if the layers are where the
    # pattern says: the API files and http*.c are the ones calling http_*.
    files = [f for f in os.listdir(SRC) if f.endswith(".c")]
    callers = {f for f in files
               if any(fn.startswith("http_")
                      for _, fn in calls(os.path.join(SRC, f)))}
    assert callers and all(TOP.match(f) for f in callers), callers


def test_shared_library_stands_alone():
    # lib/ is what both programs link: it includes only its own header;
    # evtaskctl (ctl/) never reaches into the daemon's.
    include = re.compile(r'^#include "([^"]+)"', re.M)
    for folder, allowed in (("lib", {"evtask.h"}),
                            ("ctl", {"ctl.h", "evtask.h"})):
        path = os.path.join(TOP_DIR, folder)
        files = [f for f in os.listdir(path) if f.endswith((".c", ".h"))]
        assert files, folder
        for name in files:
            with open(os.path.join(path, name), encoding="utf-8") as f:
                bad = set(include.findall(f.read())) - allowed - {"config.h"}
            assert not bad, "%s/%s includes %s" % (folder, name, bad)


if __name__ == "__main__":
    harness.run(globals())
