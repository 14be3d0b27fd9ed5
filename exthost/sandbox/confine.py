"""What a plugin worker applies to itself before it serves: resource limits (setrlimit) and file confinement
(Landlock, through the `landlock` package, where the kernel has it)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from pathlib import Path

from exthost.sandbox.limits import SandboxLimits


def apply_rlimits(limits: SandboxLimits) -> None:
    """Address space, CPU time and open files of this process (and whatever it forks)."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The soft limit sends SIGXCPU (which ends the worker); the hard one, a second later, SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or the `landlock` package is missing)."""
    try:
        from landlock import landlock_abi_version
    except ImportError:
        return 0
    try:
        return int(landlock_abi_version())
    except Exception:
        return 0


def confine_files(read: Iterable[Path], write: Iterable[Path]) -> str:
    """From now on this process (and its children) opens files only under `read` (read and execute) and `write`
    (read and write); everything else is refused with EACCES. Returns what was applied, for diagnostics."""
    abi = landlock_abi()
    if abi == 0:
        return "none: the kernel has no Landlock; files are not confined"
    from landlock import FSAccess, Ruleset

    ruleset = Ruleset()
    readable = FSAccess.EXECUTE | FSAccess.READ_FILE | FSAccess.READ_DIR
    for path in sorted({p for p in read if p.exists()}):
        ruleset.allow(str(path), rules=readable if path.is_dir() else FSAccess.EXECUTE | FSAccess.READ_FILE)
    for path in sorted({p for p in write if p.exists()}):
        everything = FSAccess.all() if path.is_dir() else _file_rights(FSAccess.all())
        ruleset.allow(str(path), rules=everything)
    ruleset.apply()
    return f"landlock ABI {abi}"


def _file_rights(rights: int) -> int:
    """Landlock refuses directory-only rights on a file rule: keep those a file can hold."""
    from landlock import FSAccess

    allowed = FSAccess.EXECUTE | FSAccess.WRITE_FILE | FSAccess.READ_FILE
    truncate = getattr(FSAccess, "TRUNCATE", 0)
    return int(rights) & (int(allowed) | int(truncate))


def runtime_paths() -> list[Path]:
    """What any worker must read: the interpreter, its libraries and system libraries, time zones, certificates,
    the resolver's configuration, the media types table."""
    import sys
    import sysconfig

    found = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).resolve().parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            found.add(Path(value))
    for entry in sys.path:
        if entry and Path(entry).is_dir() and not _holds_plugins(Path(entry)):
            found.add(Path(entry))
    found |= {Path(p) for p in ("/usr", "/lib", "/lib64", "/bin", "/etc/ssl", "/etc/localtime", "/etc/gitconfig")}
    # Name resolution (a database named by host name, `db` in a compose file): what glibc's resolver reads.
    resolver = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf")
    found |= {Path(p) for p in resolver}
    found |= {Path(p) for p in ("/dev/urandom", "/dev/zero")}
    # The media types Python's `mimetypes` reads at its first use (a file served or uploaded): it does not survive a
    # refusal of one of these that exists.
    import mimetypes

    found |= {Path(p) for p in mimetypes.knownfiles if os.path.isfile(p)}
    return sorted(found)


def runtime_writable() -> list[Path]:
    """What any worker must write: /dev/null (subprocess.DEVNULL opens it for reading and writing)."""
    return [Path("/dev/null")]


def _holds_plugins(folder: Path) -> bool:
    # The repository root is on sys.path in development: only its code packages are readable, never `plugins/`
    # beside them (another plugin's files) or `data/`.
    return (folder / "plugins").is_dir() or (folder / "data").is_dir()


def user_only_umask() -> None:
    os.umask(0o077)


# Landlock's network rules (ABI 4, Linux 6.7): the `landlock` package knows only file rules, so these three calls
# go to the kernel directly. Numbers from <linux/landlock.h>; the syscalls are the same on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS_REFER = 1 << 13
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38
NETWORK_ABI = 4


def network_confinement(abi: int, connect_ports: Iterable[int], *, udp: str = "", seccomp: bool = True) -> str:
    """What `confine_network` and `confine_sockets` apply on a kernel of Landlock ABI `abi` (and with seccomp, or
    not), in words (for diagnostics); `udp`: why UDP stays allowed, if it does."""
    if abi < NETWORK_ABI:
        tcp = f"TCP not confined: Landlock ABI {abi} has no network rules (needs 4, Linux 6.7)"
    else:
        ports = sorted(set(connect_ports))
        allowed = f"TCP connect only to port {', '.join(map(str, ports))}" if ports else "no TCP connect"
        tcp = f"{allowed}, no TCP bind (landlock ABI {abi})"
    if not seccomp:
        return f"{tcp}; UDP, raw and packet sockets not covered (no seccomp); Unix sockets not covered"
    datagrams = f"UDP allowed ({udp}); " if udp else "no UDP; "
    others = "no other socket kind (raw, packet, MPTCP...), no io_uring (seccomp)"
    return f"{tcp}; {datagrams}{others}; Unix sockets not covered"


def seccomp_available() -> bool:
    """Whether this kernel can install seccomp filters (and the `seccompy` package is there)."""
    try:
        import seccompy
    except ImportError:
        return False
    try:
        return bool(seccompy.supported())
    except OSError:
        return False


def confine_sockets(*, udp: bool) -> str:
    """From now on this process (every thread, and its children) opens only the sockets a worker needs: TCP over IPv4
    and IPv6 (Landlock decides where to), Unix sockets, netlink (glibc asks the kernel for the machine's addresses
    through it), and UDP only with `udp`. Any other family, type or protocol (UDP, raw and packet sockets, MPTCP,
    SCTP...) and io_uring (which could open sockets past the filter) fail with PermissionError (EACCES). An allow
    list in a seccomp filter (`seccompy`), since Landlock does not cover these. Returns what was applied."""
    if not seccomp_available():
        return "none: no seccomp on this kernel"
    import errno
    import socket

    from seccompy import Action, ArgCmp, CmpOp, Filter, FilterFlag, arch

    def low(index: int, value: int, mask: int = INT_MASK) -> ArgCmp:
        # The kernel takes these arguments as 32-bit ints: the high half of the register is not theirs to compare.
        return ArgCmp(index, CmpOp.MASKED_EQ, value, mask=mask)

    allowed: list[list[ArgCmp]] = [[low(0, socket.AF_UNIX)], [low(0, socket.AF_NETLINK)]]
    kinds = [(socket.SOCK_STREAM, (0, socket.IPPROTO_TCP))]
    if udp:
        kinds.append((socket.SOCK_DGRAM, (0, socket.IPPROTO_UDP)))
    for family in (socket.AF_INET, socket.AF_INET6):
        for kind, protocols in kinds:
            for protocol in protocols:
                # The type's low bits (SOCK_NONBLOCK and SOCK_CLOEXEC live above them).
                allowed.append([low(0, family), low(1, kind, SOCK_TYPE_MASK), low(2, protocol)])
    seccomp = Filter(default=Action.ALLOW, flags=FilterFlag.TSYNC)
    # On x86_64 the x32 ABI numbers the same calls with bit 30 set: filtered alike, should the kernel take them.
    for base in [0, X32_SYSCALL_BIT] if arch() == "x86_64" else [0]:
        socket_call = syscall_number("socket") | base
        for conditions in allowed:  # the first rule that matches decides
            seccomp.allow(socket_call, args=conditions)
        seccomp.errno(socket_call, errno.EACCES)
        seccomp.errno(syscall_number("io_uring_setup") | base, errno.EACCES)
    seccomp.load()
    return "udp allowed" if udp else "no udp"


X32_SYSCALL_BIT = 0x40000000
SOCK_TYPE_MASK = 0xF
INT_MASK = 0xFFFFFFFF


def syscall_number(name: str) -> int:
    from seccompy import syscall_nr

    return int(syscall_nr(name))


def confine_network(connect_ports: Iterable[int], movable: Iterable[Path] = ()) -> str:
    """From now on this process (and its children) connects over TCP only to `connect_ports` (any address) and
    binds no TCP port; anything else fails with PermissionError (EACCES). Returns what was applied.

    Any Landlock layer refuses to move or link a file from one folder to another unless it handles that right
    (`REFER`) and grants it there, even a layer of network rules only: this one grants it beneath the folders of
    `movable` (the writable ones, which the file layer already lets move files about), so that renaming a file
    into another folder there (a finished clone into place) still works."""
    import ctypes

    abi = landlock_abi()
    ports = sorted(set(connect_ports))
    if abi < NETWORK_ABI:
        return "none: " + network_confinement(abi, ports)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]

    class NetPortAttr(ctypes.Structure):
        _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1  # packed in <linux/landlock.h>
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def check(result: int, what: str) -> int:
        if result < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"landlock {what}: {os.strerror(code)}")
        return result

    attr = RulesetAttr(_FS_REFER, _NET_BIND_TCP | _NET_CONNECT_TCP)
    ruleset = check(libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0), "create_ruleset")
    try:
        for folder in sorted({path for path in movable if path.is_dir()}):
            descriptor = os.open(folder, os.O_PATH | os.O_CLOEXEC)
            try:
                beneath = PathBeneathAttr(_FS_REFER, descriptor)
                added = libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(beneath), 0)
                check(added, f"add_rule refer {folder}")
            finally:
                os.close(descriptor)
        for port in ports:
            rule = NetPortAttr(_NET_CONNECT_TCP, port)
            check(libc.syscall(_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0), f"add_rule port {port}")
        check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(_RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
    return network_confinement(abi, ports)
