"""netlog-rules on rulesets this project did not write, on every backend, in namespaces.

The rulesets are in tests/data/rulesets/corpus/ (made by the real tools: ufw, iptables
commands in Docker's and Calico's published chain shapes, Cloud Foundry ASG/policy rules
with ICMP types, native nft with `log level/flags` in ip, ip6 and inet tables; make.sh and
README.md there say how). Each iptables-save dump is loaded into iptables-legacy and, in
another namespace, into iptables-nft; the nft dump with `nft -f`. Then, per backend:
  - plan changes nothing; install covers every class-matched LOG rule with exactly the
    companion the contract asks for, derived here from the dump's own text (not from the
    code under test): same matches, NFLOG group 42, the LOG prefix followed by the options
    tag `~nl<level><flags>` when the rule has a non-default --log-level / --log-* option /
    nft `level` / `flags` (none otherwise), the rule's own comment kept beside the owner tag;
  - a second install changes nothing; status says every LOG rule covered, none not covered;
  - remove restores the dump exactly (counters and dated comment lines aside);
  - --mode replace puts a companion in the place of every class-matched LOG rule (options
    included) and remove --mode replace puts back the dump exactly;
  - install times are printed (CLI run included).
"""
import os
import re
import sys
import time

import netns
from netns import check, fail, log

netns.require_root("the ruleset corpus test")
for tool, pkg in (("iptables-legacy-restore", "iptables"), ("iptables-nft-restore", "iptables"), ("nft", "nftables")):
    netns.require_tool(tool, pkg)

SRC = netns.source_root()
CORPUS = os.path.join(SRC, "tests", "data", "rulesets", "corpus")
RULES = os.path.join(CORPUS, "corpus.yaml")
NETLOG_RULES = netns.binary("netlog-rules")

# The classes of corpus.yaml, written out here so expectations do not come from the code.
CLASSES = [("ufw-block", r"^\[UFW (LIMIT )?BLOCK\] "), ("ufw-allow", r"^\[UFW ALLOW\] "),
           ("ufw-audit", r"^\[UFW AUDIT"), ("docker-user", r"^DOCKER-USER "),
           ("calico", r"^calico-packet: "), ("c2c-ingress-allowed", r"^OK_[0-9a-f]{4}_"),
           ("asg-egress-allowed", r"^OK_"), ("asg-egress-denied", r"^DENY_"),
           ("edge", r"^EDGE6?_"), ("host", r"^HOST_")]


def class_of(prefix):
    for name, rx in CLASSES:
        if re.search(rx, prefix):
            return name
    return None


# The options tag of the shared contract (BRIEF: `<prefix>~nl<L><FF>`), from the kernel's
# LOG flag bits (xt_LOG.h / nf_log.h).
IPT_FLAGS = {"--log-tcp-sequence": 0x01, "--log-tcp-options": 0x02, "--log-ip-options": 0x04,
             "--log-uid": 0x08, "--log-macdecode": 0x20}
NFT_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}
NFT_FLAGS = {"tcp sequence": 0x01, "tcp options": 0x02, "tcp sequence,options": 0x03, "ip options": 0x04,
             "skuid": 0x08, "ether": 0x20, "all": 0x2f}


def tagged(prefix, level, flags):
    if level == 4 and flags == 0 and not re.search(r"~nl[0-7][0-9a-f]{2}$", prefix):
        return prefix
    return f"{prefix}~nl{level}{flags:02x}"


def ipt_quote(s):
    return s if re.fullmatch(r"[A-Za-z0-9_-]+", s) else '"' + re.sub(r'(["\\\'])', r"\\\1", s) + '"'


def ipt_unquote(s):
    return re.sub(r"\\(.)", r"\1", s[1:-1]) if s.startswith('"') else s


def normalized(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        line = re.sub(r" \[\d+:\d+\]$", "", line)
        out.append(re.sub(r"^\[\d+:\d+\] ", "", line))
    return "\n".join(out) + "\n"


IPT_LOG = re.compile(r'^(-A \S+ .*?) -j LOG(?: --log-prefix ("(?:[^"\\]|\\.)*"|\S+))?(.*)$')
COMMENT = re.compile(r' -m comment --comment ("(?:[^"\\]|\\.)*"|\S+)')


def ipt_expect(line, flavor):
    """(class, the companion line the contract asks for, or a checker) for a LOG rule."""
    m = IPT_LOG.match(line)
    if not m:
        return None
    prefix = ipt_unquote(m[2] or '""')
    cls = class_of(prefix)
    if not cls:
        return None
    opts = m[3].split()
    level = int(opts[opts.index("--log-level") + 1]) if "--log-level" in opts else 4
    flags = sum(v for k, v in IPT_FLAGS.items() if k in opts)
    tail = (f" -j NFLOG --nflog-prefix {ipt_quote(tagged(prefix, level, flags))} --nflog-group 42"
            " --nflog-size 128 --nflog-threshold 32")
    if flavor == "legacy":  # the matches verbatim (a comment match included), then the tag
        return cls, f'{m[1]} -m comment --comment "netlog:{cls}"{tail}'
    # iptables-nft: a -m comment between other matches is an xt match, copied like the
    # others (the legacy form); a trailing one is the rule's user-data comment, which the
    # companion writes with the owner tag after it ("<comment> netlog:<class>").
    comments = [ipt_unquote(c) for c in COMMENT.findall(m[1])]
    return cls, (f'{m[1]} -m comment --comment "netlog:{cls}"{tail}', COMMENT.sub("", m[1]),
                 " ".join(comments + [f"netlog:{cls}"]), tail)


def ipt_is(line, want, flavor):
    if flavor == "legacy":
        return line == want[1]
    legacy_form, bare, comment, tail = want[1]
    if line == legacy_form:
        return True
    c = COMMENT.findall(line)
    return (len(c) == 1 and ipt_unquote(c[0]) == comment and line.endswith(tail)
            and COMMENT.sub("", line)[:-len(tail)] == bare)


def check_ipt(text, flavor, what):
    lines = normalized(text).splitlines()
    n = 0
    for i, line in enumerate(lines):
        want = ipt_expect(line, flavor)
        if not want:
            continue
        n += 1
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        check(ipt_is(nxt, want, flavor), f"{what}: LOG rule not followed by its companion:\n  {line}\n"
                                         f"  next: {nxt}\n  want: {want[1]}")
    ours = sum(1 for l in lines if "netlog:" in l)
    check(ours == n, f"{what}: {ours} netlog rules for {n} class-matched LOG rules")
    return n


NFT_LOG = re.compile(r'^(?P<m>.*?)\s*log prefix "(?P<p>[^"]*)"(?P<o>(?: level \w+| flags (?:tcp sequence,options|'
                     r'tcp sequence|tcp options|ip options|skuid|ether|all))*)(?P<rest>.*?)(?: comment "(?P<c>[^"]*)")?$')


def nft_expect(line):
    m = NFT_LOG.match(line.strip())
    if not m or " group " in line:
        return None
    cls = class_of(m["p"])
    if not cls:
        return None
    level = NFT_LEVELS[re.search(r" level (\w+)", m["o"])[1]] if " level " in m["o"] else 4
    flags = 0
    for f in re.findall(r" flags ((?:tcp sequence,options|tcp sequence|tcp options|ip options|skuid|ether|all))", m["o"]):
        flags |= NFT_FLAGS[f]
    comment = (m["c"] + " " if m["c"] else "") + f"netlog:{cls}"
    return cls, (f'{m["m"]} log prefix "{tagged(m["p"], level, flags)}" group 42 snaplen 128 queue-threshold 32 '
                 f'comment "{comment}"').strip()


def check_nft(text, what):
    lines = [l.strip() for l in text.splitlines()]
    n = 0
    for i, line in enumerate(lines):
        want = nft_expect(line)
        if not want:
            continue
        n += 1
        near = {lines[i - 1] if i else "", lines[i + 1] if i + 1 < len(lines) else ""}
        check(want[1] in near, f"{what}: LOG rule without its companion beside it:\n  {line}\n  want: {want[1]}\n"
                               f"  near: {sorted(near)}")
    ours = sum(1 for l in lines if "netlog:" in l)
    check(ours == n, f"{what}: {ours} netlog rules for {n} class-matched LOG rules")
    return n


def run(ns, cmd, *extra, want_rc=0):
    r = ns.run([NETLOG_RULES, cmd, "--rules", RULES, *extra], check=False, timeout=120)
    if want_rc is not None and r.returncode != want_rc:
        fail(f"netlog-rules {cmd} {' '.join(extra)}: exit {r.returncode}, want {want_rc}:\n{r.stdout}{r.stderr}")
    return r


def case(name, flavor, files):
    what = f"{name}/{flavor}"
    ns = netns.Netns("co")
    if flavor == "nft":
        ns.run(["nft", "-f", os.path.join(CORPUS, files[0])])
        dump = lambda: ns.run("nft list ruleset").stdout
        backend = "nft"
    else:
        tool = "legacy" if flavor == "legacy" else "nft"
        for f in files:
            v6 = "ip6tables" in f
            # (-w: the xtables lock is one file for the whole host; other tests may hold it)
            ns.run([f"ip{'6' if v6 else ''}tables-{tool}-restore", "-w", "60"],
                   input=open(os.path.join(CORPUS, f)).read())
        dump = lambda: normalized(ns.run(f"iptables-{tool}-save; ip6tables-{tool}-save").stdout)
        backend = "legacy" if flavor == "legacy" else "nft"
    before = dump()
    r = run(ns, "plan", "--backend", backend)
    check(dump() == before, f"{what}: plan changed the ruleset")
    check("not covered: " not in r.stdout, f"{what}: plan names rules not covered:\n{r.stdout}")
    t0 = time.monotonic()
    run(ns, "install", "--backend", backend)
    ms = (time.monotonic() - t0) * 1000
    after = dump()
    if flavor == "nft":
        n = check_nft(after, what)
    else:
        n = check_ipt(after, flavor, what)
    check(n > 0, f"{what}: no class-matched LOG rule in the corpus file")
    r = run(ns, "install", "--backend", backend)
    check("nothing to do" in r.stdout and dump() == after, f"{what}: a second install changed something:\n{r.stdout}")
    r = run(ns, "status", "--backend", backend)
    check(re.search(r"\b0 not covered", r.stdout) and "not covered:" not in r.stdout, f"{what}: status:\n{r.stdout}")
    run(ns, "remove", "--backend", backend)
    check(dump() == before, f"{what}: remove did not restore the ruleset")
    # replace mode: every class-matched LOG rule (options included) replaced, then restored
    run(ns, "install", "--backend", backend, "--mode", "replace")
    replaced = dump()
    left = [l for l in replaced.splitlines() if (nft_expect(l) if flavor == "nft" else ipt_expect(l, flavor))]
    check(not left, f"{what}: --mode replace left class-matched LOG rules: {left}")
    check(sum("netlog:" in l for l in replaced.splitlines()) == n, f"{what}: --mode replace: not {n} companions")
    r = run(ns, "install", "--backend", backend, "--mode", "replace")
    check("nothing to do" in r.stdout, f"{what}: a second replace install did something: {r.stdout}")
    run(ns, "remove", "--backend", backend, "--mode", "replace")
    now = dump()
    if now != before:
        import difflib
        fail(f"{what}: remove --mode replace did not restore the ruleset:\n" +
             "\n".join(difflib.unified_diff(before.splitlines(), now.splitlines(), lineterm="")))
    log(f"{what}: {n} class-matched LOG rules covered (options tags and comments as the contract says), "
        f"idempotent, remove exact in both modes; install {ms:.0f} ms (CLI run included)")
    ns.delete()


def main():
    cases = []
    for name, files in (("ufw", ["ufw.iptables-save", "ufw.ip6tables-save"]), ("docker", ["docker.iptables-save"]),
                        ("calico", ["calico.iptables-save"]), ("cf-icmp", ["cf-icmp.iptables-save"])):
        cases += [(name, "legacy", files), (name, "iptables-nft", files)]
    cases.append(("native", "nft", ["native.nft"]))
    only = sys.argv[1:]
    for name, flavor, files in cases:
        if not only or name in only or flavor in only:
            case(name, flavor, files)
    print(f"PASS: {len(cases)} corpus rulesets", flush=True)


if __name__ == "__main__":
    main()
