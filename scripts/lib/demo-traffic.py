#!/usr/bin/python3
"""Servers and clients for scripts/demo (run inside the demo's namespaces).

  demo-traffic.py serve tcp:8080 udp:8080 ...   answer TCP connections and UDP datagrams
  demo-traffic.py tcp HOST PORT                 connect, send a line, read the answer
  demo-traffic.py udp HOST PORT [COUNT]         send COUNT datagrams, wait briefly for answers

Clients print one short line saying what happened (answered, refused, timed out) and
always exit 0: a refused or dropped packet is an expected part of the demo.
"""
import selectors
import socket
import sys


def serve(specs):
    sel = selectors.DefaultSelector()
    for spec in specs:
        proto, port = spec.split(":")
        if proto == "tcp":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", int(port)))
            s.listen(16)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", int(port)))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, proto)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            try:
                if key.data == "tcp":
                    c, _ = s.accept()
                    c.settimeout(1)
                    try:
                        c.recv(256)
                        c.sendall(b"hello from netlog's demo\n")
                    except OSError:
                        pass
                    c.close()
                else:
                    data, peer = s.recvfrom(2048)
                    s.sendto(b"echo " + data, peer)
            except OSError:
                pass


def tcp(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = s.recv(256).decode(errors="replace").strip()
            return f"answered: {answer}"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timed out"
    except OSError as e:
        return f"failed: {e.strerror or e}"


def udp(host, port, count=3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    answers = refused = 0
    for i in range(int(count)):
        try:
            s.sendto(f"datagram {i}".encode(), (host, int(port)))
            s.recv(2048)
            answers += 1
        except ConnectionRefusedError:  # ICMP port/admin unreachable from a REJECT
            refused += 1
        except (socket.timeout, OSError):
            pass
    return f"{count} datagrams, {answers} answered, {refused} refused"


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args)
    elif cmd == "tcp":
        print(tcp(*args), flush=True)
    elif cmd == "udp":
        print(udp(*args), flush=True)
    else:
        sys.exit(f"demo-traffic.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
