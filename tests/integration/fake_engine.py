#!/usr/bin/python3
"""A stand-in for the Docker API on a unix socket, for what the real daemons cannot be made
to do: answer garbage, hang, speak an old API version, list thousands of containers. The
real dockerd and podman are in test_metadata_{docker,podman,faults}.py; this serves only
the bad-input cases and the scale measurement (bench/engine-scale).

  fake_engine.py SOCKET MODE [N]
    ok N       /version 1.41, a list of N running containers (10.203.0.0/16, two labels
               each), /events held open (chunked; with FAKE_ENGINE_START_AFTER=S, the start
               of container N after S seconds), /containers/<id>/json
    old        /version says ApiVersion 1.12
    garbage    every request gets "SSH-2.0-OpenSSH_9.2\\r\\n..." and the connection is closed
    hang       connections are accepted and never answered
"""
import json
import os
import socket
import sys
import threading
import time


def container(i):
    ip = f"10.203.{(i + 2) // 256}.{(i + 2) % 256}"
    cid = f"{i:064x}"
    return {"Id": cid, "Names": [f"/app-{i}"], "Image": "registry.example/app:1.0",
            "ImageID": "sha256:" + "ab" * 32, "Command": "sleep 3600", "Created": 1796223244,
            "Ports": [], "Labels": {"com.docker.compose.service": f"svc-{i % 10}",
                                    "org.example.build": "x" * 40},
            "State": "running", "Status": "Up 1 hour", "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {"bridge": {
                "IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "n" * 64,
                "EndpointID": "e" * 64, "Gateway": "10.203.0.1", "IPAddress": ip,
                "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:0a:cb:00:02", "DriverOpts": None}}},
            "Mounts": []}


def respond(conn, status, body, ctype="application/json"):
    head = (f"HTTP/1.1 {status} X\r\nApi-Version: 1.41\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    conn.sendall(head + body)


def serve(conn, mode, listing, n):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            b = conn.recv(4096)
            if not b:
                return
            req += b
        if mode == "garbage":  # another protocol's server on that socket
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n")
            return
        if mode == "hang":
            threading.Event().wait()
        path = req.split(b" ")[1].decode()
        if path.startswith("/version"):
            api = "1.12" if mode == "old" else "1.41"
            respond(conn, 200, json.dumps({"Version": "fake", "ApiVersion": api,
                                           "MinAPIVersion": "1.12"}).encode())
        elif path.startswith("/events"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            if os.environ.get("FAKE_ENGINE_START_AFTER"):
                # one container more, started a moment after the stream opened (scale bench)
                time.sleep(float(os.environ["FAKE_ENGINE_START_AFTER"]))
                c = container(n)
                ev = json.dumps({"status": "start", "id": c["Id"], "Type": "container",
                                 "Action": "start", "Actor": {"ID": c["Id"], "Attributes": {}},
                                 "scope": "local", "time": int(time.time()),
                                 "timeNano": time.time_ns()}).encode() + b"\n"
                conn.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            while conn.recv(4096):
                pass
        elif path.startswith("/containers/json"):
            respond(conn, 200, listing)
        elif path.startswith("/containers/"):
            i = int(path.split("/")[2], 16)
            c = container(i) if i <= n else None
            if c is None:
                respond(conn, 404, b'{"message":"No such container"}')
            else:
                respond(conn, 200, json.dumps({"Id": c["Id"], "Name": c["Names"][0],
                                               "Config": {"Image": c["Image"], "Labels": c["Labels"]},
                                               "State": {"Running": True},
                                               "NetworkSettings": c["NetworkSettings"]}).encode())
        else:
            respond(conn, 404, b'{"message":"page not found"}')
    except OSError:
        pass
    finally:
        conn.close()


def main():
    path, mode = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    listing = json.dumps([container(i) for i in range(n)]).encode() if mode == "ok" else b""
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(64)
    print("listening", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, mode, listing, n), daemon=True).start()


if __name__ == "__main__":
    main()
