#!/usr/bin/python3
"""The ICMP error rule of `connections: {outcomes: true}`, installed by netlog-rules --config
(netlogd.yaml) on the iptables-legacy backend and on the nftables backend (iptables-nft's
tables), each in a namespace of its own.

A Cloud Foundry-shaped ruleset (tests/data/rulesets/cloudfoundry.rules{,6}: its FORWARD
chain accepts RELATED,ESTABLISHED at position 2, before any container chain sees an ICMP
error) is loaded; then, checked with the real iptables-legacy-save / ip6tables-legacy-save:
  - plan shows the rule for filter FORWARD, INPUT and OUTPUT of each family, changes nothing;
  - install puts it first in each of those chains, exactly as written below (from the
    iptables syntax: -p icmp --icmp-type 3 / -p ipv6-icmp --icmpv6-type 1, conntrack
    RELATED, the owner comment, NFLOG to the rules file's group 42, prefix
    netlog-icmp-error), beside the companions; a second install changes nothing;
  - an agent rewriting FORWARD (iptables -F FORWARD, then its rules again) while
    `netlog-rules watch` runs: the rule comes back at the top of FORWARD;
  - remove gives back the ruleset as it was before install, line for line;
  - the same with iptables-nft (read back with iptables-nft-save: the same text);
  - a native nftables ruleset without those chains: plan says no chain holds the rule.
"""
import os
import re
import signal
import subprocess
import tempfile

import netns
from netns import check, fail, log, wait_for

netns.require_root("test_rules_icmp")
netns.require_tool("iptables-legacy-restore", "iptables")
netns.require_tool("nft", "nftables")

ROOT = netns.source_root()
DATA = os.path.join(ROOT, "tests", "data", "rulesets")
RULES_BIN = netns.binary("netlog-rules")

tmp = tempfile.mkdtemp(prefix="netlog-rules-icmp-")
netns.on_exit(lambda: subprocess.run(["rm", "-rf", tmp]))
cfg = os.path.join(tmp, "netlogd.yaml")
with open(cfg, "w") as f:
    f.write(f"rules: {ROOT}/rules/cloudfoundry.yaml\noutputs: [{{type: stdout}}]\n"
            "connections: {outcomes: true}\n")
cfg_off = os.path.join(tmp, "netlogd-off.yaml")
with open(cfg_off, "w") as f:
    f.write(f"rules: {ROOT}/rules/cloudfoundry.yaml\noutputs: [{{type: stdout}}]\n")

# What iptables-save (legacy and nft alike) prints for the rule (rules/cloudfoundry.yaml:
# group 42, snaplen 128, queue_threshold 32).
TAIL = ('-m conntrack --ctstate RELATED -m comment --comment "netlog:@icmp-error" -j NFLOG '
        '--nflog-prefix netlog-icmp-error --nflog-group 42 --nflog-size 128 --nflog-threshold 32')
WANT = {4: "-p icmp -m icmp --icmp-type 3 " + TAIL, 6: "-p ipv6-icmp -m icmp6 --icmpv6-type 1 " + TAIL}
CHAINS = ("INPUT", "FORWARD", "OUTPUT")


def normalized(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        out.append(re.sub(r"^\[\d+:\d+\] ", "", re.sub(r" \[\d+:\d+\]$", "", line)))
    return "\n".join(out) + "\n"


def filter_chain(text, chain):
    """The rules of `chain` in the filter table, in order."""
    rules, table = [], None
    for line in normalized(text).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif table == "filter" and line.startswith(f"-A {chain} "):
            rules.append(line[len(f"-A {chain} "):])
    return rules


def run(tools, backend):
    """Install, idempotence, an agent's rewrite under watch, remove, on one backend whose
    rules iptables-<tools> reads and writes."""
    cell = netns.Netns("icmp" + tools)
    ipt = {4: f"iptables-{tools}", 6: f"ip6tables-{tools}"}
    cell.run(f"{ipt[4]}-restore -w 60 < {DATA}/cloudfoundry.rules")
    cell.run(f"{ipt[6]}-restore -w 60 < {DATA}/cloudfoundry.rules6")

    def save(family):
        return cell.run([f"{ipt[family]}-save"]).stdout

    def nr(*args, config=cfg, rc=0):
        r = cell.run([RULES_BIN, *args, "--backend", backend, "--config", config], check=False,
                     timeout=60)
        if rc is not None and r.returncode != rc:
            fail(f"netlog-rules {' '.join(args)} --backend {backend} exited {r.returncode}: "
                 f"{r.stdout}{r.stderr}")
        return r

    before = {4: normalized(save(4)), 6: normalized(save(6))}
    check(all("icmp-error" not in t for t in before.values()), "fixture already has the rule")

    r = nr("plan")
    for fam in ("ipv4", "ipv6"):
        for chain in CHAINS:
            check(f'add {fam} filter {chain} #1: NFLOG group 42 prefix "netlog-icmp-error"'
                  in r.stdout, f"{backend}: plan does not show the {fam} {chain} rule: {r.stdout}")
    check({f: normalized(save(f)) for f in (4, 6)} == before, "plan changed the ruleset")

    r = nr("install")
    for fam in (4, 6):
        text = save(fam)
        for chain in CHAINS:
            rules = filter_chain(text, chain)
            check(rules and rules[0] == WANT[fam],
                  f"{backend} ipv{fam} {chain}: first rule is {rules[:1]}, expected {WANT[fam]}")
            check(sum(1 for x in rules if "icmp-error" in x) == 1, f"ipv{fam} {chain}: {rules}")
        # the companions went in as without the config (the fixture's 8 + 4 classed LOG rules)
        check(normalized(text).count('"netlog:') == (8 if fam == 4 else 4) + 3,
              f"{backend} ipv{fam}: netlog rules after install:\n{normalized(text)}")
    installed = {f: normalized(save(f)) for f in (4, 6)}
    r = nr("install")
    check("nothing to do" in r.stdout, f"{backend}: second install did something: {r.stdout}")
    check({f: normalized(save(f)) for f in (4, 6)} == installed, "second install changed the ruleset")
    r = nr("status")
    check(re.search(r"^  ICMP error rule in place: filter FORWARD #\d+$", r.stdout, re.M),
          f"{backend} status: {r.stdout}")
    r = nr("plan")
    check("ICMP error rule in place in filter/INPUT filter/FORWARD filter/OUTPUT" in r.stdout,
          f"{backend}: plan does not say the rule is in place: {r.stdout}")

    # An agent rewrites FORWARD while watch runs: flush, then its rules again (the fixture's).
    forward = [l for l in open(f"{DATA}/cloudfoundry.rules").read().splitlines()
               if l.startswith("-A FORWARD ")]
    w = cell.popen([RULES_BIN, "watch", "--backend", backend, "--family", "ipv4", "--interval",
                    "0.2", "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True)
    netns.on_exit(lambda: w.poll() is None and w.kill())
    check("watching" in w.stdout.readline(), "watch did not start")
    cell.run(f"{ipt[4]} -w 60 -F FORWARD && " +
             " && ".join(f"{ipt[4]} -w 60 {l}" for l in forward))
    wait_for(lambda: filter_chain(save(4), "FORWARD")[:1] == [WANT[4]], timeout=30,
             what=f"{backend} watch to put the ICMP error rule back at the top of FORWARD")
    wait_for(lambda: normalized(save(4)) == installed[4], timeout=30,
             what=f"{backend} watch to restore the whole install (the rewritten chain's companions)")
    w.send_signal(signal.SIGTERM)
    out, _ = w.communicate(timeout=30)
    check(w.returncode == 0, f"watch exited {w.returncode}: {out}")
    log(f"{backend} watch: " + " | ".join(l for l in out.splitlines() if "reconcile" in l))

    # Without connections.outcomes, install takes the rule away (and keeps the companions).
    r = nr("install", "--family", "ipv6", config=cfg_off)
    check("icmp-error" not in save(6), f"install without outcomes left the rule: {r.stdout}")
    nr("install", "--family", "ipv6")

    r = nr("remove")
    check("removed 6 ICMP error rules" in r.stdout, f"{backend} remove: {r.stdout}")
    after = {f: normalized(save(f)) for f in (4, 6)}
    for f in (4, 6):
        check(after[f] == before[f], f"{backend} ipv{f}: remove did not restore the ruleset:\n"
              f"--- before\n{before[f]}--- after\n{after[f]}")
    cell.delete()


run("legacy", "legacy")
run("nft", "nft")  # iptables-nft's tables, through the nftables backend (netlink)

# A native nftables ruleset without iptables' chain names: said, not skipped in silence.
native = netns.Netns("icmpnative")
native.run("nft add table inet fw && nft add chain inet fw forward "
           "'{ type filter hook forward priority 0; policy accept; }'")
r = native.run([RULES_BIN, "plan", "--backend", "nft", "--config", cfg], check=False)
check("connections: no filter INPUT, FORWARD or OUTPUT chain to hold the ICMP error rule" in r.stdout,
      f"native nft plan: {r.stdout}{r.stderr}")
log("PASS: test_rules_icmp")
