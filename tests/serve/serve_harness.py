"""serve_harness.py - start, drive and stop `hyperlight serve` on loopback for the tests and the load client.

Standard library only (http.client, socket, subprocess): the tests run on a
fresh Debian with python3 and nothing else.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time


class Server:
    """A `hyperlight serve` process on 127.0.0.1 and a free port (port 0,
    read back from --port-file). Its stderr goes to a file in `self.dir`."""

    def __init__(self, binary, guests, *flags, config=None, access_log=True):
        self.dir = tempfile.mkdtemp(prefix="hl-serve-")
        self.port_file = os.path.join(self.dir, "port")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.access_path = os.path.join(self.dir, "access.log")
        args = [binary, "serve", "--listen", "127.0.0.1:0", "--port-file", self.port_file,
                "--access-log", self.access_path if access_log else "off"]
        if config is not None:
            cpath = os.path.join(self.dir, "config.json")
            with open(cpath, "w") as f:
                json.dump(config, f)
            args += ["--config", cpath]
        args += list(flags) + list(guests)
        self.args = args
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d: %s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("server did not start: " + self.log())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def log(self):
        if not self.stderr.closed:
            self.stderr.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def access_lines(self):
        with open(self.access_path, errors="replace") as f:
            return f.read().splitlines()

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=30):
        """One request; returns (status, headers dict with lower-case names, body bytes)."""
        c = conn or self.conn(timeout)
        try:
            if isinstance(body, (list, dict)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if conn is None:
                c.close()

    def call(self, guest, fn, args, **kw):
        """POST /v1/guest/fn; returns (status, decoded JSON or None, headers)."""
        st, hd, data = self.request("POST", "/v1/%s/%s" % (guest, fn), args, **kw)
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        return st, doc, hd

    def metrics(self):
        st, _, data = self.request("GET", "/metrics")
        assert st == 200, st
        return data.decode()

    def metric(self, name, **labels):
        """The sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(have.get(k) == str(v) for k, v in labels.items()):
                total += float(m.group(4))
        return total

    def healthy(self):
        try:
            st, _, data = self.request("GET", "/healthz", timeout=10)
            return st == 200 and json.loads(data) == {"status": "ok"}
        except OSError:
            return False

    def raw(self, data, wait=None, timeout=10):
        """Sends raw bytes on a new socket; returns the socket (not closed)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.sendall(data)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends `sig` and waits; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.stderr.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.stderr.closed:
            self.stderr.close()


def kvm_usable(binary):
    """True if `hyperlight doctor` says guests run here (natively or in the
    VM tests/vm provides, where this runs under run-in-vm.sh)."""
    r = subprocess.run([binary, "doctor", "--quiet"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def percentile(sorted_values, q):
    """The value below which a fraction q of the sorted values lie (nearest rank)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]
