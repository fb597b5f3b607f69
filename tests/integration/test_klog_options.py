#!/usr/bin/python3
"""Every LOG option, carried: LOG rules with options, written by the real tools on
iptables-legacy, iptables-nft and native nft, mirrored by `netlog-rules install`; real
traffic through them; netlogd's klog lines equal the kernel's own /dev/kmsg lines byte for
byte, and each line's syslog severity (netlogd -> a real rsyslog over UDP) equals the
kernel's record priority, i.e. the rule's level.

World per backend: client -- router -- server (traffic.Routed). The client owns one IPv4
and one IPv6 address per option set; in the router each option set's LOG rules select its
addresses (FORWARD both ways, INPUT from it, OUTPUT to it), so every packet is logged by
exactly one option set. Option sets: --log-level 6 --log-tcp-sequence; 3 --log-tcp-options;
5 --log-ip-options; 7 --log-macdecode; 1 --log-uid; 0 with every flag; and the defaults
(no tag); nft `log level L flags ...` the same. netlog-rules mirrors them (alongside), the
companion prefixes carry `~nl<L><FF>`; netlogd strips the tag and prints the options.

Traffic per option set: a TCP exchange (SYN with options, SYN-ACK, data, FIN), UDP both
ways, ICMP echo, a port unreachable (an ICMP error quoting UDP), IPv4 with a Record Route
option, IPv6 TCP, hop-by-hop + UDP, a fragmented UDP datagram, ICMPv6 echo; the client
pinging the router (INPUT); the router's own UDP and TCP sent as uid/gid 65534 (OUTPUT:
UID= GID=; the client's reset to that TCP comes back on INPUT to the same socket).

Then `--mode replace`: the LOG rules (options and all) are replaced by their companions;
the same crafted packets (fixed IP IDs, TCP sequence numbers) sent again: netlogd's lines
for them equal what the kernel printed for them before, and the kernel prints nothing
now; `remove --mode replace` puts the ruleset back exactly.

The kernel's LOG lines in a namespace need net.netfilter.nf_log_all_netns=1 (restored at
exit); this run's lines are found by a random tag in every prefix.
"""
import collections
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time

import netns
import traffic
from netns import check, fail, log

NETLOGD = netns.binary("netlogd")
NETLOG_RULES = netns.binary("netlog-rules")
GROUP = 11
NOBODY = 65534
TCPSEQ, TCPOPT, IPOPT, UID, MACDECODE = 0x01, 0x02, 0x04, 0x08, 0x20
LEVELS = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"]

# (name, level, flags); "plain" is a LOG rule with the defaults (level 4, no flags)
OPTION_SETS = [
    ("plain", 4, 0),
    ("seq", 6, TCPSEQ),
    ("tcpopt", 3, TCPOPT),
    ("ipopt", 5, IPOPT),
    ("mac", 7, MACDECODE),
    ("uid", 1, UID),
    ("all", 0, TCPSEQ | TCPOPT | IPOPT | UID | MACDECODE),
]


def addr4(k):
    return f"10.0.1.{10 + k}"


def addr6(k):
    return f"fd00:1::{10 + k:x}"


def ipt_options(level, flags):
    o = [] if level == 4 else ["--log-level", str(level)]
    for bit, opt in ((TCPSEQ, "--log-tcp-sequence"), (TCPOPT, "--log-tcp-options"),
                     (IPOPT, "--log-ip-options"), (UID, "--log-uid"), (MACDECODE, "--log-macdecode")):
        if flags & bit:
            o.append(opt)
    return o


def nft_options(level, flags):
    o = "" if level == 4 else f" level {LEVELS[level]}"
    if flags == TCPSEQ | TCPOPT | IPOPT | UID | MACDECODE:
        return o + " flags all"
    tcp = [w for b, w in ((TCPSEQ, "sequence"), (TCPOPT, "options")) if flags & b]
    if tcp:
        o += " flags tcp " + ",".join(tcp)
    for b, w in ((IPOPT, "ip options"), (UID, "skuid"), (MACDECODE, "ether")):
        if flags & b:
            o += f" flags {w}"
    return o


def selections(k, v6):
    """[(chain, iptables match, nft match)] of option set k."""
    a = addr6(k) if v6 else addr4(k)
    fam = "ip6" if v6 else "ip"
    return [("FORWARD", ["-s", a], f"{fam} saddr {a}"), ("FORWARD", ["-d", a], f"{fam} daddr {a}"),
            ("INPUT", ["-s", a], f"{fam} saddr {a}"), ("OUTPUT", ["-d", a], f"{fam} daddr {a}")]


def install_log_rules(w, backend, tag):
    r = w.router
    if backend == "nft":
        text = ["table inet nlopt {"]
        for chain in ("forward", "input", "output"):
            text.append(f" chain {chain} {{ type filter hook {chain} priority 0; policy accept;")
            for k, (name, level, flags) in enumerate(OPTION_SETS):
                for v6 in (False, True):
                    for c, _, m in selections(k, v6):
                        if c.lower() == chain:
                            text.append(f'  {m} log prefix "{prefix(tag, name)}"{nft_options(level, flags)}')
            text.append(" }")
        text.append("}")
        r.run(["nft", "-f", "-"], input="\n".join(text) + "\n")
        return
    for v6 in (False, True):
        ipt = ("ip6tables" if v6 else "iptables") + ("-legacy" if backend == "legacy" else "-nft")
        for k, (name, level, flags) in enumerate(OPTION_SETS):
            for chain, m, _ in selections(k, v6):
                r.run([ipt, "-A", chain] + m + ["-j", "LOG", "--log-prefix", prefix(tag, name)] +
                      ipt_options(level, flags))


def ruleset_dump(w, backend):
    if backend == "nft":
        return w.router.run("nft list ruleset").stdout
    tool = "legacy" if backend == "legacy" else "nft"
    text = w.router.run(f"iptables-{tool}-save; ip6tables-{tool}-save").stdout
    return "\n".join(re.sub(r"\[\d+:\d+\]", "", l) for l in text.splitlines() if not l.startswith("#"))


def prefix(tag, name):
    return f"K{tag}{name} "


def traffic_script(w):
    S4, S6 = w.SERVER4, w.SERVER6
    sets = [(addr4(k), addr6(k)) for k in range(len(OPTION_SETS))]
    return traffic.CLIENT_PRELUDE + f"""
from scapy.all import IPOption_RR
S4, S6 = {S4!r}, {S6!r}
def bound_tcp(src, dst, port):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3)
    s.bind((src, 0))
    try:
        s.connect((dst, port)); s.sendall(b"hello"); s.recv(100)
    except OSError:
        pass
    s.close(); time.sleep(0.05)
def bound_udp(src, dst, port):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(0.5)
    s.bind((src, 0)); s.sendto(b"ping", (dst, port))
    try:
        s.recvfrom(100)
    except OSError:
        pass
    s.close(); time.sleep(0.03)
for a4, a6 in {sets!r}:
    bound_tcp(a4, S4, 8080)
    bound_udp(a4, S4, 5353)
    bound_udp(a4, S4, 9)            # port unreachable: an ICMP error quoting UDP
    subprocess.run(["ping", "-c1", "-W1", "-I", a4, S4], stdout=subprocess.DEVNULL)
    tx(IP(src=a4, dst=S4, options=[IPOption_RR()])/UDP(sport=40103, dport=5353)/Raw(b"opts"))
    bound_tcp(a6, S6, 8080)
    tx(IPv6(src=a6, dst=S6)/IPv6ExtHdrHopByHop()/UDP(sport=40200, dport=5353)/Raw(b"hbh"))
    tx(fragment6(IPv6(src=a6, dst=S6)/IPv6ExtHdrFragment(id=0xabcd)/UDP(sport=40301, dport=5353)/Raw(b"C"*300), 200))
    subprocess.run(["ping", "-c1", "-W1", "-I", a6, S6], stdout=subprocess.DEVNULL)
    subprocess.run(["ping", "-c1", "-W1", "-I", a4, {w.ROUTER4_C!r}], stdout=subprocess.DEVNULL)
    time.sleep(0.05)
"""


def probe_script(w):
    """Crafted packets with every header field fixed: the same bytes whenever sent."""
    S4, S6 = w.SERVER4, w.SERVER6
    sets = [(addr4(k), addr6(k)) for k in range(len(OPTION_SETS))]
    return traffic.CLIENT_PRELUDE + f"""
from scapy.all import IPOption_RR
S4, S6 = {S4!r}, {S6!r}
for a4, a6 in {sets!r}:
    tx(IP(src=a4, dst=S4, id=4321, flags="DF")/TCP(sport=41000, dport=7, flags="S", seq=123456,
       options=[("MSS", 1400), ("SAckOK", b""), ("Timestamp", (7, 0)), ("NOP", None), ("WScale", 7)]))
    tx(IP(src=a4, dst=S4, id=4322, options=[IPOption_RR()])/UDP(sport=41001, dport=7)/Raw(b"rr"))
    tx(IP(src=a4, dst=S4, id=4323)/ICMP(type=8, id=77, seq=1)/Raw(b"x" * 8))
    tx(IPv6(src=a6, dst=S6, fl=5)/IPv6ExtHdrHopByHop()/TCP(sport=41002, dport=7, flags="S", seq=99,
       options=[("MSS", 1300)]))
"""


def uid_script(w):
    """Run in the router as uid/gid 65534: its own packets to each option set's address."""
    sets = [(addr4(k), addr6(k)) for k in range(len(OPTION_SETS))]
    return f"""
import socket
for a4, a6 in {sets!r}:
    for fam, a in ((socket.AF_INET, a4), (socket.AF_INET6, a6)):
        u = socket.socket(fam, socket.SOCK_DGRAM); u.sendto(b"uid", (a, 9)); u.close()
        t = socket.socket(fam, socket.SOCK_STREAM); t.settimeout(1)
        try:
            t.connect((a, 7))       # the client resets it: INPUT, to this socket
        except OSError:
            pass
        t.close()
"""


class Rsyslog:
    """A real rsyslog (Debian's) in `ns`, its own config and files: UDP 127.0.0.1:5514 to a
    file as "severity|msg"."""

    def __init__(self, ns, tmp):
        self.path = os.path.join(tmp, "rs.log")
        conf = os.path.join(tmp, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f'global(workDirectory="{tmp}" maxMessageSize="64k")\n'
                    'module(load="imudp")\n'
                    'template(name="t" type="string" string="%syslogseverity%|%msg%\\n")\n'
                    'ruleset(name="u") { action(type="omfile" file="' + self.path + '" template="t") }\n'
                    'input(type="imudp" address="127.0.0.1" port="5514" ruleset="u")\n')
        self.proc = ns.popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(tmp, "rs.pid")])
        netns.on_exit(self.stop)
        netns.wait_for(lambda: "5514" in ns.run("ss -lun", check=False).stdout, 10,
                       what="rsyslog to listen on UDP 5514")

    def lines(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, errors="surrogateescape") as f:
            return [tuple(l.split("|", 1)) for l in f.read().split("\n") if l]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def by_prefix(recs):
    out = collections.defaultdict(list)
    for prio, text in recs:
        out[text[:text.index(" ") + 1]].append((prio, text))
    return out


def compare(kernel, ours, what):
    """kernel, ours: {prefix: [(prio, text)]}. Problems, in words."""
    problems = []
    for p in sorted(set(kernel) | set(ours)):
        k, g = kernel.get(p, []), ours.get(p, [])
        if len(k) != len(g):
            problems.append(f"{what} {p!r}: kernel {len(k)} lines, netlogd {len(g)}")
        if [t for _, t in k] != [t for _, t in g] and sorted(k) == sorted(g):
            continue  # two CPUs logged concurrently: same lines, another order
        for i, ((kp, kt), (gp, gt)) in enumerate(zip(k, g)):
            if kt != gt:
                problems.append(f"{what} {p!r} #{i + 1}:\n    kernel:  {kt!r}\n    netlogd: {gt!r}")
            elif kp != gp:
                problems.append(f"{what} {p!r} #{i + 1}: severity {gp}, the kernel's priority {kp}: {kt!r}")
    return problems


def run_backend(backend):
    tag = secrets.token_hex(3)
    w = traffic.Routed()
    for k in range(len(OPTION_SETS)):
        w.client.run(f"ip addr add {addr4(k)}/24 dev c0; ip -6 addr add {addr6(k)}/64 dev c0 nodad")
    traffic.start_server(w.server, 8080, 5353)
    w.warm_up()
    for k in range(len(OPTION_SETS)):  # resolve the neighbours of every address now
        w.client.run(["ping", "-c1", "-W2", "-I", addr4(k), w.SERVER4], check=False)
        w.client.run(["ping", "-c1", "-W2", "-I", addr6(k), w.SERVER6], check=False)
    install_log_rules(w, backend, tag)
    before = ruleset_dump(w, backend)

    tmp = tempfile.mkdtemp(prefix="netlog-klogopt-")
    os.chmod(tmp, 0o755)
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    rules = os.path.join(tmp, "rules.yaml")
    with open(rules, "w") as f:
        f.write(f"nflog: {{group: {GROUP}, snaplen: 256, queue_threshold: 1}}\n"
                f"classes:\n  - {{name: opts, log_prefix: '^K{tag}', direction: egress, verdict: denied}}\n")
    def nr(*args, rc=0):
        r = w.router.run([NETLOG_RULES, *args, "--rules", rules, "--backend",
                          "legacy" if backend == "legacy" else "nft"], check=False, timeout=120)
        if r.returncode != rc:
            fail(f"{backend}: netlog-rules {' '.join(args)}: exit {r.returncode}:\n{r.stdout}{r.stderr}")
        return r
    r = nr("install")
    st = nr("status").stdout
    check("not carried" not in r.stdout + st and "not covered:" not in st,
          f"{backend}: options not carried or rules not covered:\n{r.stdout}{st}")
    companions = ruleset_dump(w, backend)
    for k, (name, level, flags) in enumerate(OPTION_SETS):
        want = prefix(tag, name) + ("" if (level, flags) == (4, 0) else f"~nl{level}{flags:02x}")
        check(want in companions, f"{backend}: no companion with prefix {want!r}:\n{companions}")

    rs = Rsyslog(w.router, tmp)
    klog = os.path.join(tmp, "klog.log")
    conf = os.path.join(tmp, "netlogd.yaml")
    with open(conf, "w") as f:
        f.write(f"rules: {rules}\noutputs:\n  - {{type: file, path: {klog}, format: klog}}\n"
                '  - {type: syslog, address: "udp://127.0.0.1:5514", format: klog}\n')
    errf = open(os.path.join(tmp, "netlogd.err"), "w")
    d = w.router.popen([NETLOGD, "-c", conf], stdout=errf, stderr=errf)
    netns.wait_for(lambda: "reading NFLOG" in open(errf.name).read() or d.poll() is not None,
                   timeout=15, what="netlogd to start")
    check(d.poll() is None, f"netlogd exited at start: {open(errf.name).read()}")

    def netlogd_lines():
        with open(klog, errors="surrogateescape") as f:
            texts = [l for l in f.read().split("\n") if l]
        sev = rs.lines()
        return texts, sev

    def ours_by_prefix(texts, sev, start):
        """netlogd's lines from `start` on with rsyslog's severity for each, by prefix."""
        n = min(len(texts), len(sev))
        recs = []
        for (s, msg), t in zip(sev[start:n], texts[start:n]):
            # the same event in both outputs (one event loop writes both, in order)
            check(msg.rstrip() == t.rstrip(), f"{backend}: rsyslog got {msg!r} for klog line {t!r}")
            recs.append((int(s), t))
        return by_prefix(recs)

    kmsg = traffic.KmsgRecords(tag)
    traffic.run_py(w.client, traffic_script(w), timeout=180)
    w.router.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                  "/usr/bin/python3", "-c", uid_script(w)], timeout=60)

    # settle: kernel and netlogd counts stop moving and agree
    end = time.monotonic() + 20
    last = None
    while True:
        texts, sev = netlogd_lines()
        now = (len(kmsg.records()), len(texts), len(sev))
        if now == last and now[0] == now[1] == now[2]:
            break
        if time.monotonic() > end:
            fail(f"{backend}: kernel {now[0]} lines, netlogd klog {now[1]}, rsyslog {now[2]} "
                 f"(kmsg overruns {kmsg.lost}; nf_log_all_netns now "
                 f"{open('/proc/sys/net/netfilter/nf_log_all_netns').read().strip()})")
        last = now
        time.sleep(0.4)
    kernel = by_prefix([(p, t) for p, _, t in kmsg.records()])
    ours = ours_by_prefix(texts, sev, 0)
    problems = compare(kernel, ours, backend)
    if problems:
        fail(f"{backend}: {len(problems)} difference(s):\n" + "\n".join(problems[:8]))
    n_alongside = len(texts)
    seen = collections.Counter()
    for p, recs in kernel.items():
        for _, t in recs:
            for word in ("SEQ=", "OPT (", "UID=", "MACSRC=", "MAC="):
                if word in t:
                    seen[(p.strip()[len(tag) + 1:], word)] += 1
    for name, level, flags in OPTION_SETS:
        for bit, word in ((TCPSEQ, "SEQ="), (TCPOPT, "OPT ("), (IPOPT, "OPT ("), (UID, "UID="),
                          (MACDECODE, "MACSRC=")):
            if flags & bit:
                check(seen[(name, word)] > 0, f"{backend}: option set {name}: no {word} line at all: "
                                              f"the traffic did not exercise it")
    log(f"{backend}: alongside: {n_alongside} lines equal the kernel's, severities its priorities "
        f"({len(kernel)} option sets; " + ", ".join(f"{n} {len(v)}" for n, v in sorted(kernel.items())) + ")")

    # the crafted probes, alongside: what the kernel prints for them
    clients = {addr4(k) for k in range(len(OPTION_SETS))} | {
        "fd00:0001:0000:0000:0000:0000:0000:00" + f"{10 + k:02x}" for k in range(len(OPTION_SETS))}

    def from_client(t):  # the probe itself (its answers' IP IDs are the server's to choose)
        m = re.search(r" SRC=(\S+) ", t)
        return m and m.group(1) in clients and not re.search(r"PROTO=ICMPv6 TYPE=13[3-7] ", t)
    k0, n0 = len(kmsg.records()), len(netlogd_lines()[0])
    traffic.run_py(w.client, probe_script(w), timeout=60)
    netns.wait_for(lambda: len(kmsg.records()) > k0 and
                   len(netlogd_lines()[0]) - n0 == len(kmsg.records()) - k0, timeout=15,
                   what="the probes' lines from the kernel and netlogd")
    time.sleep(0.5)
    probe_kernel = [(p, t) for p, _, t in kmsg.records()[k0:] if from_client(t)]
    check(len(probe_kernel) == 4 * len(OPTION_SETS),
          f"{backend}: {len(probe_kernel)} probe lines from the kernel, want {4 * len(OPTION_SETS)}")

    # replace mode: the LOG rules go, their companions stand in their place
    nr("install", "--mode", "replace")
    replaced = ruleset_dump(w, backend)
    left = [l for l in replaced.splitlines()
            if tag in l and ("-j LOG" in l or ("log prefix" in l and " group " not in l))]
    check(not left, f"{backend}: --mode replace left LOG rules: {left}")
    k1, n1 = len(kmsg.records()), len(netlogd_lines()[0])
    traffic.run_py(w.client, probe_script(w), timeout=60)

    def probes_in():
        texts, sev = netlogd_lines()
        return sum(1 for t in texts[n1:] if from_client(t)) >= len(probe_kernel) and len(sev) >= len(texts)
    netns.wait_for(probes_in, timeout=15, what="netlogd's lines for the probes in replace mode")
    time.sleep(0.5)
    texts, sev = netlogd_lines()
    check(len(kmsg.records()) == k1, f"{backend}: the kernel still logs after --mode replace: "
                                   f"{kmsg.records()[k1:][:3]}")
    ours_probe = [r for recs in ours_by_prefix(texts, sev, n1).values() for r in recs if from_client(r[1])]
    problems = compare(by_prefix(probe_kernel), by_prefix(ours_probe), f"{backend} replace")
    if problems:
        fail(f"{backend}: replace mode: {len(problems)} difference(s):\n" + "\n".join(problems[:8]))
    log(f"{backend}: replace: {len(ours_probe)} probe lines equal the kernel's from before the "
        f"replacement (the kernel now prints none)")
    r = nr("remove", "--mode", "replace")
    after = ruleset_dump(w, backend)
    if after != before:
        import difflib
        fail(f"{backend}: remove --mode replace did not restore the ruleset ({r.stdout}):\n" +
             "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")) +
             "\nnft list ruleset:\n" + w.router.run("nft list ruleset", check=False).stdout)
    d.send_signal(signal.SIGTERM)
    check(d.wait(timeout=15) == 0, f"{backend}: netlogd exited {d.returncode}: {open(errf.name).read()}")
    kmsg.close()
    rs.stop()
    for ns in (w.client, w.router, w.server):
        ns.delete()


def main():
    netns.require_root("test_klog_options")
    for tool, pkg in (("iptables-legacy", "iptables"), ("iptables-nft", "iptables"), ("nft", "nftables"),
                      ("rsyslogd", "rsyslog"), ("setpriv", "util-linux")):
        netns.require_tool(tool, pkg)
    nf_log = traffic.hold_nf_log_all_netns()
    backends = sys.argv[1:] or ["legacy", "iptables-nft", "nft"]
    with nf_log.watch() as seen:
        for b in backends:
            run_backend(b)
    if seen["disturbed"]:
        log(f"note: nf_log_all_netns was changed {seen['disturbed']} time(s) by something else "
            f"and set back")
    print(f"PASS: every LOG option on {', '.join(backends)}: klog text and severity equal the kernel's")


if __name__ == "__main__":
    main()
