// node_bench.js - the same handlers in Node, for hl_js_bench (bench_js.c), which starts it and
// reads its one line of JSON output. Reads a JSON list of cases on stdin:
//   [{"name": "noop", "file": "/path/noop.js", "input": "<JSON text>", "iters": 2000}, ...]
// and, for each, times a call in-process (the handler compiled once in Node's own realm; JSON
// text in, JSON text out) and a call in a new vm context (a fresh realm: createContext, the
// source run in it, then the call), printing
//   {"node": "v20...", "cases": {"noop": {"inproc_ns": median, "vm_ns": median}, ...}}
"use strict";
const fs = require("fs");
const vm = require("vm");

const median = (xs) => { xs.sort((a, b) => a - b); return xs[xs.length >> 1]; };

function inProcess(src, input, iters) {
  const handler = vm.runInThisContext(src + "\n;handler", { filename: "handler.js" });
  const once = () => JSON.stringify(handler(JSON.parse(input)));
  for (let i = 0; i < 200; i++) once();
  // A call is far below the clock's resolution: time batches and divide.
  const batch = 100, out = [];
  for (let r = 0; r < Math.max(20, Math.floor(iters / batch)); r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) once();
    out.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return median(out);
}

function newContext(src, input, iters) {
  const script = new vm.Script(src, { filename: "handler.js" }); // compiled once, like a snapshot's
  const call = new vm.Script("JSON.stringify(handler(JSON.parse(__input)))");
  const once = () => {
    const ctx = vm.createContext({ __input: input });
    script.runInContext(ctx);
    return call.runInContext(ctx);
  };
  for (let i = 0; i < 20; i++) once();
  const out = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    once();
    out.push(Number(process.hrtime.bigint() - t0));
  }
  return median(out);
}

const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const result = { node: process.version, cases: {} };
for (const c of cases) {
  const src = fs.readFileSync(c.file, "utf8");
  result.cases[c.name] = {
    inproc_ns: inProcess(src, c.input, c.iters),
    vm_ns: newContext(src, c.input, Math.max(50, Math.floor(c.iters / 4))),
  };
}
process.stdout.write(JSON.stringify(result) + "\n");
