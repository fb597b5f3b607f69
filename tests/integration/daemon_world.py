"""A small Cloud Foundry-like cell in network namespaces, and netlogd running in it.

cell: the host namespace of the "cell" (routes, firewall, netlogd)
  s-010255015007 <-> c1 (10.255.15.7)    container 1, its traffic marked 0x2 by the cell
  s-010255015013 <-> c2 (10.255.15.13)   container 2
  eth0 10.10.10.2 <-> out (10.10.10.1)   a host outside the cell
Containers are wired like silk does it: /32 addresses, the cell's side at 169.254.0.1.
Used by the tests/integration/test_daemon_*.py scripts.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import netns
from netns import Netns, check, fail, log, on_exit, veth, wait_for

C1_IP, C2_IP, OUT_IP = "10.255.15.7", "10.255.15.13", "10.10.10.1"
C1_HANDLE = "cb40f81e-52ce-41c5-7a89-f01e"
C2_HANDLE = "d5978989-1401-49ff-46cd-33e5"
CONTAINERS = {
    # handle: (ip, app, space, org) -- shape of ../shared/facts/cloudfoundry.md section 2
    C1_HANDLE: (C1_IP, "c5836386-b934-424a-8d93-5894115b3130",
                "8bd0678d-c5fd-4991-8a5c-a75c75440e0b", "d95a6357-6124-48fe-80f9-c8ff6c250a6e"),
    C2_HANDLE: (C2_IP, "bc6f229d-5e4a-4c41-a63f-e8795496c283",
                "b9f86312-a7d7-4bcf-b70f-a440436c210b", "604bd59e-4139-4734-a3be-4e97836eb790"),
}
GROUP = 42  # rules/cloudfoundry.yaml


def veth_name(ip):
    return "s-" + "".join(f"{int(x):03d}" for x in ip.split("."))


class Cell:
    def __init__(self, with_containers=True):
        self.cell = Netns("cell")
        self.cell.run("sysctl -qw net.ipv4.ip_forward=1")
        self.out = Netns("out")
        veth(self.cell, self.out, "eth0", "eth0", ["10.10.10.2/24"], [OUT_IP + "/24"])
        self.out.run("ip route add 10.255.0.0/16 via 10.10.10.2")
        self.c = {}
        if with_containers:
            for name, ip in (("c1", C1_IP), ("c2", C2_IP)):
                ns = Netns(name)
                veth(self.cell, ns, veth_name(ip), "eth0")
                self.cell.run(f"ip addr add 169.254.0.1/32 dev {veth_name(ip)}")
                self.cell.run(f"ip route add {ip}/32 dev {veth_name(ip)}")
                ns.run(f"ip addr add {ip}/32 dev eth0")
                ns.run("ip route add 169.254.0.1 dev eth0 scope link")
                ns.run("ip route add default via 169.254.0.1")
                self.c[name] = ns
            self.cell.run(f"iptables -t mangle -A PREROUTING -i {veth_name(C1_IP)} "
                          "-j MARK --set-mark 0x2")
        self.dir = tempfile.mkdtemp(prefix="netlogd-test-")
        on_exit(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.proc = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def log_and_drop(self, port=9999, prefix=f"OK_{C1_HANDLE}"):
        """c1's UDP traffic to `port` is logged to NFLOG group GROUP with `prefix`, then
        dropped: the rule whose counter the accounting identity is checked against."""
        self.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport {port} -j NFLOG "
                      f"--nflog-group {GROUP} --nflog-prefix '{prefix}'")
        self.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport {port} -j DROP")

    def write_store(self, containers=CONTAINERS):
        store = {h: {"handle": h, "ip": ip,
                     "metadata": {"app_id": app, "space_id": space, "org_id": org,
                                  "policy_group_id": app, "ports": "8080",
                                  "container_workload": "app"}}
                 for h, (ip, app, space, org) in containers.items()}
        with open(self.path("store.json"), "w") as f:
            json.dump(store, f, indent=2)
        with open(self.path("store.json_version"), "w") as f:
            f.write("1")
        open(self.path("store.json_lock"), "a").close()

    def write_config(self, outputs, extra="", rules=None):
        rules = rules or os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
        text = f"rules: {rules}\n"
        if os.path.exists(self.path("store.json")):
            text += f"metadata: {{store: {self.path('store.json')}}}\n"
        text += "outputs:\n" + "".join(f"  - {o}\n" for o in outputs) + extra
        with open(self.path("netlogd.yaml"), "w") as f:
            f.write(text)
        return self.path("netlogd.yaml")

    def start(self, config=None, ns=None, wait_ready=True, stdout=subprocess.DEVNULL):
        ns = ns or self.cell
        cfg = config or self.path("netlogd.yaml")
        self.stderr_path = self.path(f"netlogd-{len(ns.procs)}.err")
        errf = open(self.stderr_path, "w")
        p = ns.popen([netns.binary("netlogd"), "-c", cfg], stdout=stdout, stderr=errf)
        if wait_ready:
            wait_for(lambda: "reading NFLOG" in self.stderr() or p.poll() is not None,
                     timeout=30, what="netlogd to start")
            if p.poll() is not None:
                fail(f"netlogd exited at start ({p.returncode}): {self.stderr()}")
        self.proc = p
        return p

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self, timeout=15):
        """SIGTERM netlogd (ip netns exec has exec'd it: same pid) and wait; exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail(f"netlogd did not exit within {timeout}s of SIGTERM")

    def counters(self):
        """The last 'exiting: k=v ...' line netlogd printed, as a dict of ints."""
        lines = [l for l in self.stderr().splitlines() if "netlogd: exiting:" in l]
        check(lines, f"netlogd printed no exit summary: {self.stderr()}")
        return {k: int(v) for k, v in (kv.split("=") for kv in lines[-1].split("exiting: ")[1].split())}

    def live_counters(self, timeout=10):
        """The running netlogd's counters: SIGUSR1 makes it print them ("netlogd:
        received=... ..."); the new line as a dict of ints."""
        def lines():
            return [l for l in self.stderr().splitlines()
                    if l.startswith("netlogd: received=")]
        n = len(lines())
        self.proc.send_signal(signal.SIGUSR1)
        got = wait_for(lambda: len(lines()) > n and lines(), timeout=timeout,
                       what="netlogd's counters line after SIGUSR1")
        return {k: int(v) for k, v in (kv.split("=") for kv in got[-1].split("netlogd: ")[1].split())}

    def wait_settled(self, expected, timeout=60, what="netlogd to settle"):
        """Wait until netlogd has accounted for every one of `expected` events the kernel
        logged (received + counted kernel-side losses), and its queue and outputs are
        idle: two counter reads 0.2 s apart agree. The counters, or a failure naming them."""
        end = time.monotonic() + timeout
        last = None
        while True:
            c = self.live_counters()
            kernel = c["received"] + c["lost_enobufs"] + c["lost_gap"]
            if kernel >= expected and c == last:
                return c
            if time.monotonic() > end:
                fail(f"{what}: after {timeout}s netlogd accounts for {kernel} of {expected} "
                     f"events: {c}")
            last = c
            time.sleep(0.2)

    def rule_packets(self, chain, table="filter", target="NFLOG"):
        """Sum of the packet counters of `target` rules in `chain` (iptables -L -v -x)."""
        out = self.cell.run(f"iptables -t {table} -L {chain} -v -x -n").stdout
        total = 0
        for line in out.splitlines()[2:]:
            cols = line.split()
            if len(cols) > 2 and cols[2] == target:
                total += int(cols[0])
        return total


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l for l in f.read().split("\n") if l]
