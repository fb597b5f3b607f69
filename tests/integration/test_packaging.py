#!/usr/bin/env python3
"""`meson install` puts netlogd in place, and systemd accepts its unit.

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
  3. The unit: Type=notify, a watchdog, the user netlog with CAP_NET_ADMIN only (ambient
     and bounding), ProtectSystem=strict with the log directory as LogsDirectory=,
     NoNewPrivileges, a restart policy, reload by SIGHUP, ExecStartPre that validates the
     config; every sandboxing setting left out has a comment saying why.
  4. `systemd-analyze security --offline=true` of the installed unit rates it 1.8 or
     better (it was 2.9 with root and no system-call deny list).
  5. The unit directory comes from systemd's pkg-config file (under the build's prefix
     unless that is /usr); the sysusers.d and tmpfiles.d entries are installed beside it and
     agree with the unit: systemd-sysusers and systemd-tmpfiles, run with --root on a
     throwaway directory, create the user netlog and /var/log/netlog as netlog:netlog 0750,
     what LogsDirectory=netlog and LogsDirectoryMode=0750 leave.
  6. Without scdoc, `meson setup` stops and says so (how to install it, -Dman=disabled);
     with -Dman=disabled it configures.
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
installed = json.loads(run(["meson", "introspect", "--installed", BUILD]).stdout)
unit_path = next(v for k, v in installed.items() if k.endswith("/netlogd.service"))
pc_unitdir = run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"]).stdout.strip()
want_unitdir = pc_unitdir if opts["prefix"] == "/usr" else os.path.join(opts["prefix"], "lib", "systemd", "system")
check(os.path.dirname(unit_path) == want_unitdir,
      f"the unit goes to {unit_path}, systemd.pc says {pc_unitdir} (prefix {opts['prefix']})")
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
        "unit": unit_path,
        "sysusers.d": next(v for k, v in installed.items() if k.endswith("netlog.sysusers")),
        "tmpfiles.d": next(v for k, v in installed.items() if k.endswith("netlog.tmpfiles")),
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
            "Restart": "on-failure", "ExecReload": f"{sbindir}/netlogd --reload -c {sysconf}/netlog/netlogd.yaml",
            "User": "netlog", "Group": "netlog", "AmbientCapabilities": "CAP_NET_ADMIN",
            "CapabilityBoundingSet": "CAP_NET_ADMIN", "LogsDirectory": "netlog",
            "LogsDirectoryMode": "0750", "ProtectKernelTunables": "yes", "PrivateMounts": "yes",
            "ProtectProc": "invisible", "ProcSubset": "pid", "MemoryMax": "256M"}
    for k, v in need.items():
        check(directives.get(k) == [v], f"unit: {k}={directives.get(k)}, want {v}")
    check(directives.get("WatchdogSec"), "unit: no WatchdogSec")
    check("~@privileged @resources" in directives.get("SystemCallFilter", []),
          f"unit: no SystemCallFilter=~@privileged @resources: {directives.get('SystemCallFilter')}")
    for left_out in ("PrivateNetwork=", "PrivateUsers=", "IPAddressDeny="):
        check(re.search(rf"^#\s+{left_out}\s+\S", unit, re.M),
              f"unit: {left_out} is left out without a comment saying why")
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

    # 4. the exposure rating
    rated = os.path.join(verify_dir, "netlogd-rated.service")
    shutil.copy(at(want["unit"]), rated)
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", rated])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    check(m, f"systemd-analyze security printed no rating: {r.stdout[-500:]} {r.stderr}")
    failed = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("✗")]
    log(f"systemd-analyze security --offline: {m.group(1)} (open: {', '.join(failed)})")
    check(float(m.group(1)) <= 1.8, f"exposure {m.group(1)} > 1.8:\n{r.stdout}")

    # 5. the user and its directory, from the installed sysusers.d/tmpfiles.d entries
    root = os.path.join(dest, "throwaway-root")
    os.makedirs(os.path.join(root, "etc"))
    r = run(["systemd-sysusers", f"--root={root}", at(want["sysusers.d"])])
    check(r.returncode == 0, f"systemd-sysusers: {r.stderr}")
    pw = [l.split(":") for l in open(os.path.join(root, "etc", "passwd")) if l.startswith("netlog:")]
    check(len(pw) == 1 and pw[0][6].strip() == "/usr/sbin/nologin", f"sysusers made {pw}")
    uid, gid = int(pw[0][2]), int(pw[0][3])
    r = run(["systemd-tmpfiles", f"--root={root}", "--create", at(want["tmpfiles.d"])])
    check(r.returncode == 0, f"systemd-tmpfiles: {r.stderr}")
    st = os.stat(os.path.join(root, "var", "log", "netlog"))
    check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, int(directives["LogsDirectoryMode"][0], 8)),
          f"tmpfiles made /var/log/netlog {st.st_uid}:{st.st_gid} {oct(st.st_mode)}; the unit "
          f"leaves it netlog:netlog ({uid}:{gid}) {directives['LogsDirectoryMode'][0]}")
    log(f"ok: sysusers.d creates netlog ({uid}:{gid}, nologin); tmpfiles.d creates "
        f"/var/log/netlog {uid}:{gid} 0750, as the unit's LogsDirectory= leaves it")

# 6. scdoc missing: in a mount namespace of its own, /dev/null (not executable) is bound over
# the scdoc binary for meson, and nothing else changes
scdoc_bin = shutil.which("scdoc")
check(scdoc_bin, "scdoc is missing: apt-get install scdoc (scripts/setup lists it)")
with tempfile.TemporaryDirectory(prefix="netlog-noscdoc-") as tmp:
    src = os.environ["NETLOG_SOURCE_ROOT"]

    def setup_without_scdoc(builddir, *opts):
        return run(["unshare", "--mount", "sh", "-c",
                    f'mount --bind /dev/null "$0" && exec meson setup "$@"', scdoc_bin,
                    *opts, os.path.join(tmp, builddir), src])
    r = setup_without_scdoc("b1")
    out = r.stdout + r.stderr
    check(r.returncode != 0 and "scdoc not found" in out and "-Dman=disabled" in out,
          f"meson setup without scdoc: exit {r.returncode}, no clear message:\n{out[-800:]}")
    log("ok: without scdoc meson setup stops: " + next(l for l in out.splitlines() if "scdoc not found" in l).strip())
    r = setup_without_scdoc("b2", "-Dman=disabled")
    check(r.returncode == 0, f"meson setup -Dman=disabled without scdoc failed:\n{r.stdout[-800:]}")
    log("ok: -Dman=disabled configures without scdoc")

log("PASS: meson install puts everything in place; systemd-analyze verify accepts the unit, "
    "security rates it <= 1.8; sysusers/tmpfiles agree with it; missing scdoc is said")
