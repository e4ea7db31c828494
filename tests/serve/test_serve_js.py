#!/usr/bin/env python3
"""test_serve_js.py - JavaScript handlers behind `hyperlight serve`, end to end on loopback:
values in and out, a fresh state per request (and `reuse`), every failure of a handler and its
status, bad bodies, hostile results, concurrency, and the start-up errors of bad files and
configurations.

Usage: test_serve_js.py HYPERLIGHT JS_WHY
JS_WHY is why the JavaScript guest was not built ("" when it was). Prints one "ok"/"not ok" line
per check and "N passed, M failed"; exits 1 if any failed, 77 (skip, saying why) where guests
cannot run or there is no JavaScript guest.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from serve_harness import Server, kvm_usable  # noqa: E402
from tap import check, done  # noqa: E402

HL, JS_WHY = sys.argv[1], sys.argv[2]
GREET = os.path.join(HERE, "..", "..", "examples", "greet.js")

# One file, several handlers: each does one thing a test needs.
HANDLERS_JS = r"""
let count = 0;
function handler(e) { count++; return { got: e, count }; }
function boom(e) { throw new TypeError("bad input " + JSON.stringify(e)); }
function spin() { for (;;) {} }
function deep(n) { return n <= 0 ? 0 : 1 + deep(n - 1); }
function hog() { return "x".repeat(1000000000).length; }
function never() { return new Promise(() => {}); }
async function later(e) { return await Promise.resolve(e * 2); }
function huge(n) { return "x".repeat(n); }
function big() { return 2 ** 64; }
function nothing() {}
function alloc(n) { return new Uint8Array(n).length; }
"""
HANDLERS_PATH = None  # where main() writes HANDLERS_JS
NAMES = ["handler", "boom", "spin", "deep", "hog", "never", "later", "huge", "big", "nothing",
         "alloc"]


def write(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def expect(srv, guest, fn, body, status, result=None, code=None, words=(), what=None):
    """POSTs a raw body (bytes/str, or None for none) and checks the status, and the result or
    the error code and the words its message must hold."""
    st, hd, data = srv.request("POST", "/v1/%s/%s" % (guest, fn), body)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    ok = st == status
    if ok and status == 200:
        ok = doc == {"result": result}
    if ok and code is not None:
        err = doc.get("error", {}) if isinstance(doc, dict) else {}
        ok = err.get("code") == code and all(w in err.get("message", "") for w in words)
    check(ok, what or "%s/%s %r -> %d %s" % (guest, fn, body, status, code or ""),
          "got %d %s" % (st, data[:400]))
    return doc


def test_values(srv):
    expect(srv, "greet", "handler", '{"name":"web"}', 200,
           {"greeting": "hello web", "at": "1970-01-01T00:00:00.000Z"},
           what="examples/greet.js answers")
    expect(srv, "h", "handler", "[1, 2.5, \"\\u00e9\", null, {\"a\": true}]", 200,
           {"got": [1, 2.5, "\u00e9", None, {"a": True}], "count": 1},
           what="any JSON value goes in as it is")
    expect(srv, "h", "handler", None, 200, {"got": None, "count": 1},
           what="an empty body is null")
    expect(srv, "h", "handler", "123456789012345678901234567890", 200,
           {"got": 1.2345678901234568e+29, "count": 1},
           what="an integer past 64 bits is a number, as JSON.parse reads it")
    expect(srv, "h", "later", "21", 200, 42, what="an async handler is awaited")
    expect(srv, "h", "big", None, 200, 18446744073709552000,
           what="a result past 64 bits reaches the client")
    expect(srv, "h", "nothing", None, 200, None, what="undefined is null")
    st, hd, data = srv.request("GET", "/v1/h")
    doc = json.loads(data) if st == 200 else {}
    fns = {f["name"]: f for f in doc.get("functions", [])}
    check(st == 200 and doc.get("kind") == "js" and sorted(fns) == sorted(NAMES) and
          all(f["params"] == ["json"] and f["result"] == "json" for f in fns.values()),
          "GET /v1/h lists the handlers as json -> json", data[:400])
    st, hd, data = srv.request("GET", "/v1")
    kinds = {g["name"]: g["kind"] for g in json.loads(data).get("guests", [])} if st == 200 else {}
    check(kinds == {"h": "js", "tight": "js", "spinner": "js", "greet": "js"},
          "GET /v1 names the JavaScript guests", data)


def test_fresh_state(srv):
    counts = [srv.call("h", "handler", "0")[1] for _ in range(5)]
    check(all(c == {"result": {"got": 0, "count": 1}} for c in counts),
          "every request starts from the snapshot (count stays 1)", counts)


def test_failures(srv):
    doc = expect(srv, "h", "boom", "5", 422, code="HL_JS_E_EXCEPTION",
                 words=("TypeError", "bad input 5", "at boom (h.js:4:"),
                 what="an exception is a 422 with its name, message and stack")
    check(os.path.dirname(HANDLERS_PATH) not in json.dumps(doc),
          "the stack names the file, not the server's directory", doc)
    expect(srv, "spinner", "spin", None, 504, words=("300 ms",),
           what="a handler that never ends is a 504")
    expect(srv, "h", "deep", "1000000", 422, code="HL_JS_E_STACK",
           what="runaway recursion is a 422 HL_JS_E_STACK")
    expect(srv, "h", "hog", None, 422, code="HL_JS_E_MEMORY",
           what="the engine's memory limit is a 422 HL_JS_E_MEMORY")
    expect(srv, "h", "alloc", "16777216", 200, 16777216,
           what="16 MiB fit the default memory limit")
    expect(srv, "tight", "alloc", "16777216", 422, code="HL_JS_E_MEMORY",
           what="js_memory lowers the engine's memory limit")
    expect(srv, "h", "never", None, 422, code="HL_JS_E_NOT_SETTLED",
           what="a promise that never settles is a 422 HL_JS_E_NOT_SETTLED")
    expect(srv, "h", "huge", "100000", 500, code="HL_JS_E_RESULT",
           what="a result larger than the output buffer is a 500 HL_JS_E_RESULT")
    expect(srv, "h", "handler", "1", 200, {"got": 1, "count": 1},
           what="after every failure the next request is served from the snapshot")


def test_bad_requests(srv):
    expect(srv, "h", "handler", "{bad", 400, code="HL_E_JSON", words=("line 1",),
           what="malformed JSON is a 400 naming where")
    expect(srv, "h", "handler", "1 2", 400, code="HL_E_JSON",
           what="two values are not one JSON value")
    expect(srv, "h", "handler", b'"\xff"', 400, code="HL_E_JSON",
           what="a body that is not UTF-8 is a 400")
    expect(srv, "h", "handler", "1e400", 400, code="HL_E_JSON",
           what="a number beyond a double's range is a 400")
    expect(srv, "h", "nope", "1", 404, code="HL_E_NO_FUNCTION",
           what="an unknown handler is a 404")
    calls = srv.metric("hyperlight_requests_total", guest="h", function="handler", code="200")
    bad = srv.metric("hyperlight_requests_total", guest="h", function="handler", code="400")
    check(calls > 0 and bad >= 4, "the handler's requests are counted by status in /metrics",
          (calls, bad))


def test_concurrency(srv):
    results = []
    lock = threading.Lock()

    def one(i):
        st, doc, _ = srv.call("h", "handler", {"i": i})
        with lock:
            results.append((st, doc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(results) == 24 and all(st == 200 and doc["result"]["count"] == 1
                                     for st, doc in results),
          "24 concurrent requests on a pool of 2: all answered, each fresh",
          [r for r in results if r[0] != 200][:3])


def test_reuse(tmp, path):
    srv = Server(HL, [], "--pool", "1", "--reuse", "--timeout-ms", "300",
                 config={"guests": [{"path": path, "handlers": NAMES}]})
    try:
        got = [srv.call("h", "handler", "0")[1]["result"]["count"] for _ in range(3)]
        check(got == [1, 2, 3], "with reuse the handler's globals persist", got)
        expect(srv, "h", "boom", "1", 422, code="HL_JS_E_EXCEPTION")
        c = srv.call("h", "handler", "0")[1]["result"]["count"]
        check(c == 4, "an exception keeps the reused state (the engine is sound)", c)
        expect(srv, "h", "spin", None, 504)
        c = srv.call("h", "handler", "0")[1]["result"]["count"]
        check(c == 1, "a timeout restores the reused sandbox (the engine was stopped)", c)
        check(srv.stop() == 0, "the reuse server exits 0", srv.log()[-300:])
    finally:
        srv.kill()


def start_fails(what, status, words, guests, config=None, env=None):
    """Starts a server that must not come up; checks its exit status and stderr."""
    d = tempfile.mkdtemp(prefix="hl-serve-js-")
    args = [HL, "serve", "--listen", "127.0.0.1:0"]
    if config is not None:
        args += ["--config", write(d, "c.json", json.dumps(config))]
    r = subprocess.run(args + guests, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       env=dict(os.environ, **(env or {})))
    err = r.stderr.decode(errors="replace")
    check(r.returncode == status and all(w in err for w in words), what,
          "exit %d: %s" % (r.returncode, err[-400:]))


def test_start_up(tmp, path):
    bad = write(tmp, "broken.js", "function handler(e) { return e +; }\n")
    start_fails("a syntax error fails the start-up, naming file and line", 3,
                ["broken", "broken.js:1"], [bad])
    start_fails("a listed handler the file lacks fails the start-up", 3, ["missing_one"], [],
                {"guests": [{"path": path, "handlers": ["handler", "missing_one"]}]})
    start_fails("\"handlers\" on a native guest is refused", 1, ["JavaScript guests"], [],
                {"guests": [{"path": HL, "kind": "native", "handlers": ["f"]}]})
    start_fails("\"js_memory\" on a native guest is refused", 1, ["JavaScript guests"], [],
                {"guests": [{"path": HL, "kind": "native", "js_memory": "8M"}]})
    start_fails("a handler name that is not an identifier is refused", 1, ["handlers[0]"], [],
                {"guests": [{"path": path, "handlers": ["a-b"]}]})
    start_fails("a handler listed twice is refused", 1, ["twice"], [],
                {"guests": [{"path": path, "handlers": ["handler", "handler"]}]})
    start_fails("no JavaScript guest: the start-up says where it comes from", 3,
                ["fetch-quickjs.sh"], [path], env={"HYPERLIGHT_JS_GUEST": "/nonexistent/jsguest"})


def main():
    if JS_WHY:
        print("1..0 # SKIP no JavaScript guest: " + JS_WHY)
        return 77
    if not kvm_usable(HL):
        print("1..0 # SKIP guests cannot run here (hyperlight doctor)")
        return 77
    tmp = tempfile.mkdtemp(prefix="hl-serve-js-")
    global HANDLERS_PATH
    path = HANDLERS_PATH = write(tmp, "h.js", HANDLERS_JS)
    # Room for slow machines (emulation) everywhere but the guest whose timeout is tested.
    srv = Server(HL, [GREET], "--pool", "2", "--timeout-ms", "10000",
                 config={"guests": [{"path": path, "handlers": NAMES, "output": "64K"},
                                    {"path": path, "name": "tight", "handlers": ["alloc"],
                                     "js_memory": "8M"},
                                    {"path": path, "name": "spinner", "handlers": ["spin"],
                                     "timeout_ms": 300}]})
    try:
        for t in [test_values, test_fresh_state, test_failures, test_bad_requests,
                  test_concurrency]:
            print("# " + t.__name__)
            try:
                t(srv)
            except Exception as e:  # a crash of one group is a failure, not the end
                check(False, t.__name__ + " raised", repr(e))
        check(srv.stop() == 0, "the server exits 0 on SIGTERM", srv.log()[-500:])
    finally:
        srv.kill()
    for t in [test_reuse, test_start_up]:
        print("# " + t.__name__)
        try:
            t(tmp, path)
        except Exception as e:
            check(False, t.__name__ + " raised", repr(e))
    return done()


if __name__ == "__main__":
    sys.exit(main())
