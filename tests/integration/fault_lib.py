"""Shared by the test_fault_*.py tests: traffic from a container of a daemon_world.Cell,
`netlogd --stats` against the running daemon, and a strict reader of JSON-lines outputs."""
import json
import os
import re
import time

import netns
from daemon_world import OUT_IP
from netns import check, fail

METRICS_PORT = 7561


def send(w, n, port=9999, rate=2000, src="c1", size=32):
    """n UDP datagrams from container `src` to the outside host at `rate` per second."""
    code = f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range({n}):
    s.sendto(b'f' * {size}, ('{OUT_IP}', {port}))
    if i % 50 == 49:
        d = t0 + (i + 1) / {rate} - time.monotonic()
        if d > 0:
            time.sleep(d)
"""
    w.c[src].run(["/usr/bin/python3", "-c", code], timeout=max(60, 3 * n // rate + 30))


def metrics_extra(port=METRICS_PORT):
    return f"metrics: {{listen: \"127.0.0.1:{port}\"}}\n"


def stats(w, cfg):
    """`netlogd --stats -c cfg` in the cell: (exit code, {name: int} of the identity table,
    [(output, lines, dropped)], the text)."""
    r = w.cell.run([netns.binary("netlogd"), "--stats", "-c", cfg], check=False, timeout=30)
    text = r.stdout
    vals = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(?:\+|=)?\s*(emitted|suppressed|in flight|dropped \S+)\s.*?(\d+)$", line)
        if m:
            vals[m.group(1)] = int(m.group(2))
        m = re.match(r"^kernel logged \(NFLOG sequence\)\s+(\d+)$", line)
        if m:
            vals["kernel"] = int(m.group(1))
    outs = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in
            re.finditer(r"^output (\S+) .*?: (\d+) lines written, (\d+) dropped", text, re.M)]
    return r.returncode, vals, outs, text + r.stderr


def json_lines(path):
    """Every line of a JSON-lines file, parsed; fails on a NUL, a cut or a broken line."""
    with open(path, "rb") as f:
        data = f.read()
    check(b"\0" not in data, f"{path}: NUL bytes (a hole)")
    check(not data or data.endswith(b"\n"), f"{path}: the last line is cut: {data[-120:]!r}")
    out = []
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            out.append(json.loads(line))
        except ValueError:
            fail(f"{path}:{n}: not a JSON line: {line[:160]!r}")
    return out


class StoppedThread:
    """Stops one thread of a process (found by its name in /proc/PID/task/*/comm) while the
    others run: ptrace(PTRACE_SEIZE) + PTRACE_INTERRUPT, PTRACE_DETACH to resume. A stall
    forced this way does not depend on the machine's speed. Use as a context manager."""

    def __init__(self, pid, name):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        self.tid = None
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().strip() == name:
                    self.tid = int(t)
        check(self.tid, f"no thread named {name} in pid {pid}")

    def __enter__(self):
        import ctypes
        # Stopped where it waits (in futex(2): a condition variable, no lock held), not in
        # the middle of its work, where it might hold a lock another thread then waits for.
        for _ in range(200):
            if self.libc.ptrace(0x4206, self.tid, None, None) != 0:  # PTRACE_SEIZE
                fail(f"PTRACE_SEIZE {self.tid}: errno {ctypes.get_errno()}")
            if self.libc.ptrace(0x4207, self.tid, None, None) != 0:  # PTRACE_INTERRUPT
                fail(f"PTRACE_INTERRUPT {self.tid}: errno {ctypes.get_errno()}")
            os.waitpid(self.tid, 0x40000000)  # __WALL: the thread is stopped
            with open(f"/proc/{self.tid}/syscall") as f:
                if f.read().split()[0] == "202":  # futex
                    return self
            self.libc.ptrace(17, self.tid, None, None)  # PTRACE_DETACH
            time.sleep(0.01)
        fail(f"thread {self.tid} was never found waiting")

    def __exit__(self, *exc):
        self.libc.ptrace(17, self.tid, None, None)  # PTRACE_DETACH: it runs again
        return False
