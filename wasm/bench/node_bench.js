// node_bench.js - Node's WebAssembly (V8, in-process) on the module hl_wasm_bench calls:
// a call, a new instance + call (fresh state), compile + instantiate + call.
// Usage: node node_bench.js MODULE.wasm [ITERS]; prints one JSON line (microseconds).
'use strict';
const fs = require('fs');
const [file, itersArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node node_bench.js MODULE.wasm [ITERS]');
  process.exit(1);
}
const bytes = fs.readFileSync(file);
const iters = Math.max(10, Number(itersArg) || 2000);
const now = () => Number(process.hrtime.bigint()) / 1000;
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];

// Median microseconds of fn, one sample per call.
function timeEach(fn, n) {
  for (let i = 0; i < n / 10 + 1; i++) fn();
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    fn();
    t.push(now() - t0);
  }
  return median(t);
}

// A call is far below the timer's resolution: time batches and divide.
function timeBatched(fn, batch, rounds) {
  for (let i = 0; i < batch; i++) fn();
  const t = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = now();
    for (let i = 0; i < batch; i++) fn();
    t.push((now() - t0) / batch);
  }
  return median(t);
}

const mod = new WebAssembly.Module(bytes);
const inst = new WebAssembly.Instance(mod, {});
const { add, noop } = inst.exports;
let sink = 0;
const res = {
  node: process.version,
  call_noop_us: timeBatched(() => noop(), 100000, 9),
  call_add_us: timeBatched(() => { sink += add(1, 2); }, 100000, 9),
  instantiate_call_us: timeEach(() => new WebAssembly.Instance(mod, {}).exports.noop(), iters),
  compile_instantiate_call_us: timeEach(
    () => new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports.noop(),
    Math.min(iters, 500)),
};
if (sink === 0) process.exit(2);
console.log(JSON.stringify(res));
