// greet.js - a JavaScript handler: `hyperlight js run examples/greet.js handler '{"name":"world"}'`
// (docs/javascript.md). It gets one JSON value and returns one; console.log reaches stdout.
function handler(event) {
  console.log("greeting", event.name);
  return { greeting: "hello " + event.name, at: new Date(0).toISOString() };
}
