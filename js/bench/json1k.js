// json1k.js - about 1 KiB of JSON in, the same object (with a count added) back out.
function handler(e) {
  e.count = e.items.length;
  return e;
}
