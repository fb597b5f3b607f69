"""LOG rules that cannot be mirrored, among many that can: named, counted, retried.

The Cloud Foundry cell of test_rules_nft.py (iptables-nft rulesets) plus two class-matched
LOG rules that get no companion: an iptables-nft rule with `-m recent --set` (a second
evaluation would write the list again) and a native nft rule in an anonymous chain bound
to `jump { }` (the kernel refuses any other rule there). Then:
  - `netlog-rules install` covers every other LOG rule, names both ("not covered: ...")
    and exits 3 (partial);
  - netlogd with manage_rules (nft) starts, covers the others, names both on stderr and
    reports netlog_rules_not_covered 2 on /metrics; when the recent rule's chain is
    rewritten without it (as its agent would), the next check says so and the gauge is 1;
  - `netlog-rules watch` prints the not-covered count when it changes.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import netns
from netns import check, fail, log
import test_rules_manage as M
import test_rules_nft as T

BOUND = """table ip bound {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 2222 jump {
			log prefix "DENY_bound "
			accept
		}
	}
}
"""
RECENT = '-A INPUT -p tcp -m tcp --dport 7001 -m recent --set --name r1 -j LOG --log-prefix "DENY_recent "'


def named(text):
    return set(re.findall(r'not covered: ipv4 \S+ \S+ #\d+ "([^"]*)": ', text))


def main():
    tmp = tempfile.mkdtemp(prefix="netlog-uncovered-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    r, _ = T.cell()
    M.load_nft(r)
    r.run(["sh", "-c", f"iptables-nft {RECENT}"])
    r.run(["nft", "-f", "-"], input=BOUND)

    res = r.run([T.NETLOG_RULES, "install", "--rules", T.RULES, "--backend", "nft"], check=False)
    check(res.returncode == 3, f"install: exit {res.returncode}, want 3 (partial):\n{res.stdout}{res.stderr}")
    check(named(res.stdout) == {"DENY_recent ", "DENY_bound "}, f"install named {named(res.stdout)}:\n{res.stdout}")
    n_log, covered, dups, orphans = M.audit_nft(r.run("nft list table ip filter").stdout)
    check(covered == n_log - 1 and not dups and not orphans,
          f"install: {covered} of {n_log} class-matched LOG rules in ip filter covered (want all but the recent one)")
    log(f"install: exit 3, named {sorted(named(res.stdout))}, {covered} of {n_log} in ip filter covered")
    r.run([T.NETLOG_RULES, "remove", "--rules", T.RULES, "--backend", "nft"])

    d = M.Netlogd(r, tmp, "uncovered", "nft")
    d.start()
    d.wait_running()
    netns.wait_for(lambda: d.metrics().get("netlog_rules_not_covered") == 2, 30, what="netlog_rules_not_covered 2")
    err = d.stderr()
    check("DENY_recent" in err and "DENY_bound" in err and "not covered" in err, f"netlogd did not name both:\n{err}")
    # the agent rewrites INPUT without the recent rule: the next check counts one
    r.run(["sh", "-c", f"iptables-nft {RECENT.replace('-A ', '-D ', 1)}"])
    netns.wait_for(lambda: d.metrics().get("netlog_rules_not_covered") == 1, 30, what="netlog_rules_not_covered 1")
    check("1 LOG rule not covered" in d.stderr(), f"netlogd did not say the count changed:\n{d.stderr()}")
    d.stop()
    log("netlogd manage_rules: both named on stderr, netlog_rules_not_covered 2, then 1 after the rewrite")

    r.run(["sh", "-c", f"iptables-nft {RECENT}"])
    wlog = open(os.path.join(tmp, "watch.log"), "w+")
    w = r.popen([T.NETLOG_RULES, "watch", "--rules", T.RULES, "--backend", "nft", "--interval", "0.2"],
                stdout=wlog, stderr=subprocess.STDOUT)

    def said(s):
        wlog.seek(0)
        return s in wlog.read()
    netns.wait_for(lambda: said("ipv4: 2 LOG rules not covered"), 30, what="watch: 2 not covered")
    r.run(["sh", "-c", f"iptables-nft {RECENT.replace('-A ', '-D ', 1)}"])
    netns.wait_for(lambda: said("ipv4: 1 LOG rule not covered"), 30, what="watch: 1 not covered")
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=10)
    print("PASS: unmirrorable rules named, counted on /metrics and by watch, the rest covered", flush=True)


if __name__ == "__main__":
    main()
