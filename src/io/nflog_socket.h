// The NFLOG netlink socket (libmnl): binds the groups, configures them (copy mode and
// range, queue threshold, flush timeout, sequence numbers), and drains what the kernel
// sends, many datagrams per recvmmsg(2), into contiguous batch buffers. It never blocks
// and never parses more than the netlink headers and the sequence attribute: counting
// packet messages and sequence gaps (events the kernel could not deliver) happens here,
// everything else in the pipeline thread. Only the kernel's messages (sender port id 0)
// are kept: another process in the namespace (root, with CAP_NET_ADMIN) can send to our
// port id, and its messages are refused and counted (foreign); so are messages for a
// group not bound and implausible sequence jumps (NflogAccount).
#pragma once

#include <netlog/config.h>
#include <netlog/nflog.h>
#include "nflog_account.h"
#include <netlog/result.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct mnl_socket;

namespace netlog::io {

// Received netlink datagrams, back to back: a valid stream of netlink messages.
struct Batch {
    explicit Batch(std::size_t cap) : buf(new std::uint8_t[cap]), capacity(cap) {}
    std::unique_ptr<std::uint8_t[]> buf;
    std::size_t size = 0; // bytes used
    std::size_t capacity = 0;
    std::uint32_t events = 0; // NFLOG packet messages in the buffer
    Timestamp received;       // CLOCK_REALTIME when the first datagram arrived
    Bytes bytes() const { return {buf.get(), size}; }
    void clear() {
        size = 0;
        events = 0;
    }
    bool empty() const { return size == 0; }
};

struct NflogSocketCounters {
    std::uint64_t received = 0; // packet messages read
    std::uint64_t datagrams = 0;
    std::uint64_t recv_calls = 0;   // recvmmsg calls that returned data
    std::uint64_t enobufs = 0;      // times the kernel reported ENOBUFS (socket overrun)
    std::uint64_t lost_enobufs = 0; // events missing from the sequence after an ENOBUFS
    std::uint64_t lost_gap = 0;     // events missing from the sequence otherwise
    std::uint64_t truncated = 0;    // datagrams larger than a receive slot (MSG_TRUNC)
    std::uint64_t other = 0;        // non-packet messages (errors, done) seen
    // Refused, never emitted nor counted as events the kernel logged: the account is the
    // kernel's alone.
    std::uint64_t foreign = 0;     // messages from a sender other than the kernel (port id != 0)
    std::uint64_t unbound = 0;     // packet messages for a group this socket did not bind
    std::uint64_t implausible = 0; // sequence jumps no kernel could have made (not counted as lost)
};

struct NflogSocketOptions {
    std::vector<std::uint16_t> groups;
    NflogSocketConfig config;
    std::string rules_source; // named in "choose another group in <rules file>"
};

class NflogSocket {
  public:
    // Opens, binds and configures every group. Errors are one line for the user
    // (EPERM: needs CAP_NET_ADMIN; group busy: which group, who may hold it, what to do).
    static Result<std::unique_ptr<NflogSocket>> open(const NflogSocketOptions &options);
    ~NflogSocket();
    NflogSocket(const NflogSocket &) = delete;
    NflogSocket &operator=(const NflogSocket &) = delete;

    int fd() const;
    // Reads what is waiting (non-blocking) and appends it to `batch` while room for a
    // whole datagram remains. Returns false when the socket had nothing more to give
    // (EAGAIN) — true means "maybe more: call again (with room)".
    bool receive(Batch &batch);
    // Room needed in a batch for one receive() call to make progress.
    std::size_t slot_size() const { return slot_; }
    const NflogSocketCounters &counters() const { return c_; }
    std::int64_t receive_buffer() const { return rcvbuf_; } // bytes the kernel granted

  private:
    NflogSocket() = default;
    Status configure(std::uint16_t group, const NflogSocketOptions &o);
    // Keeps the kernel's messages for our groups (moved to `dst`) and counts them: the
    // bytes kept.
    std::size_t account(const std::uint8_t *data, std::size_t len, std::uint8_t *dst, Batch &batch,
                        std::int64_t now_ns);

    mnl_socket *nl_ = nullptr;
    std::size_t slot_ = 0;
    std::int64_t rcvbuf_ = 0;
    std::uint32_t seq_ = 0; // netlink request sequence
    NflogSocketCounters c_;
    NflogAccount acct_; // which messages count, sequence gaps (nflog_account.h)
    std::vector<std::vector<std::uint8_t>> pending_; // packets that arrived during setup
};

} // namespace netlog::io
