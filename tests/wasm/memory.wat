;; memory.wat - linear memory: size, growth up to the declared maximum, loads and stores.
(module
  (memory (export "memory") 1 40)
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; fills [addr, addr+len) with the byte and returns the sum of the bytes read back
  (func (export "fill_sum") (param $addr i32) (param $len i32) (param $byte i32) (result i64)
    (local $i i32) (local $sum i64)
    (memory.fill (local.get $addr) (local.get $byte) (local.get $len))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $sum (i64.add (local.get $sum)
          (i64.load8_u (i32.add (local.get $addr) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $sum))
)
