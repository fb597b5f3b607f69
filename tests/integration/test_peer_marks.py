#!/usr/bin/env python3
"""netlogd's json extra `peer` on a Cloud Foundry-shaped cell: who sent each c2c packet.

Two apps with a c2c policy, the policy agent's rules shaped exactly as
../shared/facts/cloudfoundry.md §6 shows them (mark set `--source <ip> --jump MARK
--set-xmark 0x<tag> -m comment --comment src:<guid>`, mark allow `-d <ip> -p tcp --dport a:b
-m mark --mark 0x<tag> --jump ACCEPT -m comment --comment src:<guid>_dst:<guid>`, its log
rule before it), in a `vpa--<timestamp>` chain jumped from FORWARD position 1; the log
rules are NFLOG rules with the LOG rules' matches and prefixes (what netlog-rules --mode
replace leaves), the overlay's DENY_C2C rule and REJECT after the jump.
  c1 (app A, tag 0x4) -> c2 (app B) :8080   same cell: source named in full from the store
  out (app C's tag 0x5) -> c2 :8080 / :7000 another cell's app: the mark allow rule's comment
                                             names it (allowed, and denied on a port the
                                             policy does not open)
  out (mark 0x6, no rule) -> c2 :7001       unknown mark: app_guid ""
  c1 -> c2 udp :9999, egress class          egress to a container here: data.destination
The mark of traffic from `out` stands in for the VXLAN Group Policy header that carries the
source app's tag across cells (set by a mangle rule on the cell's eth0, by port).
Then a policy change (new vpa chain with tag 0x5 given to app D and a new tag 0x7, jump
swapped, old chain flushed and deleted) is taken up: packets sent after netlogd says it read
it name D, and the time from the commit to that is printed.
Each flavor of the policy agent's writer: iptables-nft, iptables-legacy, native nftables.
Expected sources come from the marks the test gave each port; the event counts from the
kernel's NFLOG rule counters; /metrics and --stats must agree with both.
"""
import json
import re
import sys
import time

import netns
from daemon_world import (C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, CONTAINERS, GROUP, OUT_IP, Cell,
                          read_lines)
from netns import check, fail, log, require_root, wait_for

require_root("test_peer_marks")
netns.require_tool("iptables-legacy-restore", "iptables")
netns.require_tool("nft", "nftables")

APP_A = CONTAINERS[C1_HANDLE][1]
APP_B = CONTAINERS[C2_HANDLE][1]
APP_C = "7f1e2d3c-5b6a-4c1d-9e8f-0a1b2c3d4e5f"  # no container on this cell
APP_D = "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a"  # tag 0x5 after the policy change
APP_E = "e1e2e3e4-f5f6-4a7b-8c9d-0e1f2a3b4c5d"  # tag 0x7 after the policy change
UNKNOWN_MARK = 0x6
EMPTY = {"container_id": "", "app_guid": "", "space_guid": "", "organization_guid": ""}


def container(handle):
    ip, app, space, org = CONTAINERS[handle]
    return {"container_id": handle, "app_guid": app, "space_guid": space,
            "organization_guid": org}


def remote(app):
    return dict(EMPTY, app_guid=app)


def ok_prefix(tag):
    # the LOG prefix the agent writes: OK_<tag>_<destination app guid>, cut to 28 characters
    return f"OK_{tag:04x}_{APP_B}"[:28]


def policy_rules(tags):
    """The vpa chain's rules (iptables arguments, the agent's order): tags = {tag: (src app,
    src ip or None)}."""
    rules = []
    for tag, (app, ip) in tags.items():
        if ip:
            rules.append(f"--source {ip} --jump MARK --set-xmark 0x{tag:x} "
                         f"-m comment --comment src:{app}")
    for tag, (app, _) in tags.items():
        rules.append(f"-d {C2_IP} -p tcp --dport 8080:8080 -m mark --mark 0x{tag:x} "
                     f"-m conntrack --ctstate INVALID,NEW,UNTRACKED --jump NFLOG "
                     f"--nflog-group {GROUP} --nflog-prefix {ok_prefix(tag)}")
        rules.append(f"-d {C2_IP} -p tcp --dport 8080:8080 -m mark --mark 0x{tag:x} "
                     f"--jump ACCEPT -m comment --comment src:{app}_dst:{APP_B}")
    return rules


def nft_rules(tags):
    """The same rules in native nftables syntax."""
    rules = []
    for tag, (app, ip) in tags.items():
        if ip:
            rules.append(f'ip saddr {ip} meta mark set 0x{tag:x} comment "src:{app}"')
    for tag, (app, _) in tags.items():
        m = f"ip daddr {C2_IP} tcp dport 8080 meta mark 0x{tag:x}"
        rules.append(f'{m} ct state invalid,new,untracked log prefix "{ok_prefix(tag)}" '
                     f"group {GROUP}")
        rules.append(f'{m} accept comment "src:{app}_dst:{APP_B}"')
    return rules


class Writer:
    """The policy agent of one flavor: installs the vpa chain and rewrites it."""

    def __init__(self, flavor, cell):
        self.flavor, self.cell, self.chain = flavor, cell, None
        self.ipt = {"iptables-nft": "iptables-nft", "legacy": "iptables-legacy"}.get(flavor)

    def restore(self, text):
        self.cell.run([f"{self.ipt}-restore", "--noflush"], input=text)

    def setup(self, tags):
        deny = f"DENY_C2C_{C2_HANDLE}"[:28]
        self.chain = f"vpa--{int(time.time() * 1e6)}"
        if self.ipt:
            self.restore("*filter\n" + f":{self.chain} - [0:0]\n" +
                         "".join(f"-A {self.chain} {r}\n" for r in policy_rules(tags)) +
                         f"-A FORWARD -j {self.chain}\n"
                         f"-A FORWARD -s {C1_IP} -d {C2_IP} -p udp --dport 9999 -j NFLOG "
                         f"--nflog-group {GROUP} --nflog-prefix OK_{C1_HANDLE}\n"
                         f"-A FORWARD -d {C2_IP} -j NFLOG --nflog-group {GROUP} "
                         f"--nflog-prefix {deny}\n"
                         f"-A FORWARD -d {C2_IP} -j REJECT\nCOMMIT\n")
        else:
            self.cell.run(["nft", "-f", "-"], input=(
                "table ip cf {\n"
                f"  chain {self.chain} {{\n" + "".join(f"    {r}\n" for r in nft_rules(tags)) +
                "  }\n"
                "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
                f"    jump {self.chain}\n"
                f"    ip saddr {C1_IP} ip daddr {C2_IP} udp dport 9999 log prefix "
                f'"OK_{C1_HANDLE}" group {GROUP}\n'
                f'    ip daddr {C2_IP} log prefix "{deny}" group {GROUP}\n'
                f"    ip daddr {C2_IP} reject\n  }}\n}}\n"))

    def rewrite(self, tags):
        """New chain, jump swapped at FORWARD position 1, old chain flushed and deleted: one
        transaction."""
        old, self.chain = self.chain, f"vpa--{int(time.time() * 1e6)}"
        if self.ipt:
            self.restore("*filter\n" + f":{self.chain} - [0:0]\n" +
                         "".join(f"-A {self.chain} {r}\n" for r in policy_rules(tags)) +
                         f"-I FORWARD 1 -j {self.chain}\n-D FORWARD -j {old}\n"
                         f"-F {old}\n-X {old}\nCOMMIT\n")
        else:
            listing = self.cell.run("nft -a list chain ip cf forward").stdout
            handle = re.search(rf"jump {re.escape(old)} # handle (\d+)", listing)
            check(handle, f"no jump to {old} in: {listing}")
            self.cell.run(["nft", "-f", "-"], input=(
                f"add chain ip cf {self.chain}\n" +
                "".join(f"add rule ip cf {self.chain} {r}\n" for r in nft_rules(tags)) +
                f"insert rule ip cf forward position {handle.group(1)} jump {self.chain}\n"
                f"delete rule ip cf forward handle {handle.group(1)}\n"
                f"flush chain ip cf {old}\ndelete chain ip cf {old}\n"))

    def nflog_packets(self):
        """Packets the kernel sent to NFLOG group GROUP (the oracle for the event count)."""
        if self.ipt:
            out = self.cell.run(f"{self.ipt}-save -c -t filter").stdout
            return sum(int(m.group(1)) for m in re.finditer(r"^\[(\d+):\d+\] .*-j NFLOG", out, re.M))
        return None  # the nft log rules carry no counter: counted from the packets sent


def run(flavor):
    log(f"--- {flavor}")
    w = Cell()
    w.write_store()
    out_file, plain_file = w.path("peer.log"), w.path("plain.log")
    port = 17561  # in the cell's own namespace
    w.write_config([f"{{type: file, path: {out_file}, format: json, extras: [peer]}}",
                    f"{{type: file, path: {plain_file}, format: json}}"],
                   extra=f"metrics: {{listen: '127.0.0.1:{port}'}}\n")
    # The source tags of traffic from `out`, by destination port (the VXLAN GBP stand-in).
    for dport, mark in ((8080, 0x5), (7000, 0x5), (7001, UNKNOWN_MARK)):
        w.cell.run(f"iptables-nft -t mangle -A PREROUTING -i eth0 -p tcp --dport {dport} "
                   f"-j MARK --set-mark 0x{mark:x}")
    agent = Writer(flavor, w.cell)
    agent.setup({0x4: (APP_A, C1_IP), 0x5: (APP_C, None)})
    w.start()
    wait_for(lambda: re.search(r"peer: 2 marks name a source app", w.stderr()), timeout=30,
             what=f"netlogd to read the two tags: {w.stderr()}")

    sent = []  # (expected message, src ip, dst port, expected peer key, expected peer object)
    src_of = {"c1": C1_IP, "out": OUT_IP}

    def connect(src, port, message, key, peer):
        ns = w.out if src == "out" else w.c[src]
        ns.run(f"nc -z -w 2 {C2_IP} {port}", check=False)
        sent.append((message, src_of[src], port, key, peer))

    def udp(src, port, message, key, peer):
        w.c[src].run(f"echo x | nc -u -w 1 -q 0 {C2_IP} {port}", check=False)
        sent.append((message, src_of[src], port, key, peer))

    connect("c1", 8080, "ingress-allowed", "source", container(C1_HANDLE))
    connect("out", 8080, "ingress-allowed", "source", remote(APP_C))
    connect("out", 7000, "ingress-denied", "source", remote(APP_C))
    connect("out", 7001, "ingress-denied", "source", EMPTY)
    udp("c1", 9999, "egress-allowed", "destination", container(C2_HANDLE))

    def events(path):
        return [json.loads(l) for l in read_lines(path)]

    def settled(n):
        wait_for(lambda: len(events(out_file)) >= n and len(events(plain_file)) >= n,
                 timeout=30, what=f"{n} events in both outputs")

    # udp c1 -> c2:9999 passes the egress rule and then the DENY_C2C rule: two events
    expected_events = len(sent) + 1
    settled(expected_events)
    kernel = agent.nflog_packets()
    if kernel is not None:
        check(kernel == expected_events,
              f"the kernel's NFLOG rules counted {kernel} packets, the test sent {expected_events}")
    got = events(out_file)
    for message, src, dport, key, peer in sent:
        matching = [e for e in got if e["message"] == message
                    and e["data"]["packet"]["src_ip"] == src
                    and e["data"]["packet"].get("dst_port") == dport]
        check(len(matching) == 1, f"{message} to :{dport}: {len(matching)} events: {got}")
        e = matching[0]
        check(e["data"].get(key) == peer,
              f"{message} to :{dport}: data.{key} is {e['data'].get(key)}, expected {peer}: {e}")
        keys = list(e["data"].keys())
        seed = "destination" if message.startswith("ingress") else "source"
        check(keys == [seed, "packet", key],
              f"{message}: data keys {keys}, expected the seed's then {key}")
    # the extra is per output: the plain output keeps the seed document's keys only
    for e in events(plain_file):
        seed = "destination" if e["message"].startswith("ingress") else "source"
        check(list(e["data"].keys()) == [seed, "packet"], f"plain output grew a key: {e}")

    resolved = sum(1 for e in got if e["message"].startswith("ingress")
                   and e["data"]["source"]["app_guid"])
    ingress = sum(1 for e in got if e["message"].startswith("ingress"))
    expect_resolved = sum(1 for m, _, _, _, p in sent
                          if m.startswith("ingress") and p["app_guid"]) + 1
    # (+1: the udp packet's DENY_C2C event, its source c1 on this cell)
    check(resolved == expect_resolved, f"{resolved} ingress sources named, sent {expect_resolved}")
    stats = w.cell.run([netns.binary("netlogd"), "--stats", "-c", w.path("netlogd.yaml")],
                       check=False)
    line = re.search(r"ingress events with their source named: (\d+) of (\d+)", stats.stdout)
    check(line, f"--stats says nothing of the sources: {stats.stdout}{stats.stderr}")
    check((int(line.group(1)), int(line.group(2))) == (resolved, ingress),
          f"--stats: {line.group(0)}; the output has {resolved} of {ingress}")
    check(re.search(r"peer: 2 marks name a source app", stats.stdout),
          f"--stats: marks: {stats.stdout}")

    # The policy change: tag 0x5 now app D, a new tag 0x7 for app E.
    before = w.stderr().count("marks name a source app")
    t0 = time.monotonic()
    agent.rewrite({0x4: (APP_A, C1_IP), 0x5: (APP_D, None), 0x7: (APP_E, None)})
    committed = time.monotonic()
    wait_for(lambda: w.stderr().count("marks name a source app") > before, timeout=30,
             interval=0.01, what="netlogd to read the new vpa chain")
    taken = time.monotonic()
    check("peer: 3 marks name a source app" in w.stderr(),
          f"netlogd read another map than the new chain's three tags: {w.stderr()}")
    n = len(events(out_file))
    connect("out", 8080, "ingress-allowed", "source", remote(APP_D))
    settled(n + 1)
    last = events(out_file)[-1]
    check(last["data"]["source"] == remote(APP_D),
          f"after the policy change the source is {last['data']['source']}, expected app D")
    log(f"{flavor}: the new vpa chain was read {(taken - committed) * 1000:.0f} ms after its "
        f"commit (the rewrite took {(committed - t0) * 1000:.0f} ms)")
    check(w.stop() == 0, f"netlogd exit code: {w.stderr()}")


for f in sys.argv[1:] or ["iptables-nft", "legacy", "nft"]:
    run(f)
log("PASS")
