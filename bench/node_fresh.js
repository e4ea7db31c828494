// node_fresh.js - the V8 alternative of the bench: a new WebAssembly instance + a call, per request.
// Usage: node node_fresh.js [N]; prints one JSON line: the median microseconds of
// `new WebAssembly.Instance(module)` + one call of its export, over N fresh instances,
// each timed on its own (the module is compiled once, as a snapshot is taken once).
'use strict';

// The module, assembled here so that nothing else is needed: one memory page (64 KiB)
// and `dirty(n)`, which writes one byte into each of the first n 4 KiB pages, as
// simpleguest's DirtyPages(n) does (called with 8, like our fresh-state call).
function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
const section = (id, body) => [id, ...leb(body.length), ...body];
const name = [...Buffer.from('dirty')];
const body = [
  0x01, 0x01, 0x7f,                   // one local i32 (i)
  0x02, 0x40, 0x03, 0x40,             // block, loop
  0x20, 0x01, 0x20, 0x00, 0x4f,       // i >= n (unsigned)
  0x0d, 0x01,                         // br_if out of the block
  0x20, 0x01, 0x41, 0x80, 0x20, 0x6c, // i * 4096
  0x41, 0x01, 0x3a, 0x00, 0x00,       // i32.store8 1
  0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, // i += 1
  0x0c, 0x00, 0x0b, 0x0b,             // br loop; end; end
  0x20, 0x00, 0x0b,                   // return n
];
const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]),          // type (i32) -> i32
  ...section(3, [0x01, 0x00]),                                  // one function of it
  ...section(5, [0x01, 0x00, 0x01]),                            // memory, 1 page
  ...section(7, [0x01, name.length, ...name, 0x00, 0x00]),      // export "dirty"
  ...section(10, [0x01, ...leb(body.length), ...body]),         // its code
]);

const n = Math.max(10, Number(process.argv[2]) || 1000);
const now = () => Number(process.hrtime.bigint()) / 1000;
const mod = new WebAssembly.Module(bytes);
const fresh = () => {
  if (new WebAssembly.Instance(mod, {}).exports.dirty(8) !== 8) throw new Error('wrong answer');
};
for (let i = 0; i < n / 10 + 10; i++) fresh();
const t = [];
for (let i = 0; i < n; i++) {
  const t0 = now();
  fresh();
  t.push(now() - t0);
}
t.sort((a, b) => a - b);
const median = n % 2 ? t[n >> 1] : (t[n / 2 - 1] + t[n / 2]) / 2;
console.log(JSON.stringify({ node: process.version, instances: n, instance_call_us: median }));
