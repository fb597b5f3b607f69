"""Shared by the test_fault_*.py tests: traffic from a container of a daemon_world.Cell,
`netlogd --stats` against the running daemon, and a strict reader of JSON-lines outputs."""
import json
import re

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
