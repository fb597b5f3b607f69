#!/usr/bin/python3
"""The Docker source when the daemon misbehaves: netlogd never waits for it, says what is
wrong in one line, keeps the last index, and comes back by itself.

With the real dockerd (live-restore, so that containers outlive it):
  1. netlogd starts before dockerd: "no such socket"; dockerd starts: netlogd connects.
  2. dockerd killed (SIGKILL, a stale socket): "connection refused", the last index stays
     (a running container's packet is still named); dockerd back: re-listed.
  3. dockerd stopped (SIGTERM removes its socket): "no such socket"; a container started
     while it was away... cannot be (no daemon); back: a new container is named.
  4. the events stream cut (a proxy between netlogd and dockerd, reached by a SIGHUP
     reload): netlogd reconnects and lists again; a container started while it was cut
     off is named after the re-list.
With a stand-in API server (fake_engine.py; the real daemons cannot be made to do this):
  5. garbage, a daemon that hangs, an API version too old, permission denied: one clear
     line each, and NFLOG events keep flowing (unenriched) all the while.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import netns
from netns import Netns, check, fail, log, on_exit, veth, wait_for
import engine_world
from engine_world import Docker, NetlogD, expected_container

LABELS = ["com.docker.compose.service"]
HERE = os.path.dirname(os.path.abspath(__file__))


class Proxy:
    """unix socket -> unix socket, every connection forwarded; cut() closes them all and
    hold() refuses new ones until release()."""

    def __init__(self, path, upstream):
        self.path, self.upstream = path, upstream
        self.conns, self.lock, self.holding = [], threading.Lock(), False
        self.s = socket.socket(socket.AF_UNIX)
        self.s.bind(path)
        self.s.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.s.accept()
            if self.holding:
                c.close()
                continue
            try:
                u = socket.socket(socket.AF_UNIX)
                u.connect(self.upstream)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []


def real_daemon(tmp):
    d = Docker(tmp)
    rules = os.path.join(netns.source_root(), "rules", "docker.yaml")
    nl = NetlogD(d, tmp, rules, LABELS, grace=60)
    # 1. netlogd first: the socket is not there yet
    nl.start()
    wait_for(lambda: "no such socket" in nl.stderr(), timeout=30, what="the missing-socket line")
    line = next(l for l in nl.stderr().splitlines() if "no such socket" in l)
    log(f"1. {line}")
    check(nl.metric("netlog_metadata_source_up") == 0, "source up without a daemon")
    d.start(live_restore=True)
    d.import_image()
    wait_for(lambda: nl.metric("netlog_metadata_source_up") == 1, timeout=30,
             what="netlogd to connect once dockerd is there")
    log("1. dockerd started: netlogd connected")

    d.run("web", labels={"com.docker.compose.service": "web"})
    d.run("cli", labels={"com.docker.compose.service": "cli"})
    web4 = d.addresses("web")["bridge"][0]
    cli4 = d.addresses("cli")["bridge"][0]
    # The probe goes from the namespace itself (no daemon needed) to the container's address,
    # through OUTPUT: its destination is the container.
    d.iptables(f"-I OUTPUT -p tcp --dport 8080 -j LOG --log-prefix 'DOCKER-IN-DENY '")
    res = d.ns.run([netns.binary("netlog-rules"), "install", "--rules", rules], check=False)
    check(res.returncode == 0, f"netlog-rules install: {res.stdout}{res.stderr}")
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 2, timeout=30,
             what="the two containers indexed")

    def probe(ip):
        before = len(nl.events())
        d.ns.run(["nc", "-z", "-w", "1", ip, "8080"], check=False)
        e = wait_for(lambda: next((x for x in nl.events()[before:]
                                   if x["data"]["packet"]["dst_ip"] == ip), None),
                     timeout=10, what=f"the probe to {ip}")
        return e["data"]["destination"]

    want_web = expected_container(d, "web", LABELS)
    check(probe(web4) == want_web, "web not named with dockerd up")

    # 2. SIGKILL: the socket stays, nothing listens
    d.stop_daemon(signal.SIGKILL)
    wait_for(lambda: nl.metric("netlog_metadata_source_up") == 0, timeout=30,
             what="netlogd to see dockerd gone")
    wait_for(lambda: "connection refused" in nl.stderr(), timeout=30, what="the refused line")
    log("2. " + next(l for l in nl.stderr().splitlines() if "connection refused" in l))
    got = probe(web4)
    check(got == want_web, f"with dockerd killed, web is no longer named: {got}")
    log("2. dockerd killed: web still named from the last index")
    connects = nl.metric("netlog_metadata_source_connects_total")
    d.start(live_restore=True)
    wait_for(lambda: nl.metric("netlog_metadata_source_connects_total") == connects + 1,
             timeout=30, what="netlogd to reconnect to the restarted dockerd")
    check(nl.metric("netlog_metadata_containers", "running") == 2,
          f"re-listed: {nl.metric('netlog_metadata_containers', 'running')} running")
    check(probe(web4) == want_web, "web not named after dockerd came back")
    log("2. dockerd restarted: re-listed, web named")

    # 3. SIGTERM: dockerd removes its socket
    d.stop_daemon(signal.SIGTERM)
    check(not os.path.exists(d.sock), "dockerd left its socket behind")
    n0 = nl.stderr().count("no such socket")
    wait_for(lambda: nl.stderr().count("no such socket") > n0, timeout=30,
             what="the missing-socket line after dockerd removed its socket")
    connects = nl.metric("netlog_metadata_source_connects_total")
    d.start(live_restore=True)
    wait_for(lambda: nl.metric("netlog_metadata_source_connects_total") == connects + 1,
             timeout=30, what="netlogd to reconnect after the socket came back")
    d.run("after", labels={"com.docker.compose.service": "after"})
    after4 = d.addresses("after")["bridge"][0]
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 3, timeout=30,
             what="the new container indexed")
    check(probe(after4) == expected_container(d, "after", LABELS), "a new container not named")
    log("3. socket gone and back: a container started afterwards is named")

    # 4. the events stream cut, through a proxy reached by a reload
    proxy = Proxy(os.path.join(tmp, "proxy.sock"), d.sock)
    with open(nl.conf) as f:
        text = f.read()
    with open(nl.conf, "w") as f:
        f.write(text.replace(f"unix://{d.sock}", f"unix://{proxy.path}"))
    def following_via_proxy():
        return sum(1 for l in nl.stderr().splitlines()
                   if "following events" in l and proxy.path in l)
    nl.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: following_via_proxy() == 1, timeout=30,
             what="netlogd to follow the events through the proxy")
    disconnects = nl.metric("netlog_metadata_source_disconnects_total")
    proxy.holding = True
    proxy.cut()
    wait_for(lambda: nl.metric("netlog_metadata_source_disconnects_total") == disconnects + 1,
             timeout=30, what="netlogd to see the events stream cut")
    log("4. " + [l for l in nl.stderr().splitlines() if "events stream" in l][-1])
    d.run("meanwhile", labels={"com.docker.compose.service": "meanwhile"})
    mw4 = d.addresses("meanwhile")["bridge"][0]
    proxy.holding = False
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 4, timeout=30,
             what="netlogd to re-list after the cut")
    check(probe(mw4) == expected_container(d, "meanwhile", LABELS),
          "a container started while the stream was cut is not named after the re-list")
    log("4. events stream cut: reconnected, re-listed, the container started meanwhile named")
    nl.stop()
    log(f"netlogd: {nl.stderr().strip().splitlines()[-1]}")


def bad_servers(tmp):
    ns = Netns("fk")
    ns.run("ip addr add 10.203.0.1/16 dev lo")
    rules = os.path.join(tmp, "rules.yaml")
    with open(rules, "w") as f:
        f.write("nflog: {group: 44}\nclasses:\n"
                "  - {name: out, log_prefix: '^DOCKER-OUT-DENY', direction: egress, verdict: denied}\n")
    ns.run("iptables -A OUTPUT -p udp --dport 9999 -j NFLOG --nflog-group 44 "
           "--nflog-prefix DOCKER-OUT-DENY")
    os.chmod(tmp, 0o755)

    def case(mode, expect, user=False, n=0):
        sock = os.path.join(tmp, f"{mode}.sock")
        srv = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_engine.py"), sock,
                                "old" if mode == "old" else mode if mode != "denied" else "ok",
                                str(n)], stdout=subprocess.PIPE)
        on_exit(srv.kill)
        check(srv.stdout.readline().strip() == b"listening", f"fake server {mode}")
        if mode == "denied":
            os.chmod(sock, 0o600)
        out = os.path.join(tmp, f"{mode}.json")
        err = os.path.join(tmp, f"{mode}.err")
        conf = os.path.join(tmp, f"{mode}.yaml")
        with open(conf, "w") as f:
            f.write(f"rules: {rules}\nmetadata: {{source: docker, socket: {sock}}}\n"
                    f"outputs: [{{type: file, path: {out}}}]\n" + ("user: nobody\n" if user else ""))
        if user:
            open(out, "w").close()
            os.chmod(out, 0o666)
        p = ns.popen([netns.binary("netlogd"), "-c", conf], stdout=subprocess.DEVNULL,
                     stderr=open(err, "w"))
        def stderr():
            with open(err) as f:
                return f.read()
        wait_for(lambda: "reading NFLOG" in stderr() or p.poll() is not None, timeout=30,
                 what="netlogd to start")
        # the pipeline does not wait for the source: an event goes out while it fails
        t = time.monotonic()
        ns.run(["python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.bind(('10.203.0.1', 0)); s.sendto(b'x', ('10.203.0.9', 9999))"])
        wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, timeout=30,
                 what=f"an event while the source is {mode}")
        said = expect in stderr()
        t_ev = time.monotonic() - t
        ev = json.loads(open(out).readline())
        wait_for(lambda: expect in stderr() or p.poll() is not None, timeout=30,
                 what=f"netlogd's line for {mode} ({expect!r})")
        check(p.poll() is None, f"netlogd exited on {mode}: {stderr()}")
        log(f"5. {mode}: {next(l for l in stderr().splitlines() if expect in l)}")
        log(f"   an event {t_ev:.3f} s after it was sent ({'after' if said else 'before'} "
            f"that line), container {ev['data']['source']}")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=20) == 0, f"netlogd {mode} exit: {stderr()}")
        srv.kill()
        srv.wait()

    case("garbage", "not an HTTP/1.x response")
    case("hang", "no response to GET /version within")
    case("old", "API version 1.12")
    case("denied", "permission denied", user=True)


def main():
    engine_world.require_runtime("docker")
    tmp = tempfile.mkdtemp(prefix="netlog-faults-")
    on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    real_daemon(tmp)
    bad_servers(tmp)
    log("PASS: the Docker source survives a missing, killed, restarted and cut-off daemon and "
        "says what is wrong with a bad one; events never wait")


main()
