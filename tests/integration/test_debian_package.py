#!/usr/bin/env python3
"""The Debian package: dpkg-buildpackage builds it, lintian finds no error, and it installs
into a throwaway root, where its maintainer scripts create the user netlog, its log
directory and the unit's enablement, and its binaries run.

  build     a copy of the source tree (the files git knows, as they are now), then
            `dpkg-buildpackage -us -uc -b` with DEB_BUILD_OPTIONS=nocheck (the tests are
            neither built nor run here: the unit suite runs in this same `meson test`);
            the build time is printed
  lintian   `lintian --fail-on error` on the .changes: exit 0; the tags it did print are
            logged
  contents  the binaries, the unit in systemd.pc's directory, the sysusers.d and tmpfiles.d
            entries, the manuals; conffiles: the config, both rules files, the logrotate
            snippet
  install   `dpkg --root=ROOT --force-script-chrootless -i`: dpkg's own database and every
            file under ROOT (the host's dpkg database is not touched: checked), the
            postinst run with DPKG_ROOT=ROOT as debhelper's snippets expect: ROOT/etc/passwd
            has netlog (nologin), ROOT/var/log/netlog is netlog's 0750, the unit is enabled
            for multi-user.target; ROOT/usr/sbin/netlogd --version and netlog-rules
            --version print the package's version; with ROOT/etc/netlog bound on /etc/netlog
            (a mount namespace of its own), the installed netlogd accepts the installed
            config and rules (--check-config)
  purge     `dpkg --root=ROOT --purge netlog`: the binaries and the conffiles are gone
--force-depends stands for the shared libraries, which ROOT (no base system) does not have;
the binaries run with the host's.
"""
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time

import netns
from netns import check, log, on_exit, require_root

require_root("test_debian_package")
SRC = netns.source_root()
for tool, pkg in (("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"), ("lintian", "lintian")):
    check(shutil.which(tool), f"{tool} is missing: apt-get install {pkg} (scripts/setup lists it)")


def run(argv, timeout=900, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


version = re.match(r"netlog \(([^)]+)\)", open(os.path.join(SRC, "debian", "changelog")).read()).group(1)
host_had = run(["dpkg-query", "-W", "-f=${Status}", "netlog"]).stdout
top = tempfile.mkdtemp(prefix="netlog-deb-")
on_exit(lambda: shutil.rmtree(top, ignore_errors=True))

# --- build ------------------------------------------------------------------------------
tree = os.path.join(top, "netlog")
os.mkdir(tree)
files = run(["git", "-C", SRC, "ls-files", "-co", "--exclude-standard", "-z"]).stdout.split("\0")
for f in files:
    if not f or not os.path.isfile(os.path.join(SRC, f)) or f.split("/")[0].startswith("build"):
        continue
    os.makedirs(os.path.join(tree, os.path.dirname(f)), exist_ok=True)
    shutil.copy2(os.path.join(SRC, f), os.path.join(tree, f))
env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count()}")
t0, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env, timeout=1500)
build_s = time.monotonic() - t0
cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
build_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
check(r.returncode == 0, f"dpkg-buildpackage failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
arch = run(["dpkg", "--print-architecture"]).stdout.strip()
deb = os.path.join(top, f"netlog_{version}_{arch}.deb")
changes = os.path.join(top, f"netlog_{version}_{arch}.changes")
check(os.path.isfile(deb), f"no {deb}: {os.listdir(top)}")
log(f"build: dpkg-buildpackage -us -uc -b in {build_s:.0f}s, {build_cpu:.0f} CPU-s "
    f"(nocheck, parallel={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}): "
    f"{os.path.basename(deb)} {os.path.getsize(deb)} bytes")

# --- lintian ----------------------------------------------------------------------------
r = run(["lintian", "--fail-on", "error", "--info", changes], timeout=300)
tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
check(r.returncode == 0 and not any(t.startswith("E: ") for t in tags),
      f"lintian: exit {r.returncode}:\n{r.stdout}\n{r.stderr}")
log(f"lintian: no error; {len(tags)} other tags: " + "; ".join(tags))

# --- contents ---------------------------------------------------------------------------
listing = run(["dpkg-deb", "-c", deb]).stdout
paths = {l.split()[-1].lstrip(".") if "->" not in l else l.split()[-3].lstrip(".") for l in listing.splitlines()}
unitdir = run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"]).stdout.strip()
for p in ("/usr/sbin/netlogd", "/usr/sbin/netlog-rules", f"{unitdir}/netlogd.service",
          "/usr/lib/sysusers.d/netlog.conf", "/usr/lib/tmpfiles.d/netlog.conf",
          "/etc/netlog/netlogd.yaml", "/etc/logrotate.d/netlog",
          "/usr/share/man/man8/netlogd.8.gz", "/usr/share/man/man5/netlogd.yaml.5.gz",
          "/usr/share/man/man8/netlog-rules.8.gz", "/usr/share/doc/netlog/copyright"):
    check(p in paths, f"the package lacks {p}")
ctl = os.path.join(top, "control")
run(["dpkg-deb", "-e", deb, ctl])
conf = set(open(os.path.join(ctl, "conffiles")).read().split())
want_conf = {"/etc/netlog/netlogd.yaml", "/etc/netlog/rules/cloudfoundry.yaml",
             "/etc/netlog/rules/example.yaml", "/etc/logrotate.d/netlog"}
check(conf == want_conf, f"conffiles {sorted(conf)}, want {sorted(want_conf)}")
log(f"contents: {len(paths)} paths; unit in {unitdir}; conffiles {', '.join(sorted(conf))}")

# --- install into a throwaway root ------------------------------------------------------
root = os.path.join(top, "root")
for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
    os.makedirs(os.path.join(root, d))
for f in ("status", "available"):
    open(os.path.join(root, "var/lib/dpkg", f), "w").close()
dpkg_root = ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
             "--force-not-root", "--log=/dev/null"]
r = run(dpkg_root + ["-i", deb], timeout=120)
check(r.returncode == 0, f"dpkg -i into {root}: {r.returncode}\n{r.stdout}\n{r.stderr}")
pw = [l.split(":") for l in open(os.path.join(root, "etc/passwd")) if l.startswith("netlog:")]
check(len(pw) == 1 and pw[0][6].strip() == "/usr/sbin/nologin", f"postinst made no netlog user: {pw}")
uid, gid = int(pw[0][2]), int(pw[0][3])
st = os.stat(os.path.join(root, "var/log/netlog"))
check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, 0o750),
      f"ROOT/var/log/netlog is {st.st_uid}:{st.st_gid} {oct(st.st_mode)}, want {uid}:{gid} 0750")
wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants/netlogd.service")
check(os.path.islink(wants), "postinst did not enable netlogd.service")
for prog in ("netlogd", "netlog-rules"):
    r = run([os.path.join(root, "usr/sbin", prog), "--version"])
    check(r.returncode == 0 and r.stdout.strip() == f"{prog} {version}",
          f"installed {prog} --version: {r.returncode} {r.stdout!r} {r.stderr!r}")
# ROOT/etc and ROOT/var/log laid over the host's (overlays in a mount namespace of its own;
# writes to /var/log go to an upper directory of the test's): the installed config names
# /etc/netlog/rules/... and /var/log/netlog/, and the loader still finds the host's
# ld.so.cache
for d in ("upper", "work"):
    os.mkdir(os.path.join(top, d))
r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t overlay overlay -o "lowerdir=$1/etc:/etc" /etc && '
         'mount -t overlay overlay -o "lowerdir=$1/var/log:/var/log,upperdir=$2/upper,workdir=$2/work" /var/log && '
         'exec "$1/usr/sbin/netlogd" --check-config -c /etc/netlog/netlogd.yaml', "sh", root, top])
check(r.returncode == 0 and "config OK" in r.stdout,
      f"the installed netlogd refuses the installed config: {r.returncode} {r.stdout} {r.stderr}")
log(f"install: netlog {uid}:{gid} created, /var/log/netlog {uid}:{gid} 0750, unit enabled; "
    f"netlogd --version: {version}; the shipped config checks: "
    + next(l for l in r.stdout.splitlines() if l.startswith("rules ")))

# --- purge ------------------------------------------------------------------------------
r = run(dpkg_root + ["--purge", "netlog"], timeout=120)
check(r.returncode == 0, f"dpkg --purge: {r.returncode} {r.stderr}")
for p in ("usr/sbin/netlogd", "etc/netlog/netlogd.yaml", "etc/logrotate.d/netlog"):
    check(not os.path.exists(os.path.join(root, p)), f"{p} left after --purge")
check(run(["dpkg-query", "-W", "-f=${Status}", "netlog"]).stdout == host_had,
      "the host's dpkg database changed")
log(f"PASS: built in {build_s:.0f}s, lintian without error, installed into a throwaway root "
    f"(user, directory, unit enabled, binaries run, config checks), purged; host dpkg untouched")
