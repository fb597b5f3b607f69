#!/usr/bin/env python3
"""A comment with a newline does not stop coverage. iptables-legacy accepts
`-m comment --comment $'a\\nb'` and iptables-legacy-save prints the newline raw, inside the
quotes. In a fresh namespace with such a LOG rule (prefix DENY_) beside two plain ones:
`netlog-rules install --backend legacy` reads the whole save output, names the rule it
cannot mirror (iptables-restore takes no line break) and exits 3 (partial), and both other
LOG rules get their NFLOG companion; `status` and `remove` work on the same ruleset; the
rule with the newline is left exactly as it was."""
import os

import netns
from netns import Netns, check, log, require_root

require_root("test_rules_newline")
netns.require_tool("iptables-legacy", "iptables")

RULES = os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
NETLOG_RULES = netns.binary("netlog-rules")
ns = Netns("nlnl")
ns.run(["iptables-legacy", "-A", "OUTPUT", "-p", "udp", "--dport", "53", "-m", "comment",
        "--comment", "a\nb", "-j", "LOG", "--log-prefix", "DENY_newline "])
ns.run(["iptables-legacy", "-A", "OUTPUT", "-p", "tcp", "--dport", "80", "-j", "LOG",
        "--log-prefix", "OK_plain "])
ns.run(["iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "comment",
        "--comment", "tab\there \x01ctl", "-j", "LOG", "--log-prefix", "DENY_ctl "])
before = ns.run(["iptables-legacy-save"]).stdout
check('--comment "a\nb"' in before, f"the save tool did not print the newline raw:\n{before}")

res = ns.run([NETLOG_RULES, "install", "--rules", RULES, "--backend", "legacy"], check=False)
log(f"install: exit {res.returncode}\n{res.stdout}{res.stderr}")
check(res.returncode == 3, f"install: exit {res.returncode}, want 3 (partial)")
check('not covered: ipv4 filter OUTPUT #1 "DENY_newline "' in res.stdout,
      f"the rule with the newline is not named:\n{res.stdout}")
after = ns.run(["iptables-legacy-save"]).stdout
nflog = [l for l in after.splitlines() if "-j NFLOG" in l]
check(len(nflog) == 2 and any("OK_plain" in l for l in nflog) and any("DENY_ctl" in l for l in nflog),
      f"the other LOG rules are not covered:\n{after}")
check('--comment "a\nb" -j LOG --log-prefix "DENY_newline "' in after, f"the rule changed:\n{after}")
st = ns.run([NETLOG_RULES, "status", "--rules", RULES, "--backend", "legacy"], check=False)
check("DENY_newline" in st.stdout, f"status does not name the rule:\n{st.stdout}{st.stderr}")
rm = ns.run([NETLOG_RULES, "remove", "--rules", RULES, "--backend", "legacy"], check=False)
check(rm.returncode == 0, f"remove: exit {rm.returncode}: {rm.stdout}{rm.stderr}")
check(ns.run(["iptables-legacy-save"]).stdout.count("-j NFLOG") == 0, "remove left companions")
log("PASS: a LOG rule whose comment holds a newline is named and skipped; the 2 others are "
    "covered, then removed")
