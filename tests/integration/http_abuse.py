#!/usr/bin/env python3
"""Hostile and ordinary HTTP clients for the metrics listener, written with raw sockets
(no HTTP library in between: the bytes are exactly the ones described). Runs inside the
namespace of the listener; prints one JSON object on stdout.

  http_abuse.py PORT scrape N          N sequential GET /metrics: status and seconds each
  http_abuse.py PORT slow N SECONDS    N slowloris clients (a header line every 2 s) for
                                       SECONDS, scraping /metrics every 0.5 s meanwhile;
                                       when each slow client was cut off
  http_abuse.py PORT idle N            N connections that send nothing: how many were
                                       answered 503 at once, then closes them
  http_abuse.py PORT headers MB        MB megabytes of header lines on one GET: the status
                                       the listener answered and how much it took first
  http_abuse.py PORT body METHOD MB    METHOD / with Content-Length MB megabytes, sending
                                       the body: the status and bytes sent before it came
Every loop is bounded in count and time; traffic only to 127.0.0.1.
"""
import json
import select
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])


def connect():
    return socket.create_connection(("127.0.0.1", PORT), timeout=10)


def status_of(data):
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") else None


def get(path="/metrics", timeout=5):
    t0 = time.monotonic()
    s = connect()
    s.settimeout(timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        # a listener that refuses a connection closes it at once: the request it did not
        # read turns the close into a reset, which may overtake its 503
        if not data:
            return "reset", time.monotonic() - t0, data
    finally:
        s.close()
    return status_of(data), time.monotonic() - t0, data


def scrape(n):
    out = []
    for _ in range(n):
        st, dt, _ = get()
        out.append({"status": st, "seconds": dt})
    return {"scrapes": out}


def slow(n, seconds):
    cut = [None] * n
    socks = []
    for i in range(n):
        s = connect()
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        socks.append(s)
    t0 = time.monotonic()

    def dribble(i, s):
        # one header line every 2 s, as a slowloris does; note when the server closes
        k = 0
        while time.monotonic() - t0 < seconds:
            r, _, _ = select.select([s], [], [], 2.0)
            if r:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                # an answer or the close ends this client
                cut[i] = {"after": time.monotonic() - t0, "status": status_of(data)}
                return
            try:
                s.sendall(f"X-Slow-{k}: {'a' * 20}\r\n".encode())
            except OSError:
                cut[i] = {"after": time.monotonic() - t0, "status": None}
                return
            k += 1

    threads = [threading.Thread(target=dribble, args=(i, s)) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    scrapes = []
    while time.monotonic() - t0 < seconds:
        st, dt, _ = get(timeout=5)
        scrapes.append({"at": time.monotonic() - t0, "status": st, "seconds": dt})
        time.sleep(0.5)
    for t in threads:
        t.join(timeout=seconds + 5)
    for s in socks:
        s.close()
    return {"cut": cut, "scrapes": scrapes}


def idle(n):
    socks, busy = [], 0
    for _ in range(n):
        socks.append(connect())
    time.sleep(0.5)
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if r:
            data = s.recv(4096)
            if status_of(data) == 503:
                busy += 1
    st, dt, _ = get(timeout=5)  # while all slots are held
    for s in socks:
        s.close()
    return {"answered_503": busy, "scrape_while_full": st}


def send_until_answer(s, chunks, limit_s=20):
    """Send chunks while watching for the answer; (status, bytes sent, seconds)."""
    sent, data, t0 = 0, b"", time.monotonic()
    s.setblocking(False)
    it = iter(chunks)
    pending = next(it, None)
    while time.monotonic() - t0 < limit_s:
        r, w, _ = select.select([s], [s] if pending is not None else [], [], 1.0)
        if r:
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                break
        if w and pending is not None:
            try:
                n = s.send(pending)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                pending = None
                continue
            sent += n
            pending = pending[n:] or next(it, None)
    return status_of(data), sent, time.monotonic() - t0


def headers(mb):
    line = b"X-Big: " + b"a" * 1000 + b"\r\n"
    count = mb * 1024 * 1024 // len(line)
    s = connect()
    st, sent, dt = send_until_answer(s, [b"GET /metrics HTTP/1.1\r\n"] + [line] * count)
    s.close()
    return {"status": st, "sent": sent, "seconds": dt}


def body(method, mb):
    size = mb * 1024 * 1024
    head = f"{method} /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n\r\n".encode()
    chunk = b"b" * 65536
    s = connect()
    st, sent, dt = send_until_answer(s, [head] + [chunk] * (size // len(chunk)))
    s.close()
    return {"status": st, "sent": sent, "seconds": dt}


cmd = sys.argv[2]
if cmd == "scrape":
    res = scrape(int(sys.argv[3]))
elif cmd == "slow":
    res = slow(int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "idle":
    res = idle(int(sys.argv[3]))
elif cmd == "headers":
    res = headers(int(sys.argv[3]))
elif cmd == "body":
    res = body(sys.argv[3], int(sys.argv[4]))
else:
    sys.exit(f"unknown command {cmd}")
print(json.dumps(res))
