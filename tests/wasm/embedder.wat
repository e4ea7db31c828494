;; embedder.wat - a module that an embedder in C (embedder.c) drives: it imports a function the
;; embedder implements (env.twice) and exports one the embedder calls.
(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (func (export "add_twice") (param i32 i32) (result i32)
    (i32.add (local.get 0) (call $twice (local.get 1)))))
