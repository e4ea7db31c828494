;; badinit.wat - a data segment past the end of the memory: instantiation traps.
(module
  (memory 1)
  (data (i32.const 65530) "0123456789")
  (func (export "f") (result i32) (i32.const 1))
)
