"""netlogd.service's sandbox, reproduced by hand where systemd cannot run the unit (no
systemd as PID 1 here): the settings are read from the installed unit text, and each is
applied with the kernel interface systemd itself uses.

  User=/Group=, AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges=
      setpriv(1): uid/gid, supplementary groups cleared, inheritable + ambient + bounding
      set to exactly the unit's capabilities, no-new-privs
  ProcSubset=pid, ProtectProc=invisible
      a private mount namespace with procfs mounted subset=pid,hidepid=invisible
  UMask=
      the umask of the exec'd process
  SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=native
      a seccomp filter (python3-seccomp, i.e. libseccomp, as systemd uses) allowing exactly
      the system calls the unit's SystemCallFilter= lines leave, expanded with
      `systemd-analyze syscall-filter` (systemd's own group tables), EPERM for the rest

Not reproduced (they only narrow what is visible or writable, and netlogd's files are the
test's): ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateDevices=, the Protect*
kernel settings, MemoryMax=.

    argv(unit_text, uid, gid, cmd) -> the command line, to run inside `ip netns exec`.
The user runs copies of this script and of cmd[0] that it can read, wherever the checkout
is (netns.readable_copy).
"""
import os
import re
import subprocess
import sys

HERE = os.path.abspath(__file__)


def directives(unit_text):
    d = {}
    for line in unit_text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            d.setdefault(k.strip(), []).append(v.strip())
    return d


def expand(group, seen=None):
    """The system calls of a systemd group (recursively) or a single name."""
    seen = set() if seen is None else seen
    if not group.startswith("@"):
        return {group}
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names |= expand(line, seen)
    return names


def allowed_syscalls(unit_text):
    """What SystemCallFilter= lines allow, applied in order as systemd.exec(5) says: the
    first line (an allow list) sets the list, later ones add or (with ~) remove."""
    allow = None
    for value in directives(unit_text).get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(item)
        if allow is None:
            assert not deny, "the unit's first SystemCallFilter= is not an allow list"
            allow = names
        elif deny:
            allow -= names
        else:
            allow |= names
    return allow


def argv(unit_text, uid, gid, cmd):
    import netns  # (not at the top: the copy run as the unit's user imports nothing of ours)
    d = directives(unit_text)
    caps = ",".join("+" + c.lower().removeprefix("cap_")
                    for c in d["AmbientCapabilities"][0].split())
    bounding = ",".join("+" + c.lower().removeprefix("cap_")
                        for c in d["CapabilityBoundingSet"][0].split())
    assert d["NoNewPrivileges"] == ["yes"] and d["ProcSubset"] == ["pid"]
    assert d["ProtectProc"] == ["invisible"]
    allow = ",".join(sorted(allowed_syscalls(unit_text)))
    env = []
    if netns.sanitized(cmd[0]):
        # LeakSanitizer's exit check attaches to the process with ptrace, which a process
        # that changed its user may not allow (not dumpable) and the seccomp filter denies:
        # it would abort. Every other test of the ASan build keeps the leak check.
        env = ["env", f"ASAN_OPTIONS={os.environ.get('ASAN_OPTIONS', '')}:detect_leaks=0"]
    inner = [
        *env, "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
        f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}",
        f"--bounding-set=-all,{bounding}", "--no-new-privs",
        "/usr/bin/python3", netns.readable_copy(HERE), "--exec", d["UMask"][0], allow,
        netns.readable_copy(cmd[0]), *cmd[1:],
    ]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec "$@"', "sh",
            *inner]


def exec_sandboxed(umask, allow, cmd):
    import errno

    import seccomp
    os.umask(int(umask, 8))
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in allow.split(","):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a name this architecture or libseccomp does not have
    f.load()
    os.execv(cmd[0], cmd)


if __name__ == "__main__" and len(sys.argv) > 4 and sys.argv[1] == "--exec":
    exec_sandboxed(sys.argv[2], sys.argv[3], sys.argv[4:])
