#!/usr/bin/env python3
"""Record fuzz seeds for fuzz_nft: the NFT_MSG_NEWRULE messages a real kernel sends when
asked for its rules (NFT_MSG_GETRULE dump, the request netlog-rules' nftables backend makes:
src/io/nft_netlink.cpp), one file per message, for rulesets loaded in a network namespace
made for the purpose:
  nft-*          tests/data/rulesets/cloudfoundry.nft (native log expressions, sets, inet)
  ipt-*          cloudfoundry.rules / .rules6 through iptables-nft-restore (xt LOG targets,
                 conntrack / limit / mark / comment matches)
  *-companions-* the same after `netlog-rules install --backend nft --family all`, which adds
                 netlog's NFLOG companions (log group, udata comment tags)
  sudo python3 tests/fuzz/record_nft_corpus.py [OUTDIR]   (default tests/data/corpus/nft;
  NETLOG_RULES: the netlog-rules binary, default build/src/netlog-rules/netlog-rules)"""
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "corpus", "nft")
rules_bin = os.environ.get("NETLOG_RULES", os.path.join(ROOT, "build", "src", "netlog-rules",
                                                        "netlog-rules"))
NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NFT_MSG_GETRULE, NFT_MSG_NEWRULE = 12, 10, 7, 6
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE, NLMSG_ERROR = 1, 0x300, 3, 2

if os.geteuid() != 0:
    sys.exit("needs root (a network namespace)")
os.makedirs(out, exist_ok=True)
ns = f"nlcorpus{os.getpid()}"


def run(*argv, input=None):
    subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, input=input, text=True)


def companions(tag):
    """netlog-rules install, then the dump; skipped (with a note) if netlog-rules fails."""
    if not os.access(rules_bin, os.X_OK):
        print(f"{tag}: skipped ({rules_bin} not built)")
        return
    r = subprocess.run(["ip", "netns", "exec", ns, rules_bin, "install", "--rules", cf_rules,
                        "--backend", "nft", "--family", "all"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{tag}: skipped: netlog-rules install exited {r.returncode}: {r.stderr.strip()[-300:]}")
        return
    save(tag, dump_rules())


def dump_rules():
    """The kernel's NEWRULE messages for a GETRULE dump of every family, from inside ns."""
    code = f"""
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, {NETLINK_NETFILTER})
req = struct.pack("=LHHLL", 20, ({NFNL_SUBSYS_NFTABLES} << 8) | {NFT_MSG_GETRULE},
                  {NLM_F_REQUEST | NLM_F_DUMP}, 1, 0) + struct.pack("=BBH", 0, 0, 0)
s.send(req)
msgs = []
done = False
while not done:
    buf = s.recv(1 << 20)
    off = 0
    while off + 16 <= len(buf):
        ln, ty = struct.unpack_from("=LH", buf, off)
        if ty == {NLMSG_DONE} or ty == {NLMSG_ERROR}:
            done = True
            break
        if ty == (({NFNL_SUBSYS_NFTABLES} << 8) | {NFT_MSG_NEWRULE}):
            msgs.append(buf[off:off + ln])
        off += (ln + 3) & ~3
sys.stdout.buffer.write(struct.pack("=L", len(msgs)))
for m in msgs:
    sys.stdout.buffer.write(struct.pack("=L", len(m)) + m)
"""
    data = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                          capture_output=True).stdout
    (n,), off, msgs = struct.unpack_from("=L", data), 4, []
    for _ in range(n):
        (ln,) = struct.unpack_from("=L", data, off)
        msgs.append(data[off + 4:off + 4 + ln])
        off += 4 + ln
    return msgs


def save(tag, msgs):
    for i, m in enumerate(msgs):
        with open(os.path.join(out, f"{tag}-{i:03d}"), "wb") as f:
            f.write(m)
    print(f"{tag}: {len(msgs)} rule messages")


rs = os.path.join(ROOT, "tests", "data", "rulesets")
cf_rules = os.path.join(ROOT, "rules", "cloudfoundry.yaml")
subprocess.run(["ip", "netns", "add", ns], check=True)
try:
    run("nft", "-f", os.path.join(rs, "cloudfoundry.nft"))
    save("nft", dump_rules())
    companions("nft-companions")
    run("nft", "flush", "ruleset")
    run("iptables-restore", input=open(os.path.join(rs, "cloudfoundry.rules")).read())
    run("ip6tables-restore", input=open(os.path.join(rs, "cloudfoundry.rules6")).read())
    save("ipt", dump_rules())
    companions("ipt-companions")
finally:
    subprocess.run(["ip", "netns", "delete", ns])
