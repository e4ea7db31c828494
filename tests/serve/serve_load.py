#!/usr/bin/env python3
"""serve_load.py - a bounded load run against `hyperlight serve`: requests/s, latency
percentiles and errors per scenario and connection count, and a check that nothing is lost
(every request sent got a right answer, and the server counted exactly as many).

Starts its own server (--hyperlight, --guest-dir, --wasm-guest-dir) or drives one at --port.
Scenarios: noop (simpleguest NoOp), echo1k (simpleguest Echo of 1 KiB), wasm (the bench
module's add). Python's client tops out at a few thousand requests/s; for the server's own
ceiling use bench/serve/run_wrk.sh (wrk). Exit status 1 if anything was lost or wrong,
77 where guests cannot run.

    serve_load.py --hyperlight build/hyperlight --guest-dir build/guests/bin \\
        --wasm-guest-dir build/wasm/guests --duration 10 --connections 1,16,64
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_harness import Server, kvm_usable, percentile  # noqa: E402

ECHO = "x" * 1024
SCENARIOS = {
    "noop": ("simpleguest", "NoOp", [], None),
    "echo1k": ("simpleguest", "Echo", [ECHO], ECHO),
    "wasm": ("bench", "add", [40, 2], 42),
}



def run(srv, scenario, conns, duration):
    guest, fn, args, want = SCENARIOS[scenario]
    body = json.dumps(args).encode()
    path = "/v1/%s/%s" % (guest, fn)
    expect = {"result": want}
    lat = [[] for _ in range(conns)]
    errors = [[] for _ in range(conns)]
    sent = [0] * conns
    start = threading.Barrier(conns + 1)
    end_at = [0.0]

    def worker(i):
        c = srv.conn(timeout=30)
        start.wait()
        mine = lat[i]
        while time.monotonic() < end_at[0]:
            t0 = time.perf_counter()
            sent[i] += 1
            try:
                c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
            except Exception as e:  # a lost request: no answer at all
                errors[i].append(("no answer", repr(e)))
                c.close()
                c = srv.conn(timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
            if r.status != 200 or json.loads(data) != expect:
                errors[i].append((r.status, data[:200]))
        c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    before = srv.metric("hyperlight_requests_total", guest=guest, function=fn, code="200")
    end_at[0] = time.monotonic() + duration
    t0 = time.monotonic()
    start.wait()
    for t in ts:
        t.join()
    took = time.monotonic() - t0
    after = srv.metric("hyperlight_requests_total", guest=guest, function=fn, code="200")
    all_lat = sorted(x for l in lat for x in l)
    errs = [e for l in errors for e in l]
    ok = len(all_lat) - sum(1 for e in errs if e[0] != "no answer")
    return {
        "scenario": scenario, "connections": conns, "requests": sum(sent), "answered": len(all_lat),
        "rps": len(all_lat) / took, "p50": percentile(all_lat, 0.50) * 1e3,
        "p99": percentile(all_lat, 0.99) * 1e3, "p999": percentile(all_lat, 0.999) * 1e3,
        "errors": len(errs), "server_counted": int(after - before), "ok": ok, "samples": errs[:3],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hyperlight")
    ap.add_argument("--guest-dir")
    ap.add_argument("--wasm-guest-dir")
    ap.add_argument("--port", type=int, help="drive a running server instead of starting one")
    ap.add_argument("--pool", default="2")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", default="1,16,64")
    ap.add_argument("--scenarios", default="noop,echo1k,wasm")
    a = ap.parse_args()
    if a.port:
        srv = Server.__new__(Server)
        srv.port = a.port
        srv.proc = None
    else:
        if not kvm_usable(a.hyperlight):
            print("skipped: guests cannot run here (hyperlight doctor)")
            return 77
        srv = Server(a.hyperlight, [os.path.join(a.guest_dir, "simpleguest"),
                                    os.path.join(a.wasm_guest_dir, "bench")],
                     "--pool", a.pool, "--queue", "256", "--queue-timeout-ms", "10000",
                     "--max-connections", "4096", access_log=False)
    failed = False
    print("%-8s %5s %9s %9s %10s %9s %9s %9s %6s" % ("scenario", "conns", "requests", "answered",
                                                     "req/s", "p50 ms", "p99 ms", "p99.9 ms",
                                                     "errors"))
    try:
        for sc in a.scenarios.split(","):
            for c in (int(x) for x in a.connections.split(",")):
                r = run(srv, sc, c, a.duration)
                print("%-8s %5d %9d %9d %10.0f %9.3f %9.3f %9.3f %6d" % (
                    sc, c, r["requests"], r["answered"], r["rps"], r["p50"], r["p99"], r["p999"],
                    r["errors"]))
                sys.stdout.flush()
                if r["errors"] or r["requests"] != r["answered"] or r["server_counted"] != r["ok"]:
                    failed = True
                    print("  LOST OR WRONG: sent %d, answered %d, right %d, server counted %d; %s"
                          % (r["requests"], r["answered"], r["ok"], r["server_counted"],
                             r["samples"]))
        if srv.proc is not None:
            rc = srv.stop()
            if rc != 0:
                failed = True
                print("server exit status %d" % rc)
    finally:
        if srv.proc is not None:
            srv.kill()
    print("FAILED" if failed else "nothing lost: every request answered right and counted once")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
