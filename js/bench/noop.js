// noop.js - the cheapest handler: the call's own cost (JSON null in, null out).
function handler(e) {
  return e;
}
