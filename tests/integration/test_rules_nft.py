"""netlog-rules, nftables backend, on a Cloud Foundry-shaped cell in network namespaces.

Two rulesets, each loaded into a router namespace ("the cell") between container A,
container B and an external host E:
  - iptables-nft: tests/data/rulesets/cloudfoundry.rules + .rules6 (iptables-nft-restore):
    xt LOG targets, xt matches (conntrack, state, mark), native limit/payload;
  - native nft:   tests/data/rulesets/cloudfoundry.nft (nft -f): native `log` expressions,
    a `log ... reject` rule, an inet table.
For each: `plan` changes nothing; `install` puts an NFLOG companion (same matches, group 42,
the LOG prefix, owner comment "netlog:<class>") next to every class-matched LOG rule and
none next to the others; `iptables-nft -S` / `nft list ruleset` still read the result;
traffic through each LOG rule arrives on NFLOG group 42 (tcpdump -i nflog:42) with the
rule's prefix; a second install changes nothing; `remove` restores the listing exactly
(counters aside); the same for --mode replace. Then `watch`: policy-agent style rewrites of
the vpa-- chain (new chain, jump swapped, old chain deleted) get their companions back;
the reconcile latency (kernel generation of the rewrite -> generation of the fix, from
`nft monitor`) and the SYNs that passed the new LOG rule before its companion existed are
printed. Expected classes come from the facts (../shared/facts/cloudfoundry.md §1), not
from the code under test.
"""
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import netns
import traffic
from netns import check, fail, log

netns.require_root("the nftables backend test")
netns.require_tool("nft", "nftables")
netns.require_tool("iptables-nft-restore", "iptables")
netns.require_tool("tcpdump", "tcpdump")
netns.require_tool("tshark", "tshark")

SRC = netns.source_root()
RULES = os.path.join(SRC, "rules", "cloudfoundry.yaml")
DATA = os.path.join(SRC, "tests", "data", "rulesets")
NETLOG_RULES = netns.binary("netlog-rules")
GROUP = 42

# prefix -> class, from the facts table (§1) and the class order of the rules file.
EXPECTED_CLASS = {
    "OK_0002_e9e8959f-3828-4136-8 ": "c2c-ingress-allowed",
    "DENY_C2C_da966cab-6a60-49c4- ": "c2c-ingress-denied",
    "DENY_ORL_d538d169-f2f6-4587- ": "asg-egress-denied-rate",
    "OK_d538d169-f2f6-4587-77b1-5 ": "asg-egress-allowed",
    "DENY_d538d169-f2f6-4587-77b1 ": "asg-egress-denied",
    "DENY_da966cab-6a60-49c4-4f90 ": "asg-egress-denied",
    "DENY_host-2222 ": "asg-egress-denied",
}
UNMATCHED = {"SSH_IN "}  # a LOG rule no class matches: never touched

A4, B4, E4, E4_ASG = "10.255.15.7", "10.255.15.13", "10.10.10.1", "10.10.10.2"
A6, B6, E6 = "fd00:a::7", "fd00:b::13", "fd00:e::1"

# (from namespace, family, proto, destination, port) -> the prefix NFLOG must carry
TRAFFIC = [
    ("a", "4", "tcp", B4, 8080, "OK_0002_e9e8959f-3828-4136-8 "),
    ("a", "4", "udp", B4, 8080, "OK_0002_e9e8959f-3828-4136-8 "),
    ("a", "4", "tcp", B4, 9999, "DENY_C2C_da966cab-6a60-49c4- "),
    ("a", "4", "tcp", E4, 80, "OK_d538d169-f2f6-4587-77b1-5 "),
    ("a", "4", "udp", E4, 53, "OK_d538d169-f2f6-4587-77b1-5 "),
    ("a", "4", "tcp", E4, 81, "DENY_ORL_d538d169-f2f6-4587- "),
    ("a", "4", "tcp", E4, 8443, "DENY_d538d169-f2f6-4587-77b1 "),
    ("b", "4", "tcp", E4_ASG, 443, "DENY_da966cab-6a60-49c4-4f90 "),
    ("a", "6", "tcp", B6, 8080, "OK_0002_e9e8959f-3828-4136-8 "),
    ("a", "6", "tcp", B6, 9999, "DENY_C2C_da966cab-6a60-49c4- "),
    ("a", "6", "tcp", E6, 80, "OK_d538d169-f2f6-4587-77b1-5 "),
    ("a", "6", "tcp", E6, 8443, "DENY_d538d169-f2f6-4587-77b1 "),
]
TRAFFIC_NATIVE_ONLY = [("a", "6", "tcp", "fd00:a::1", 2222, "DENY_host-2222 ")]

SEND = r'''
import socket, sys
for spec in sys.argv[1:]:
    fam, proto, dst, port = spec.split(",")
    af = socket.AF_INET6 if fam == "6" else socket.AF_INET
    if proto == "tcp":
        s = socket.socket(af, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((dst, int(port)))
        except OSError:
            pass
    else:
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.sendto(b"netlog", (dst, int(port)))
    s.close()
'''

# A stream of new TCP connections (one SYN each) from A to B:8080, through the vpa-- rule.
SYN_STREAM = r'''
import socket, sys, time
dst, n = sys.argv[1], 0
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((dst, 8080))
    s.close()
    time.sleep(0.002)
'''


def cell():
    """Router namespace R (the cell) with A, B on s- veths and E behind ext0."""
    r, a, b, e = netns.Netns("r"), netns.Netns("a"), netns.Netns("b"), netns.Netns("e")
    netns.veth(r, a, "s-010255015007", "eth0", ["10.255.15.1/32", "fd00:a::1/64"], [A4 + "/32", A6 + "/64"])
    netns.veth(r, b, "s-010255015013", "eth0", ["10.255.15.1/32", "fd00:b::1/64"], [B4 + "/32", B6 + "/64"])
    netns.veth(r, e, "ext0", "eth0", ["192.168.200.1/24", "fd00:f::1/64"], ["192.168.200.2/24", "fd00:f::2/64"])
    r.run(f"ip route add {A4}/32 dev s-010255015007 && ip route add {B4}/32 dev s-010255015013 && "
          "ip route add 10.10.10.0/24 via 192.168.200.2 && ip -6 route add fd00:e::/64 via fd00:f::2 && "
          "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
    for ns in (a, b):
        ns.run("ip route add 10.255.15.1 dev eth0 && ip route add default via 10.255.15.1")
    a.run("ip -6 route add default via fd00:a::1")
    b.run("ip -6 route add default via fd00:b::1")
    e.run(f"ip addr add {E4}/32 dev lo && ip addr add {E4_ASG}/32 dev lo && ip addr add {E6}/128 dev lo && "
          "ip route add default via 192.168.200.1 && ip -6 route add default via fd00:f::1")
    return r, {"a": a, "b": b, "e": e}


def rules_cli(r, cmd, mode="alongside", check_rc=True, timeout=60):
    res = r.run([NETLOG_RULES, cmd, "--rules", RULES, "--backend", "nft", "--family", "all",
                 "--mode", mode], check=False, timeout=timeout)
    if check_rc and res.returncode != 0:
        fail(f"netlog-rules {cmd} --mode {mode} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    return res


def ruleset(r):
    """`nft list ruleset` with counter values removed."""
    out = r.run("nft list ruleset").stdout
    return re.sub(r"counter packets \d+ bytes \d+", "counter", out)


def ipt_save(r):
    out = r.run("iptables-nft-save; ip6tables-nft-save").stdout
    lines = [re.sub(r"\[\d+:\d+\]", "[0:0]", l) for l in out.splitlines() if not l.startswith("#")]
    return "\n".join(lines)


LOG_RE = re.compile(r'^(?P<m>.*?)\s*log prefix "(?P<p>[^"]*)"(?P<level> level \w+)?(?P<rest>.*)$')
# A companion: nft's log statement, or (replace mode on iptables-nft: in the place of an xt
# LOG target) an xt NFLOG target, which nft shows with the group last.
COMP_RE = re.compile(r'^(?P<m>.*?)\s*log prefix "(?P<p>[^"]*)" (?:group (?P<g>\d+) snaplen 128 '
                     r'queue-threshold 32|snaplen 128 queue-threshold 32 group (?P<gx>\d+))'
                     r'(?P<rest>.*?) comment "netlog:(?P<c>[^"]*)"$')


NFT_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}


def tagged(prefix, level_text):
    """The companion prefix of the shared contract: the LOG prefix, then `~nl<level><flags>`
    when the level is not the default (this data has levels, no flags)."""
    level = NFT_LEVELS[level_text.split()[-1]] if level_text else 4
    return prefix if level == 4 else f"{prefix}~nl{level}00"


def untagged(prefix):
    return re.sub(r"~nl[0-7][0-9a-f]{2}$", "", prefix)


def chains(listing):
    """{(table, chain): [rule lines]} from `nft list ruleset`."""
    out, table, chain = {}, None, None
    for raw in listing.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            table = line[len("table "):].rstrip(" {")
        elif line.startswith("chain "):
            chain = line[len("chain "):].rstrip(" {")
            out[(table, chain)] = []
        elif line == "}" or not line or line.startswith("type "):
            continue
        elif chain is not None:
            out[(table, chain)].append(line)
    return out


def check_covered(listing, mode, what):
    """Every class-matched LOG rule has its companion (alongside: adjacent, same matches;
    replace: in its place); unmatched LOG rules have none. Returns the number covered."""
    covered = 0
    for (table, chain), lines in chains(listing).items():
        logs, comps = [], []
        for i, l in enumerate(lines):
            c = COMP_RE.match(l)
            if c:
                comps.append((i, c))
                continue
            m = LOG_RE.match(l)
            if m and " group " not in l:
                logs.append((i, m))
        for i, m in logs:
            p = m["p"]
            where = f"{what}: {table} {chain}: {lines[i]!r}"
            if p in UNMATCHED:
                check(all(c["m"] != m["m"] for _, c in comps), f"{where}: an unmatched LOG rule got a companion")
                continue
            check(p in EXPECTED_CLASS, f"{where}: unexpected LOG prefix")
            # replace mode replaces LOG rules with options too (the tag carries them)
            check(mode == "alongside", f"{where}: replace mode left a LOG rule in place")
            verdict_after = m["rest"].strip() != ""
            j = i - 1 if verdict_after else i + 1  # a rule that acts after logging: companion before
            c = COMP_RE.match(lines[j]) if 0 <= j < len(lines) else None
            check(c is not None, f"{where}: no companion {'before' if verdict_after else 'after'} it")
            check(c["m"] == m["m"] and c["p"] == tagged(p, m["level"]) and c["rest"].strip() == "",
                  f"{where}: companion {lines[j]!r} does not copy its matches")
            check(c["c"] == EXPECTED_CLASS[p] and int(c["g"] or c["gx"]) == GROUP, f"{where}: companion {lines[j]!r}: wrong class/group")
            covered += 1
        if mode == "replace":
            for _, c in comps:
                check(c["c"] == EXPECTED_CLASS.get(untagged(c["p"])),
                      f"{what}: {table} {chain}: companion {c.group(0)!r}: wrong class")
                covered += 1
    return covered


def capture_start(r, tmp, tag):
    path = os.path.join(tmp, tag.replace("/", "-") + ".pcap")
    p = r.popen(["tcpdump", "-n", "-U", "-i", f"nflog:{GROUP}", "-w", path], text=True)
    ready, _, _ = select.select([p.stderr], [], [], 10)
    line = p.stderr.readline() if ready else ""
    check("listening on" in line, f"tcpdump -i nflog:{GROUP} did not start: {line!r}")
    time.sleep(0.2)
    return p, path


def capture_stop(p, path, want):
    # the companions ask for queue-threshold 32: the kernel holds a partial batch until its
    # flush timeout (nfnetlink_log's default: 1 s); wait until every (prefix, family) in
    # `want` is in the file
    def have(recs):
        got = {(untagged(prefix.decode(errors="replace")).rstrip(), "4" if fam == 2 else "6")
               for g, fam, prefix in recs if g == GROUP}
        return want <= got
    traffic.wait_capture(path, have)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    out = netns.sh(["tshark", "-r", path, "-T", "fields", "-E", "separator=|",
                    "-e", "nflog.prefix", "-e", "ip.proto", "-e", "ipv6.nxt"]).stdout
    seen = set()
    for line in out.splitlines():
        prefix, p4, p6 = (line.split("|") + ["", "", ""])[:3]
        fam = "4" if p4 else "6"
        proto = {"6": "tcp", "17": "udp"}.get(p4 or p6, p4 or p6)
        seen.add((prefix, fam, proto))
    return seen


def check_traffic(r, nss, tmp, flows, tag):
    cap, path = capture_start(r, tmp, tag)
    for src in ("a", "b"):
        specs = [f"{fam},{proto},{dst},{port}" for s, fam, proto, dst, port, _ in flows if s == src]
        if specs:
            nss[src].run(["/usr/bin/python3", "-c", SEND] + specs, timeout=30)
    seen = capture_stop(cap, path, {(prefix.rstrip(), fam) for _, fam, _, _, _, prefix in flows})
    for src, fam, proto, dst, port, prefix in flows:
        # tshark prints the prefix as the kernel carried it; compare without trailing blanks
        ok = any(untagged(p).rstrip() == prefix.rstrip() and f == fam and pr == proto for p, f, pr in seen)
        check(ok, f"{tag}: {proto}/IPv{fam} {src}->{dst}:{port}: no NFLOG packet with prefix {prefix!r} "
                  f"(seen: {sorted(seen)})")
    check(not any(p.startswith("SSH_IN") for p, _, _ in seen), f"{tag}: the unmatched SSH_IN rule was mirrored")
    log(f"{tag}: {len(flows)} flows, each arrived on nflog:{GROUP} with its LOG rule's prefix")


def scenario(flavor, tmp):
    r, nss = cell()
    if flavor == "iptables-nft":
        r.run(["iptables-nft-restore"], input=open(os.path.join(DATA, "cloudfoundry.rules")).read())
        r.run(["ip6tables-nft-restore"], input=open(os.path.join(DATA, "cloudfoundry.rules6")).read())
        flows = TRAFFIC
    else:
        r.run(["nft", "-f", os.path.join(DATA, "cloudfoundry.nft")])
        flows = TRAFFIC + TRAFFIC_NATIVE_ONLY
    before = ruleset(r)
    before_ipt = ipt_save(r) if flavor == "iptables-nft" else None
    n_log = sum(1 for l in before.splitlines() if LOG_RE.match(l.strip()) and " group " not in l
                and LOG_RE.match(l.strip())["p"] not in UNMATCHED)

    # without privilege: one line that says so, nothing changed
    # (copies nobody can read: the checkout may be in a directory only root can enter)
    res = r.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", netns.readable_copy(NETLOG_RULES), "install", "--rules",
                 netns.readable_copy(RULES), "--backend", "nft"], check=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "root" in err[0] and "CAP_NET_ADMIN" in err[0],
          f"{flavor}: unprivileged install: want one line naming root/CAP_NET_ADMIN, got rc {res.returncode}: {res.stderr!r}")
    check(ruleset(r) == before, f"{flavor}: an unprivileged install changed the ruleset")

    # plan: prints, changes nothing
    rules_cli(r, "plan")
    check(ruleset(r) == before, f"{flavor}: plan changed the ruleset")

    for mode in ("alongside", "replace"):
        what = f"{flavor}/{mode}"
        t0 = time.monotonic()
        rules_cli(r, "install", mode)
        ms = (time.monotonic() - t0) * 1000
        after = ruleset(r)
        covered = check_covered(after, mode, what)
        check(covered == n_log, f"{what}: {covered} of {n_log} LOG rules covered")
        log(f"{what}: install covered {covered}/{n_log} LOG rules ({ms:.0f} ms, CLI run included)")
        # the listings still load
        if flavor == "iptables-nft":
            for tool in ("iptables-nft", "ip6tables-nft"):
                s = r.run([tool, "-S"], check=False)
                check(s.returncode == 0 and "incompatible" not in s.stderr, f"{what}: {tool} -S fails: {s.stderr}")
            s = r.run("iptables-nft -S; ip6tables-nft -S").stdout
            n = len(re.findall(r'-m comment --comment "netlog:[^"]+" -j NFLOG --nflog-prefix "[^"]+" '
                               rf'--nflog-group {GROUP}', s))
            check(n == n_log, f"{what}: iptables-nft -S shows {n} NFLOG companions, want {n_log}:\n{s}")
            saved = r.run("iptables-nft-save").stdout
            t = r.run(["iptables-nft-restore", "--test"], input=saved, check=False)
            check(t.returncode == 0, f"{what}: iptables-nft-save output does not restore: {t.stderr}")
        else:
            dump = os.path.join(tmp, "listing.nft")
            with open(dump, "w") as f:
                f.write(r.run("nft list ruleset").stdout)
            c = r.run(["nft", "-c", "-f", dump], check=False)
            check(c.returncode == 0, f"{what}: nft list ruleset output does not load: {c.stderr}")
        # idempotent
        again = rules_cli(r, "install", mode)
        check(ruleset(r) == after, f"{what}: a second install changed the ruleset:\n{again.stdout}")
        check_traffic(r, nss, tmp, flows, what)
        # remove restores the ruleset exactly
        rules_cli(r, "remove", mode)
        now = ruleset(r)
        if now != before:
            import difflib
            fail(f"{what}: remove did not restore the ruleset:\n" +
                 "\n".join(difflib.unified_diff(before.splitlines(), now.splitlines(), lineterm="")))
        if before_ipt is not None:
            check(ipt_save(r) == before_ipt, f"{what}: iptables-nft-save differs after remove")
        log(f"{what}: idempotent; remove restored `nft list ruleset` exactly (counters aside)")
        time.sleep(1.1)  # let the 1/s limits of the LOG rules refill before the next traffic check

    watch_scenario(flavor, r, nss, tmp)


# Prints each nftables commit of its namespace as the kernel announces it (NFNLGRP_NFTABLES,
# NFT_MSG_NEWGEN: generation, pid and name of the committing process), stamped with
# CLOCK_MONOTONIC on arrival by a process that does nothing else.
GENERATIONS = r'''
import socket, struct, sys, time
NEWGEN = (10 << 8) | 15  # NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
s.setsockopt(270, 1, 7)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
print("ready", flush=True)
while True:
    data = s.recv(1 << 16)
    t = time.monotonic()
    off = 0
    while off + 20 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if mtype == NEWGEN:
            gen, pid, name, a = 0, 0, "", off + 20  # past nlmsghdr + nfgenmsg
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                v = data[a + 4:a + alen]
                if atype == 1:
                    gen = struct.unpack(">I", v[:4])[0]
                elif atype == 2:
                    pid = struct.unpack(">I", v[:4])[0]
                elif atype == 3:
                    name = v.split(b"\0")[0].decode(errors="replace")
                a += (alen + 3) & ~3
            print(f"{t:.6f} {gen} {pid} {name}", flush=True)
        off += (length + 3) & ~3
'''


class Generations:
    """The cell's nftables commits: [(monotonic arrival time, generation, pid, comm)]."""

    def __init__(self, r):
        self.gens, self.lock = [], threading.Lock()
        self.p = r.popen(["/usr/bin/python3", "-c", GENERATIONS], text=True)
        check(self.p.stdout.readline().strip() == "ready", "cannot subscribe to the cell's nftables notifications")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            t, gen, pid, name = (line.rstrip("\n").split(" ", 3) + [""])[:4]
            with self.lock:
                self.gens.append((float(t), int(gen), int(pid), name))

    def mark(self):
        with self.lock:
            return len(self.gens)

    def since(self, i):
        with self.lock:
            return self.gens[i:]


def vpa_rules(flavor, new):
    """The vpa-- chain's rules from the data file, renamed to `new`."""
    if flavor == "iptables-nft":
        src = open(os.path.join(DATA, "cloudfoundry.rules")).read()
        return [l.replace("vpa--1700000000000001", new) for l in src.splitlines()
                if l.startswith("-A vpa--1700000000000001 ")]
    src = open(os.path.join(DATA, "cloudfoundry.nft")).read()
    block = src.split("chain vpa--1700000000000001 {", 1)[1].split("}", 1)[0]
    return [l.strip() for l in block.splitlines() if l.strip()]


def rewrite(flavor, r, old, new):
    """What the policy agent does: new chain, jump swapped at position 1, old chain deleted;
    one transaction."""
    if flavor == "iptables-nft":
        script = "\n".join(["*filter", f":{new} - [0:0]"] + vpa_rules(flavor, new) +
                           [f"-I FORWARD 1 -j {new}", f"-D FORWARD -j {old}", f"-F {old}", f"-X {old}", "COMMIT", ""])
        res = r.run(["iptables-nft-restore", "--noflush"], input=script, check=False)
        check(res.returncode == 0, f"the policy agent's rewrite failed: {res.stderr}\n{script}\n"
                                   f"{r.run('iptables-nft -S').stdout}")
        return
    listing = r.run("nft -a list chain ip cf forward").stdout
    m = re.search(rf"jump {re.escape(old)} # handle (\d+)", listing)
    check(m is not None, f"no jump to {old} in ip cf forward")
    script = [f"add chain ip cf {new}"] + [f"add rule ip cf {new} {l}" for l in vpa_rules(flavor, new)] + \
             [f"insert rule ip cf forward jump {new}", f"delete rule ip cf forward handle {m[1]}",
              f"flush chain ip cf {old}", f"delete chain ip cf {old}", ""]
    r.run(["nft", "-f", "-"], input="\n".join(script))


def counters(r, flavor, chain):
    """(packets through the TCP LOG rule, packets through its companion) in `chain`."""
    table = "ip filter" if flavor == "iptables-nft" else "ip cf"
    out = r.run(f"nft list chain {table} {chain}").stdout
    log_n = comp_n = None
    for l in out.splitlines():
        if "tcp dport 8080" not in l or "log prefix" not in l:
            continue
        n = int(re.search(r"counter packets (\d+)", l)[1])
        if "netlog:" in l:
            comp_n = n
        else:
            log_n = n
    return log_n, comp_n


def watch_scenario(flavor, r, nss, tmp, rewrites=5):
    what = f"{flavor}/watch"
    gens = Generations(r)
    wlog = open(os.path.join(tmp, f"watch-{flavor}.log"), "w+")
    w = r.popen([NETLOG_RULES, "watch", "--rules", RULES, "--backend", "nft", "--family", "all"],
                stdout=wlog, stderr=subprocess.STDOUT)
    table = "ip filter" if flavor == "iptables-nft" else "ip cf"
    table6 = "ip6 filter" if flavor == "iptables-nft" else "ip6 cf"
    netns.wait_for(lambda: all("netlog:" in r.run(f"nft list chain {t} vpa--1700000000000001").stdout
                               for t in (table, table6)), 30, what="watch's initial install")
    stream = nss["a"].popen(["/usr/bin/python3", "-c", SYN_STREAM, B4])
    writer = "iptables-nft-re" if flavor == "iptables-nft" else "nft"  # the rewriter's comm
    latencies, unlogged = [], []
    old = "vpa--1700000000000001"
    for k in range(rewrites):
        time.sleep(0.3)
        new = f"vpa--{1700000000000001 + 1000000 * (k + 1)}"  # a later timestamp (µs)
        mark = gens.mark()
        rewrite(flavor, r, old, new)
        old_ = old
        old = new

        def fixed():
            t_change = None
            for t, _gen, _pid, name in gens.since(mark):
                if t_change is None and name == writer:
                    t_change = t
                elif t_change is not None and name != writer:
                    return t_change, t  # the next commit, by someone else: the watcher
            return None

        t_change, t_fix = netns.wait_for(fixed, 30, what=f"companions in {new} after rewrite {k + 1}")
        latencies.append((t_fix - t_change) * 1000)
        listing = ruleset(r)
        covered = check_covered(listing, "alongside", f"{what} rewrite {k + 1}")
        check(f"{table} {new}" in "\n".join(f"{t} {c}" for t, c in chains(listing)), f"{what}: {new} missing")
        time.sleep(0.2)
        log_n, comp_n = counters(r, flavor, new)
        check(log_n is not None and comp_n is not None, f"{what}: no TCP LOG rule/companion in {new}")
        unlogged.append(log_n - comp_n)
        log(f"{what}: rewrite {k + 1}: {old_} -> {new}: companions back {latencies[-1]:.1f} ms after the "
            f"rewrite's commit; {log_n - comp_n} SYNs passed the LOG rule before its companion existed; "
            f"{covered} LOG rules covered")
    stream.kill()
    # watch must not react to its own changes: the ruleset stays still once reconciled
    time.sleep(0.5)
    mark = gens.mark()
    time.sleep(1.0)
    extra = gens.since(mark)
    check(not extra, f"{what}: the ruleset kept changing with nobody else writing (watch loops?): {extra}")
    wlog.seek(0)
    check(w.poll() is None, f"{what}: watch exited early:\n{wlog.read()}")
    w.send_signal(signal.SIGTERM)
    try:
        w.wait(timeout=10)
    except subprocess.TimeoutExpired:
        w.kill()
        fail(f"{what}: watch did not exit on SIGTERM")
    rules_cli(r, "remove")
    check("netlog:" not in r.run("nft list ruleset").stdout, f"{what}: remove left companions behind")
    wlog.seek(0)
    cli = [float(m[1]) for m in re.finditer(r"in place ([0-9.]+) ms after the check that saw the change", wlog.read())]
    log(f"{what}: netlog-rules watch's own reports, notification -> companions in place (ms): {cli}")
    print(f"{what}: reconcile latency over {rewrites} rewrites: min {min(latencies):.1f} ms, median "
          f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms; SYNs through the new LOG rule "
          f"before its companion (at ~500 new connections/s): {unlogged}", flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="netlog-nft-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    flavors = sys.argv[1:] or ["iptables-nft", "nft"]
    for flavor in flavors:
        scenario(flavor, tmp)
    print("PASS: nftables backend (" + ", ".join(flavors) + ")", flush=True)


if __name__ == "__main__":
    main()
