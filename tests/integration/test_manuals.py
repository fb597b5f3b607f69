#!/usr/bin/env python3
"""The manuals say what the binaries do, checked in both directions:

  config keys   config_known_keys() (the config parser's own key tables, printed by the
                config-keys driver) = the keys netlogd.yaml(5) documents = the keys
                packaging/netlogd.yaml shows (settings commented out as `#key: ...`);
                uncommented, the example passes `netlogd --check-config`.
  options       every option `netlogd --help` lists is in netlogd(8)'s OPTIONS and vice
                versa; the same for netlog-rules(8) (the top-level help and each command's
                help), and its commands.
  metrics       every metric family metrics_render() declares (src/core/metrics.cpp) is
                described in netlogd(8)'s METRICS and vice versa.

Needs no privilege and no namespace.
"""
import os
import re
import subprocess
import sys
import tempfile

from netns import check, fail, log

SRC = os.environ.get("NETLOG_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
NETLOGD = os.environ["NETLOGD"]
NETLOG_RULES = os.environ["NETLOG_RULES"]
CONFIG_KEYS = os.environ["CONFIG_KEYS"]
MAN = os.path.join(SRC, "packaging", "man")
EXAMPLE = os.path.join(SRC, "packaging", "netlogd.yaml")


def read(path):
    with open(path) as f:
        return f.read()


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return r


def section(scd, name):
    """The text of '# NAME' up to the next '# ' heading."""
    m = re.search(rf"^# {re.escape(name)}\n(.*?)(?=^# |\Z)", scd, re.S | re.M)
    check(m, f"the manual has no '# {name}' section")
    return m.group(1)


def compare(what, code, doc, code_name, doc_name):
    missing, extra = sorted(code - doc), sorted(doc - code)
    check(not missing, f"{what}: in {code_name} but not in {doc_name}: {missing}")
    check(not extra, f"{what}: in {doc_name} but not in {code_name}: {extra}")
    log(f"ok: {what}: {len(code)} in {code_name} = {len(doc)} in {doc_name}")


# --- config keys ------------------------------------------------------------------------
r = run([CONFIG_KEYS, "--known"])
check(r.returncode == 0, f"config-keys --known: {r.stderr}")
known = set(r.stdout.split())
check(len(known) > 30 and "rules" in known and "outputs[].format" in known,
      f"config_known_keys() looks wrong: {sorted(known)}")

yaml5 = read(os.path.join(MAN, "netlogd.yaml.5.scd"))
documented = set(re.findall(r"^\*([a-z_][a-z0-9_.\[\]<>]*)\*$", section(yaml5, "KEYS"), re.M))
compare("config keys", known, documented, "config_known_keys()", "netlogd.yaml(5) KEYS")

# The example: settings commented out as "#key: ..." / "#- {...}" (no space after '#').
example = read(EXAMPLE)
# `#|` lines are an alternative to the setting before them (metadata from Docker instead
# of the CF store): a second variant has them in its place, and must pass as well.
uncommented = re.sub(r"^#(?=[^\s#|])", "", example, flags=re.M)
with tempfile.TemporaryDirectory(prefix="netlog-manuals-") as tmp:
    path = os.path.join(tmp, "netlogd.yaml")
    rules = os.path.join(SRC, "rules", "cloudfoundry.yaml")
    with open(path, "w") as f:
        # the paths --check-config looks at, moved to where they exist here
        text = re.sub(r"^rules: .*$", f"rules: {rules}", uncommented, count=1, flags=re.M)
        text = text.replace("/var/vcap/data/container-metadata/store.json",
                            os.path.join(tmp, "store.json"))
        text = text.replace("/var/log/netlog/", tmp + "/")
        f.write(text)
    r = run([CONFIG_KEYS, "--used", path])
    check(r.returncode == 0, f"config-keys --used: {r.stderr}")
    shown = set(r.stdout.split())
    alt_path = os.path.join(tmp, "netlogd-alternative.yaml")
    with open(alt_path, "w") as f:
        f.write(re.sub(r"^#\|", "", re.sub(r"^metadata:.*\n", "", text, flags=re.M), flags=re.M))
    r = run([CONFIG_KEYS, "--used", alt_path])
    check(r.returncode == 0, f"config-keys --used (alternative): {r.stderr}")
    shown |= set(r.stdout.split())
    r = run([NETLOGD, "--check-config", "-c", alt_path])
    check(r.returncode == 0 and "config OK" in r.stdout and "metadata from docker" in r.stdout,
          f"the example's alternative does not pass --check-config: {r.stdout}{r.stderr}")
    compare("config keys", known, shown, "config_known_keys()", "packaging/netlogd.yaml (uncommented)")
    r = run([CONFIG_KEYS, "--used", EXAMPLE])
    active = set(r.stdout.split())
    check(active == {"rules", "outputs", "outputs[].type", "outputs[].path", "outputs[].format"},
          f"the example sets more than the required keys uncommented: {sorted(active)}")
    r = run([NETLOGD, "--check-config", "-c", path])
    check(r.returncode == 0 and "config OK" in r.stdout,
          f"the uncommented example does not pass --check-config: {r.stdout}{r.stderr}")
    log("ok: the uncommented example passes netlogd --check-config:\n" + r.stdout.rstrip())
    # --check-config shows what the newer keys set
    for shown_text in ("netlink_buffer 16000", "extras tcp_flags,length,ttl,interfaces,class,prefix,host",
                       "timestamp rfc3339", "protocol rfc5424", "facility 0", "app_name kernel",
                       "buffer 8388608 bytes", "kernel_prefix", "asg-egress-denied unlimited",
                       "runs as user netlog", "manages rules"):
        check(shown_text in r.stdout, f"--check-config does not show '{shown_text}': {r.stdout}")


# --- options ----------------------------------------------------------------------------
def help_options(argv):
    """Options of a CLI11 --help: the first column of the lines that start with '-'."""
    r = run(argv)
    check(r.returncode == 0, f"{' '.join(argv)}: exit {r.returncode}: {r.stderr}")
    opts = set()
    for line in r.stdout.splitlines():
        s = line.strip()
        if not line.startswith("  ") or not s.startswith("-"):
            continue
        for name in s.split()[0].split(","):
            name = re.sub(r"\{.*$", "", name)
            if name.startswith("-"):
                opts.add(name)
    return opts, r.stdout


def manual_options(scd):
    opts = set()
    for line in section(scd, "OPTIONS").splitlines():
        if line.startswith("*-"):
            opts.update(re.findall(r"\*(--?[A-Za-z][\w-]*)\*", line))
    return opts


netlogd8 = read(os.path.join(MAN, "netlogd.8.scd"))
code, _ = help_options([NETLOGD, "--help"])
compare("netlogd options", code, manual_options(netlogd8), "netlogd --help", "netlogd(8) OPTIONS")

rules8 = read(os.path.join(MAN, "netlog-rules.8.scd"))
code, top = help_options([NETLOG_RULES, "--help"])
m = re.search(r"^Subcommands:\n((?:  .*\n?)*)", top, re.M)
check(m, f"netlog-rules --help lists no commands: {top}")
commands = {l.split()[0] for l in m.group(1).splitlines() if l.strip()}
for c in sorted(commands):
    code |= help_options([NETLOG_RULES, c, "--help"])[0]
compare("netlog-rules options", code, manual_options(rules8), "netlog-rules [CMD] --help",
        "netlog-rules(8) OPTIONS")
doc_commands = set(re.findall(r"^\*([a-z]+)\*$", section(rules8, "COMMANDS"), re.M))
compare("netlog-rules commands", commands, doc_commands, "netlog-rules --help",
        "netlog-rules(8) COMMANDS")

# --- metrics ----------------------------------------------------------------------------
families = set(re.findall(r'(?:o\.family|per_output|per_routed)\("((?:netlog|process)_\w+)"', read(os.path.join(SRC, "src", "core", "metrics.cpp"))))
described = set(re.findall(r"^\*((?:netlog|process)_\w+)\*", section(netlogd8, "METRICS"), re.M))
compare("metric families", families, described, "metrics_render()", "netlogd(8) METRICS")

log("PASS: config keys, options, commands and metrics match the manuals")
sys.exit(0)
