;; bench.wat - the module the bench calls (and Node instantiates): an empty function and an add.
(module
  (func (export "noop"))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
)
