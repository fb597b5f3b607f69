"""Installing netlog never changes what the firewall does: stateful matches, real traffic.

A client namespace connects to a server namespace whose INPUT chain holds LOG rules with
every kind of stateful match, some followed by verdicts that depend on that state:
  iptables (loaded into iptables-legacy, then into iptables-nft):
    recent --set (then a --rcheck --hitcount 4 reject), a named hashlimit, quota,
    statistic --mode nth, connlimit (then a reject above 2), limit, recent --rcheck, and a
    plain rule with --log-level 6 --log-tcp-options --log-uid;
  native nft: a named counter, a named quota, a named limit, a set update (meter) that
    rejects over a per-source rate, an anonymous quota, numgen inc, limit, connlimit (ct
    count), a rule with `level info flags tcp options,skuid`, and one LOG rule in an
    anonymous chain bound to a `jump { }` rule (the kernel takes no other rule there).
The same rounds of traffic (6 connection attempts to each port, connections held open)
run on a fresh copy of the ruleset: (A) alone; (B) after `netlog-rules install`; (C) after
`install --mode replace`; (D, the control) after hand-made naive companions (a copy of each
LOG rule with an NFLOG target), to show the traffic does reveal a second evaluation of the
shared-state matches. Checks: B and C give the same verdicts (connected / reset) and the
same LOG-rule counts as A (the LOG target logs each packet its rule counts; the counters
are the kernel's); D differs from A for each shared-state kind; install names each rule
with a side effect ("not covered: ..."), covers all the others and exits 3 (partial);
replace covers all (exit 0); NFLOG (tcpdump -i nflog:42) carries the options tag
`~nl60a` / `~nl60a` for the rules with options and nothing from a named rule.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import netns
import traffic as traffic_lib
from netns import check, fail, log

netns.require_root("the stateful-match test")
for tool, pkg in (("iptables-legacy-restore", "iptables"), ("iptables-nft-restore", "iptables"),
                  ("nft", "nftables"), ("tcpdump", "tcpdump"), ("tshark", "tshark")):
    netns.require_tool(tool, pkg)

NETLOG_RULES = netns.binary("netlog-rules")
tmp = tempfile.mkdtemp(prefix="netlog-stateful-")
netns.on_exit(lambda: subprocess.run(["rm", "-rf", tmp]))
RULES = os.path.join(tmp, "stateful.yaml")
with open(RULES, "w") as f:
    f.write("nflog: {group: 42, snaplen: 128, queue_threshold: 1}\n"
            "classes:\n  - {name: stateful, log_prefix: '^ST_', direction: ingress, verdict: denied}\n")

C4, S4 = "10.77.0.1", "10.77.0.2"
PORTS = list(range(7001, 7010))
ATTEMPTS = 6

IPT = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 7001 --tcp-flags FIN,SYN,RST,ACK SYN -m recent --set --name r1 --mask 255.255.255.255 --rsource -j LOG --log-prefix "ST_RECENT "
-A INPUT -p tcp -m tcp --dport 7001 --tcp-flags FIN,SYN,RST,ACK SYN -m recent --rcheck --seconds 60 --hitcount 4 --name r1 --mask 255.255.255.255 --rsource -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 7002 --tcp-flags FIN,SYN,RST,ACK SYN -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-name hl1 -j LOG --log-prefix "ST_HASHLIMIT "
-A INPUT -p tcp -m tcp --dport 7003 --tcp-flags FIN,SYN,RST,ACK SYN -m quota --quota 180 -j LOG --log-prefix "ST_QUOTA "
-A INPUT -p tcp -m tcp --dport 7004 --tcp-flags FIN,SYN,RST,ACK SYN -m statistic --mode nth --every 2 --packet 0 -j LOG --log-prefix "ST_NTH "
-A INPUT -p tcp -m tcp --dport 7005 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -j LOG --log-prefix "ST_CONNLIMIT "
-A INPUT -p tcp -m tcp --dport 7005 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 7006 --tcp-flags FIN,SYN,RST,ACK SYN -m limit --limit 1/min --limit-burst 2 -j LOG --log-prefix "ST_LIMIT "
-A INPUT -p tcp -m tcp --dport 7007 --tcp-flags FIN,SYN,RST,ACK SYN -m recent --rcheck --name r1 --mask 255.255.255.255 --rsource -j LOG --log-prefix "ST_RCHECK "
-A INPUT -p tcp -m tcp --dport 7008 --tcp-flags FIN,SYN,RST,ACK SYN -j LOG --log-prefix "ST_OPTS " --log-level 6 --log-tcp-options --log-uid
COMMIT
"""
IPT_NAMED = {"ST_RECENT ", "ST_HASHLIMIT ", "ST_QUOTA ", "ST_NTH "}  # side effects: left alone
IPT_SHARED = {"ST_RECENT ", "ST_HASHLIMIT "}  # state shared by name: a second evaluation shows

NFT = """table inet st {
	counter c1 {
	}
	quota q1 {
		until 180 bytes
	}
	limit l1 {
		rate 1/minute burst 3 packets
	}
	set m {
		type ipv4_addr
		size 65535
		flags dynamic
	}
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 7001 tcp flags syn update @m { ip saddr limit rate over 2/minute burst 3 packets } counter log prefix "ST_METER " reject with tcp reset
		tcp dport 7002 tcp flags syn counter name "c1" log prefix "ST_NCOUNTER "
		tcp dport 7003 tcp flags syn quota name "q1" counter log prefix "ST_NQUOTA "
		tcp dport 7004 tcp flags syn limit name "l1" counter log prefix "ST_NLIMIT "
		tcp dport 7005 tcp flags syn quota until 180 bytes counter log prefix "ST_QUOTA "
		tcp dport 7006 tcp flags syn numgen inc mod 2 0 counter log prefix "ST_NUMGEN "
		tcp dport 7007 tcp flags syn ct count over 2 counter log prefix "ST_CTCOUNT " reject with tcp reset
		tcp dport 7008 tcp flags syn limit rate 1/minute burst 2 packets counter log prefix "ST_LIMIT " level info flags tcp options flags skuid
		tcp dport 7009 tcp flags syn jump {
			counter log prefix "ST_BOUND "
			accept
		}
	}
}
"""
NFT_NAMED = {"ST_METER ", "ST_NCOUNTER ", "ST_NQUOTA ", "ST_NLIMIT ", "ST_QUOTA ", "ST_NUMGEN "}
NFT_REFUSED = {"ST_BOUND "}  # the kernel refuses any other rule in a bound chain
# replace mode: the kernel also refuses the rule with the set update carrying a limit when it
# is sent back (EOPNOTSUPP, kernel 6.18 / libnftnl 1.2.4): named, the LOG rule stays.
NFT_REFUSED_REPLACE = {"ST_BOUND ", "ST_METER "}
NFT_SHARED = {"ST_METER ", "ST_NCOUNTER ", "ST_NQUOTA ", "ST_NLIMIT "}

SERVER = r"""
import select, socket, sys
ls = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(64); ls.append(s)
print("ready", flush=True)
held = []
while True:
    r, _, _ = select.select(ls, [], [])
    for s in r:
        held.append(s.accept()[0])
"""

CLIENT = r"""
import json, socket, sys
dst, n, ports = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
out, held = {}, []
for p in ports:
    res = []
    for _ in range(n):
        s = socket.socket(); s.settimeout(10.0)  # no rule drops: only a bound
        try:
            s.connect((dst, int(p))); res.append("ok"); held.append(s)
        except ConnectionRefusedError:
            res.append("reset")
        except OSError as e:
            res.append("timeout")
    out[p] = res
print(json.dumps(out), flush=True)
"""


def world():
    c, s = netns.Netns("sc"), netns.Netns("ss")
    netns.veth(c, s, "eth0", "eth0", [C4 + "/24"], [S4 + "/24"])
    srv = s.popen(["/usr/bin/python3", "-c", SERVER] + [str(p) for p in PORTS], text=True)
    check(srv.stdout.readline().strip() == "ready", "the listener did not start")
    c.run(["ping", "-c1", "-W2", S4], check=False)
    return c, s


def traffic(c):
    r = c.run(["/usr/bin/python3", "-c", CLIENT, S4, str(ATTEMPTS)] + [str(p) for p in PORTS], timeout=120)
    return json.loads(r.stdout)


def counts_ipt(s, tool):
    """{prefix: packets} of the LOG rules, and of the NFLOG rules (by their LOG prefix)."""
    logs, nflogs = {}, {}
    for line in s.run(f"iptables-{tool}-save -c -t filter").stdout.splitlines():
        m = re.match(r'^\[(\d+):\d+\] -A INPUT .* -j (N?FLOG|LOG) --(?:log|nflog)-prefix "([^"~]*)(?:~nl[0-9a-f]{3})?"', line)
        if m:
            (nflogs if m[2] == "NFLOG" else logs)[m[3]] = int(m[1])
    return logs, nflogs


def counts_nft(s):
    logs, nflogs = {}, {}
    listing = s.run("nft list ruleset").stdout
    for line in listing.splitlines():
        m = re.search(r'counter packets (\d+) bytes \d+ log prefix "([^"~]*)(?:~nl[0-9a-f]{3})?"( group)?', line)
        if m:
            (nflogs if m[3] else logs)[m[2]] = int(m[1])
    c1 = re.search(r"counter c1 \{\s*packets (\d+)", listing)
    logs["counter c1"] = int(c1[1]) if c1 else -1
    return logs, nflogs


def naive_ipt(s, tool):
    """The control: right after each LOG rule, a copy of it with an NFLOG target."""
    lines = s.run(f"iptables-{tool}-save -t filter").stdout.splitlines()
    pos, script = {}, ["*filter"]
    n = 0
    for line in lines:
        if line.startswith("-A INPUT "):
            n += 1
            m = re.match(r'^-A INPUT (.*) -j LOG --log-prefix ("[^"]*")', line)
            if m:
                script.append(f"-I INPUT {n + 1} {m[1]} -j NFLOG --nflog-group 43 --nflog-prefix {m[2]}")
                n += 1
    s.run([f"iptables-{tool}-restore", "--noflush", "-w", "60"], input="\n".join(script + ["COMMIT", ""]))


def naive_nft(s):
    listing = s.run("nft -a list chain inet st input").stdout
    for line in listing.splitlines():
        m = re.match(r'^\s*(.*?)(?: counter packets \d+ bytes \d+)? log prefix ("[^"]*")(.*?) # handle (\d+)$', line)
        if not m:
            continue
        # before the LOG rule, since some act after logging (reject)
        s.run(["nft", f"insert rule inet st input position {m[4]} {m[1]} log prefix {m[2]} group 43"])


def capture(s, path):
    p = s.popen(["tcpdump", "-n", "-U", "-i", "nflog:42", "-w", path], stdout=subprocess.DEVNULL)
    line = p.stderr.readline().decode()
    check("listening" in line, f"tcpdump did not start: {line}")
    return p


def prefixes(p, path, expected):
    """The prefixes of the capture once it holds the `expected` records the companions'
    counters show (their queue_threshold is 1: each is sent at once)."""
    traffic_lib.wait_capture(path, lambda recs: len(recs) >= expected)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    out = netns.sh(["tshark", "-r", path, "-T", "fields", "-e", "nflog.prefix"]).stdout
    return [l for l in out.splitlines() if l]


def nr(s, *args):
    return s.run([NETLOG_RULES, *args, "--rules", RULES, "--family", "ipv4"], check=False, timeout=60)


def run(flavor, variant):
    """One fresh world, the ruleset, the variant's change, the traffic: (verdicts, counts, notes)."""
    c, s = world()
    tool = {"legacy": "legacy", "iptables-nft": "nft"}.get(flavor)
    if tool:
        # (-w: the xtables lock is one file for the whole host; other tests may hold it)
        s.run([f"iptables-{tool}-restore", "-w", "60"], input=IPT)
    else:
        s.run(["nft", "-f", "-"], input=NFT)
    backend = "legacy" if flavor == "legacy" else "nft"
    named = IPT_NAMED if tool else NFT_NAMED
    refused = set() if tool else NFT_REFUSED
    cap = path = None
    note = ""
    if variant in ("install", "replace"):
        plan = nr(s, "plan", "--backend", backend, *(["--mode", "replace"] if variant == "replace" else []))
        r = nr(s, "install", "--backend", backend, *(["--mode", "replace"] if variant == "replace" else []))
        named_out = set(re.findall(r'^not covered: ipv4 \S+ \S+ #\d+ "([^"]*)": ', r.stdout, re.M))
        named_plan = set(re.findall(r'^not covered: ipv4 \S+ \S+ #\d+ "([^"]*)": ', plan.stdout, re.M))
        want = (named | refused) if variant == "install" else (
            refused if tool else NFT_REFUSED_REPLACE)
        check(named_out == want, f"{flavor}/{variant}: install named {sorted(named_out)}, want {sorted(want)}:\n{r.stdout}{r.stderr}")
        check(named_plan == want, f"{flavor}/{variant}: plan named {sorted(named_plan)}, want {sorted(want)}:\n{plan.stdout}")
        check(r.returncode == (3 if want else 0), f"{flavor}/{variant}: install exit {r.returncode}, want {3 if want else 0}")
        note = f"install exit {r.returncode}, named {len(named_out)}"
        path = os.path.join(tmp, f"{flavor}-{variant}.pcap")
        cap = capture(s, path)
    elif variant == "naive":
        naive_ipt(s, tool) if tool else naive_nft(s)
    verdicts = traffic(c)
    logs, nflogs = counts_ipt(s, tool) if tool else counts_nft(s)
    seen = prefixes(cap, path, sum(nflogs.values())) if cap else []
    c.delete()
    s.delete()
    return verdicts, logs, nflogs, seen, note


def flavor_check(flavor):
    named = IPT_NAMED if flavor != "nft" else NFT_NAMED
    shared = IPT_SHARED if flavor != "nft" else NFT_SHARED
    a_v, a_l, _, _, _ = run(flavor, "alone")
    log(f"{flavor}: alone: verdicts {a_v}; LOG counts {a_l}")
    for variant in ("install", "replace"):
        v, l, nfl, seen, note = run(flavor, variant)
        check(v == a_v, f"{flavor}/{variant}: verdicts changed:\n  alone {a_v}\n  now   {v}")
        if variant == "install":
            check(l == a_l, f"{flavor}/{variant}: LOG counts changed:\n  alone {a_l}\n  now   {l}")
            # a companion sees exactly the packets its LOG rule logs
            for p, n in nfl.items():
                check(n == a_l.get(p), f"{flavor}/{variant}: companion of {p!r} counted {n}, its LOG rule {a_l.get(p)}")
            check(not (set(nfl) & named), f"{flavor}/{variant}: a named rule got a companion: {set(nfl) & named}")
        else:
            # replace: the companion is the LOG rule, evaluated once: it counts what LOG did
            for p, n in nfl.items():
                check(n == a_l.get(p), f"{flavor}/{variant}: companion of {p!r} counted {n}, LOG alone {a_l.get(p)}")
        opts = "ST_OPTS ~nl60a" if flavor != "nft" else "ST_LIMIT ~nl60a"
        check(opts in seen, f"{flavor}/{variant}: no NFLOG packet with the options tag {opts!r}: {sorted(set(seen))}")
        if variant == "install":
            check(not any(p.split("~")[0] in named for p in seen), f"{flavor}/{variant}: NFLOG from a named rule: {set(seen)}")
        log(f"{flavor}/{variant}: {note}; verdicts and LOG counts as without netlog; "
            f"{len(seen)} NFLOG packets, prefixes {sorted(set(seen))}")
    v, l, nfl, _, _ = run(flavor, "naive")
    differs = {p for p in shared if l.get(p) != a_l.get(p)}
    if flavor == "nft" and l.get("counter c1") != a_l.get("counter c1"):
        differs.add("ST_NCOUNTER ")
    if v != a_v:
        differs |= {p for p in shared if p in ("ST_RECENT ", "ST_METER ")}
    check(differs == shared, f"{flavor}/naive control: a second evaluation did not show for "
                             f"{sorted(shared - differs)} (verdicts {v} vs {a_v}; counts {l} vs {a_l})")
    changed = {p: f"{''.join(x[0] for x in a_v[p])}->{''.join(x[0] for x in v[p])}" for p in a_v if v[p] != a_v[p]}
    log(f"{flavor}/naive control: naive companions changed the verdicts of ports {changed} (o=ok r=reset) and "
        f"the counts {{{', '.join(f'{p!r}: {a_l.get(p)}->{l.get(p)}' for p in sorted(shared | {'counter c1'}) if p in a_l)}}}")


def main():
    flavors = sys.argv[1:] or ["legacy", "iptables-nft", "nft"]
    for flavor in flavors:
        flavor_check(flavor)
    print(f"PASS: stateful matches on {', '.join(flavors)}: 4 rounds of {ATTEMPTS} connections x {len(PORTS)} "
          f"ports each", flush=True)


if __name__ == "__main__":
    main()
