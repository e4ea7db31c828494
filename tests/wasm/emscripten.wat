;; emscripten.wat - a module shaped like emscripten's minified output: an imported memory, the
;; runtime's env functions and WASI under one-letter names ("a" "b", ...), which
;; emscripten.map renames; exports under one-letter names too.
(module
  (import "a" "a" (memory 2 8))
  (import "a" "b" (func $resize (param i32) (result i32)))         ;; emscripten_resize_heap
  (import "a" "c" (func $date_now (result f64)))                   ;; emscripten_date_now
  (import "a" "d" (func $get_now (result f64)))                    ;; emscripten_get_now
  (import "a" "e" (func $abort))                                   ;; _abort_js
  (import "a" "f" (func $assert (param i32 i32 i32 i32)))          ;; __assert_fail
  (import "a" "g" (func $tzset (param i32 i32 i32 i32)))           ;; _tzset_js
  (import "a" "h" (func $localtime (param i64 i32)))               ;; _localtime_js
  (import "a" "i" (func $openat (param i32 i32 i32 i32) (result i32))) ;; __syscall_openat
  (import "a" "j" (func $fd_write (param i32 i32 i32 i32) (result i32))) ;; WASI fd_write
  (import "a" "k" (func $keepalive))                               ;; _emscripten_runtime_keepalive_clear
  (data (i32.const 16) "cond\00file.c\00fn\00")
  (data (i32.const 64) "hello from emscripten\n")
  (global $ctors (mut i32) (i32.const 0))

  ;; __wasm_call_ctors: runs once at init
  (func (export "u") (global.set $ctors (i32.const 7)) (call $keepalive))
  (func (export "v") (result i32) (global.get $ctors))                        ;; ctors_ran
  ;; grow(bytes) -> the memory's size in pages afterwards, or -1
  (func (export "w") (param i32) (result i32)
    (if (result i32) (call $resize (local.get 0))
      (then (memory.size)) (else (i32.const -1))))
  (func (export "x") (result f64) (call $date_now))                           ;; date_now
  (func (export "y") (result f64) (call $get_now))                            ;; get_now
  (func (export "z") (call $abort))                                           ;; abort
  (func (export "A") (call $assert (i32.const 16) (i32.const 21) (i32.const 42) (i32.const 28)))
  ;; tz() -> timezone + daylight + the first byte of the zone names ('U' twice)
  (func (export "B") (result i32)
    (call $tzset (i32.const 128) (i32.const 132) (i32.const 136) (i32.const 160))
    (i32.add (i32.add (i32.load (i32.const 128)) (i32.load (i32.const 132)))
             (i32.add (i32.load8_u (i32.const 136)) (i32.load8_u (i32.const 160)))))
  ;; year(t) -> tm_year + 1900 of gmtime(t), times 1000, plus tm_yday
  (func (export "C") (param i64) (result i32)
    (call $localtime (local.get 0) (i32.const 256))
    (i32.add (i32.mul (i32.add (i32.load (i32.const 276)) (i32.const 1900)) (i32.const 1000))
             (i32.load (i32.const 284))))
  (func (export "D") (result i32)                                             ;; openat
    (call $openat (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "E") (result i32)                                             ;; hello
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 22))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
