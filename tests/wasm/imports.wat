;; imports.wat - host functions imported from "env", with every value type.
(module
  (import "env" "host_mul" (func $host_mul (param i32 i32) (result i32)))
  (import "env" "host_scale" (func $host_scale (param f64 f32) (result f64)))
  (import "env" "host_big" (func $host_big (param i64) (result i64)))
  (import "env" "host_note" (func $host_note (param i32)))
  (import "env" "HostError" (func $host_error (result i32)))
  (import "env" "missing_fn" (func $missing (result i32)))
  (func (export "mul_via_host") (param i32 i32) (result i32)
    (call $host_mul (local.get 0) (local.get 1)))
  (func (export "scale") (param f64 f32) (result f64)
    (call $host_scale (local.get 0) (local.get 1)))
  (func (export "big") (param i64) (result i64) (call $host_big (local.get 0)))
  (func (export "note") (param i32) (call $host_note (local.get 0)))
  ;; 1*1 + 2*2 + ... + n*n, every product by the host
  (func (export "sum_squares") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $acc (i32.add (local.get $acc) (call $host_mul (local.get $i) (local.get $i))))
        (br $next)))
    (local.get $acc))
  (func (export "call_failing") (result i32) (call $host_error))
  (func (export "call_missing") (result i32) (call $missing))
)
