;; wasi.wat - the WASI subset: output, args, environment, clocks, randomness, exit, and an unsupported call.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wasm\n")
  (data (i32.const 48) "to stderr\n")
  (data (i32.const 64) "started\n")

  ;; fd_write(fd, one iovec {buf, len} at 0) -> errno; nwritten at 8
  (func $write (param $fd i32) (param $buf i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $buf))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))

  ;; the start function prints while the module is instantiated
  (func $start (drop (call $write (i32.const 1) (i32.const 64) (i32.const 8))))
  (start $start)

  (func (export "hello") (result i32)
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 16)))
    (i32.load (i32.const 8)))
  (func (export "to_stderr") (result i32) (call $write (i32.const 2) (i32.const 48) (i32.const 10)))
  (func (export "write_fd") (param i32) (result i32) (call $write (local.get 0) (i32.const 16) (i32.const 16)))
  ;; an iovec that runs past the end of the memory
  (func (export "write_bad_iov") (result i32) (call $write (i32.const 1) (i32.const 65530) (i32.const 100)))
  ;; two iovecs in one call: "hello " and "from wasm\n" pieces of the data above
  (func (export "write_two") (result i32)
    (i32.store (i32.const 100) (i32.const 16)) (i32.store (i32.const 104) (i32.const 6))
    (i32.store (i32.const 108) (i32.const 22)) (i32.store (i32.const 112) (i32.const 10))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 2) (i32.const 8)))
    (i32.load (i32.const 8)))

  (func (export "argc") (result i32)
    (drop (call $args_sizes_get (i32.const 200) (i32.const 204)))
    (i32.load (i32.const 200)))
  ;; writes the args buffer (strings with their NULs) to stdout; returns argv[last] - argv[0]
  (func (export "print_args") (result i32)
    (drop (call $args_sizes_get (i32.const 200) (i32.const 204)))
    (drop (call $args_get (i32.const 1024) (i32.const 2048)))
    (drop (call $write (i32.const 1) (i32.const 2048) (i32.load (i32.const 204))))
    (i32.sub
      (i32.load (i32.add (i32.const 1024)
        (i32.mul (i32.sub (i32.load (i32.const 200)) (i32.const 1)) (i32.const 4))))
      (i32.load (i32.const 1024))))
  (func (export "print_env") (result i32)
    (drop (call $environ_sizes_get (i32.const 200) (i32.const 204)))
    (drop (call $environ_get (i32.const 1024) (i32.const 2048)))
    (drop (call $write (i32.const 1) (i32.const 2048) (i32.load (i32.const 204))))
    (i32.load (i32.const 200)))

  ;; the clock's time in ns, or minus the errno
  (func (export "clock") (param i32) (result i64) (local $e i32)
    (local.set $e (call $clock_time_get (local.get 0) (i64.const 1) (i32.const 304)))
    (if (result i64) (local.get $e)
      (then (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $e))))
      (else (i64.load (i32.const 304)))))
  (func (export "random") (result i64)
    (drop (call $random_get (i32.const 400) (i32.const 8)))
    (i64.load (i32.const 400)))
  (func (export "random_errno") (param i32 i32) (result i32) (call $random_get (local.get 0) (local.get 1)))
  (func (export "exit") (param i32) (call $proc_exit (local.get 0)))
  (func (export "close_stdout") (result i32) (call $fd_close (i32.const 1)))
)
