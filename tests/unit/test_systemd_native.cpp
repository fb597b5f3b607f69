// sd_notify and the journal's native protocol (src/io/systemd_native.h), against sockets
// this test binds in a private temporary directory. The expected bytes are the protocols'
// as systemd documents them: sd_notify(3) (a datagram of the state text, '@' for an
// abstract socket name, WATCHDOG_USEC/WATCHDOG_PID in sd_watchdog_enabled(3)) and
// "Native Journal Protocol" (systemd.io/JOURNAL_NATIVE_PROTOCOL: "NAME=value\n"; a value
// holding a newline as "NAME\n", a little-endian 64-bit length, the value, "\n"; an entry
// too large for a datagram as a sealed memfd passed with SCM_RIGHTS). journald itself
// reads them in tests/integration/test_journal.py.
#include "systemd_native.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using netlog::io::journal_datagram;
using netlog::io::JournalSocket;
using netlog::io::systemd_notify;
using netlog::io::systemd_watchdog_usec;

namespace {

// A datagram socket bound at `name` ("/path" or "@abstract") in a fresh directory.
struct Receiver {
    int fd = -1;
    std::string dir, path;
    explicit Receiver(bool abstract = false) {
        char tmpl[] = "/tmp/netlog-sdnative-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        socklen_t len;
        if (abstract) {
            path = "@netlog-test-" + std::to_string(::getpid()) + dir.substr(dir.size() - 6);
            std::memcpy(a.sun_path + 1, path.data() + 1, path.size() - 1);
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
        } else {
            path = dir + "/socket";
            std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
            len = sizeof a;
        }
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&a), len) == 0);
        const int big = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    ~Receiver() {
        ::close(fd);
        if (path[0] == '/') ::unlink(path.c_str());
        ::rmdir(dir.c_str());
    }
    // The next datagram, and the fd it carried (-1 if none).
    std::string receive(int *passed = nullptr) {
        std::string buf(1 << 20, '\0');
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        iovec iov{buf.data(), buf.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        const auto n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        REQUIRE(n >= 0);
        buf.resize(static_cast<std::size_t>(n));
        if (passed) {
            *passed = -1;
            if (cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                std::memcpy(passed, CMSG_DATA(c), sizeof(int));
        }
        return buf;
    }
};

std::string le64(std::uint64_t n) {
    std::string s;
    for (int i = 0; i < 8; ++i, n >>= 8) s.push_back(static_cast<char>(n & 0xff));
    return s;
}

struct Env {
    std::string name;
    explicit Env(std::string n, const std::string &v) : name(std::move(n)) {
        ::setenv(name.c_str(), v.c_str(), 1);
    }
    ~Env() { ::unsetenv(name.c_str()); }
};

} // namespace

TEST_CASE("journal datagram: plain fields as NAME=value lines, a newline in a value in the "
          "binary form") {
    const std::vector<std::string_view> f{"MESSAGE=hello", "PRIORITY=6", "MULTI=a\nb", "EMPTY="};
    CHECK(journal_datagram(f) == "MESSAGE=hello\nPRIORITY=6\nMULTI\n" + le64(3) + "a\nb\nEMPTY=\n");
    // a field without '=' or without a name: refused (journald would drop the entry)
    const std::vector<std::string_view> bad1{"MESSAGE=x", "NOEQUALS"}, bad2{"=value"},
        bad3{"A\nB=value"};
    CHECK(journal_datagram(bad1).empty());
    CHECK(journal_datagram(bad2).empty());
    CHECK(journal_datagram(bad3).empty());
}

TEST_CASE("journal socket: one datagram per entry; an entry larger than a datagram as a sealed "
          "memfd") {
    Receiver r;
    JournalSocket j(r.path);
    const std::vector<std::string_view> small{"MESSAGE=one line", "NETLOG_X=a\nb"};
    REQUIRE(j.send(small) == 0);
    int fd = -2;
    CHECK(r.receive(&fd) == "MESSAGE=one line\nNETLOG_X\n" + le64(3) + "a\nb\n");
    CHECK(fd == -1);

    // A small send buffer (as without the privilege to raise it) makes 200 KiB too large
    // for one datagram: the entry goes as a memfd, sealed, holding exactly the datagram.
    JournalSocket limited(r.path);
    limited.set_send_buffer(16384);
    const std::string big = "MESSAGE=" + std::string(200 << 10, 'x');
    const std::vector<std::string_view> large{big};
    REQUIRE(limited.send(large) == 0);
    CHECK(r.receive(&fd).empty());
    REQUIRE(fd >= 0);
    const int seals = ::fcntl(fd, F_GET_SEALS);
    CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) ==
          (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));
    std::string content(big.size() + 16, '\0');
    const auto n = ::pread(fd, content.data(), content.size(), 0);
    ::close(fd);
    REQUIRE(n >= 0);
    content.resize(static_cast<std::size_t>(n));
    CHECK(content == big + "\n");

    // no socket there: the error, not a silent success
    JournalSocket nowhere(r.dir + "/absent");
    CHECK(nowhere.send(small) == -ENOENT);
    CHECK(j.send(std::vector<std::string_view>{"novalue"}) == -EINVAL);
}

TEST_CASE("notify: the state text as one datagram to $NOTIFY_SOCKET, a path or an abstract "
          "name") {
    ::unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(systemd_notify("READY=1")); // not run by systemd: nothing to do
    for (const bool abstract : {false, true}) {
        Receiver r(abstract);
        Env e("NOTIFY_SOCKET", r.path);
        REQUIRE(systemd_notify("READY=1\nSTATUS=reading 2 groups"));
        CHECK(r.receive() == "READY=1\nSTATUS=reading 2 groups");
    }
    Env e("NOTIFY_SOCKET", "relative/path");
    CHECK_FALSE(systemd_notify("READY=1"));
}

TEST_CASE("watchdog: WATCHDOG_USEC for this process only") {
    ::unsetenv("WATCHDOG_PID");
    ::unsetenv("WATCHDOG_USEC");
    CHECK(systemd_watchdog_usec() == 0);
    Env usec("WATCHDOG_USEC", "30000000");
    CHECK(systemd_watchdog_usec() == 30000000);
    {
        Env pid("WATCHDOG_PID", std::to_string(::getpid()));
        CHECK(systemd_watchdog_usec() == 30000000);
    }
    {
        Env pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
        CHECK(systemd_watchdog_usec() == 0);
    }
    {
        Env zero("WATCHDOG_USEC", "0");
        CHECK(systemd_watchdog_usec() == 0);
    }
    {
        Env infinity("WATCHDOG_USEC", "18446744073709551615"); // USEC_INFINITY: none
        CHECK(systemd_watchdog_usec() == 0);
    }
    Env junk("WATCHDOG_USEC", "30s");
    CHECK(systemd_watchdog_usec() == 0);
}
