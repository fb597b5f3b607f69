#!/usr/bin/env python3
"""`meson install` puts netlogd in place, and systemd accepts its unit (issue 6).

  1. `meson install --no-rebuild --destdir TMP` of this build: the binaries, the unit, the
     example config, the rules files, the logrotate snippet and the three manuals (built
     by scdoc, valid man pages: `man -l` renders them) are all installed.
  2. `systemd-analyze verify` of the installed unit. verify checks that ExecStart= and
     ExecStartPre= name executables that exist; the unit names them at their final place
     (PREFIX/sbin/netlogd), which is not there before the package is installed on a host.
     So a copy of the unit with @DESTDIR@ put before those paths is verified (the unit's
     own text otherwise unchanged: every directive, sandboxing included, is checked). A
     directive systemd does not know, a bad value or a missing binary makes verify print
     a warning; any output at all fails the test.
  3. The unit is what issue 6 asks: Type=notify, a watchdog, the capability bounding set,
     ProtectSystem=strict, ReadWritePaths for the default output, NoNewPrivileges, a
     restart policy, reload by SIGHUP, and ExecStartPre that validates the config.
"""
import os
import re
import shutil
import subprocess
import tempfile

from netns import check, fail, log

BUILD = os.environ["NETLOG_BUILD_ROOT"]

if not shutil.which("systemd-analyze"):
    fail("systemd-analyze is missing: apt-get install systemd (scripts/setup lists it)")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


intro = run(["meson", "introspect", "--buildoptions", BUILD])
check(intro.returncode == 0, f"meson introspect: {intro.stderr}")
import json  # noqa: E402

opts = {o["name"]: o["value"] for o in json.loads(intro.stdout)}
prefix = opts["prefix"]
sysconf = opts["sysconfdir"] if opts["sysconfdir"].startswith("/") else os.path.join(prefix, opts["sysconfdir"])
sbindir = os.path.join(prefix, opts["sbindir"])
mandir = os.path.join(prefix, opts["mandir"])

with tempfile.TemporaryDirectory(prefix="netlog-install-") as dest:
    r = run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", dest])
    check(r.returncode == 0, f"meson install failed:\n{r.stdout}\n{r.stderr}")

    def at(p):
        return dest + p

    want = {
        "netlogd": os.path.join(sbindir, "netlogd"),
        "netlog-rules": os.path.join(sbindir, "netlog-rules"),
        "unit": os.path.join(prefix, "lib", "systemd", "system", "netlogd.service"),
        "config": os.path.join(sysconf, "netlog", "netlogd.yaml"),
        "rules": os.path.join(sysconf, "netlog", "rules", "cloudfoundry.yaml"),
        "rules example": os.path.join(sysconf, "netlog", "rules", "example.yaml"),
        "logrotate": os.path.join(sysconf, "logrotate.d", "netlog"),
        "netlogd(8)": os.path.join(mandir, "man8", "netlogd.8"),
        "netlog-rules(8)": os.path.join(mandir, "man8", "netlog-rules.8"),
        "netlogd.yaml(5)": os.path.join(mandir, "man5", "netlogd.yaml.5"),
    }
    for what, p in want.items():
        check(os.path.isfile(at(p)), f"meson install did not install {what} at {p}")
    for what in ("netlogd", "netlog-rules"):
        check(os.access(at(want[what]), os.X_OK), f"{what} is not executable")
    log(f"ok: meson install put {len(want)} files in place under {dest}: "
        + ", ".join(f"{k} {v}" for k, v in want.items()))

    for page in ("netlogd(8)", "netlog-rules(8)", "netlogd.yaml(5)"):
        r = run(["man", "-l", at(want[page])], env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
        check(r.returncode == 0 and "SEE ALSO" in r.stdout,
              f"{page} does not render: {r.stderr[:500]}")
        g = run(["groff", "-mandoc", "-Tutf8", "-ww", "-z", at(want[page])])
        warn = [l for l in (g.stdout + g.stderr).splitlines() if l.strip()]
        check(g.returncode == 0 and not warn, f"{page}: groff warnings: {warn[:5]}")
        log(f"ok: {page} renders: {len(r.stdout.splitlines())} lines")

    unit = open(at(want["unit"])).read()
    check(not re.search(r"@[A-Z_]+@", unit),
          f"unsubstituted @VAR@ in the unit:\n{unit}")
    check(f"ExecStart={sbindir}/netlogd -c {sysconf}/netlog/netlogd.yaml" in unit,
          f"ExecStart does not run the installed netlogd with the installed config:\n{unit}")

    # 3. what the unit must say
    directives = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            directives.setdefault(k.strip(), []).append(v.strip())
    need = {"Type": "notify", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
            "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID"}
    for k, v in need.items():
        check(directives.get(k) == [v], f"unit: {k}={directives.get(k)}, want {v}")
    check(directives.get("WatchdogSec"), "unit: no WatchdogSec")
    bounding = set(directives.get("CapabilityBoundingSet", [""])[0].split())
    check("CAP_NET_ADMIN" in bounding and "CAP_SYS_ADMIN" not in bounding,
          f"unit: CapabilityBoundingSet {bounding}")
    check(any("/var/log/netlog" in v for v in directives.get("ReadWritePaths", [])),
          "unit: the default output's directory /var/log/netlog is not writable")
    check(any("--check-config" in v for v in directives.get("ExecStartPre", [])),
          "unit: no ExecStartPre=netlogd --check-config")

    # 2. systemd-analyze verify, on a copy whose binaries point into the DESTDIR
    verify_dir = os.path.join(dest, "verify")
    os.makedirs(verify_dir)
    copy = os.path.join(verify_dir, "netlogd.service")
    text = unit.replace(f"{sbindir}/netlogd", at(f"{sbindir}/netlogd"))
    with open(copy, "w") as f:
        f.write(text)
    r = run(["systemd-analyze", "verify", "--man=no", copy])
    out = (r.stdout + r.stderr).strip()
    log(f"systemd-analyze verify: exit {r.returncode}, output: {out!r}")
    check(r.returncode == 0 and not out, f"systemd-analyze verify rejects the unit:\n{out}")

    # and verify does fail on a bad unit (the check can fail)
    with open(copy, "w") as f:
        f.write(text.replace("Type=notify", "Type=notify\nNoSuchDirective=1"))
    r = run(["systemd-analyze", "verify", "--man=no", copy])
    bad = (r.stdout + r.stderr).strip()
    check("NoSuchDirective" in bad, f"systemd-analyze verify did not notice a bad directive: {bad!r}")
    log("ok: a unit with an unknown directive is reported: " + bad.splitlines()[0])

log("PASS: meson install puts everything in place; systemd-analyze verify accepts the unit")
