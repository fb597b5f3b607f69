// What became of an allowed connection (`connections:` in netlogd.yaml): ctnetlink messages
// parsed into plain values, and the table of the connections netlogd follows.
//
// Pure: the io layer (src/io/conntrack_socket.h) reads the kernel's conntrack events
// (NFNLGRP_CONNTRACK_NEW/UPDATE/DESTROY) and sends the GET requests built here; the pipeline
// feeds the table with the allowed events it emits and with the ICMP errors it sees.
//
// The kernel's signals (Linux 6.18, measured with `conntrack -E -o timestamp,extended` and
// the raw messages under tests/data/conntrack/, in a namespace of its own):
//  - refused: the peer's RST to the SYN destroys the entry at once; the DESTROY carries TCP
//    state CLOSE, status without SEEN_REPLY (the RST does not count as a reply), and, with
//    nf_conntrack_acct=1, one reply packet.
//  - unanswered: the entry stays SYN_SENT (TCP) or unreplied (UDP) until its timeout; the
//    DESTROY comes only when the kernel reaps it, which its garbage collector does lazily
//    (tens of seconds late when there are few entries). A lookup of an expired entry reaps
//    it at once, so netlogd asks for each followed entry by its tuple (a GET) once the
//    timeout the last message gave has passed: the DESTROY follows that request.
//  - unreachable: an ICMP(v6) destination-unreachable related to the connection changes
//    nothing in the entry (no event, no reply count, no status bit); it ends like an
//    unanswered one. ctnetlink alone cannot tell them apart: netlogd calls a connection
//    unreachable when an NFLOG rule logged the ICMP error (the pipeline sees the packet it
//    quotes). Without such a rule it is reported as unanswered.
//  - established: status SEEN_REPLY (UDP: any reply; TCP: the SYN/ACK), then ASSURED; the
//    DESTROY carries the counters (nf_conntrack_acct=1) and the start/stop times
//    (nf_conntrack_timestamp=1).
#pragma once

#include <netlog/event.h>
#include <netlog/nflog.h>
#include <netlog/packet.h>
#include <netlog/result.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace netlog {

// A connection's tuple in one direction (addresses, protocol, ports).
struct CtTuple {
    IpAddress src, dst;
    std::uint8_t protocol = 0;
    std::uint16_t src_port = 0, dst_port = 0;
    bool operator==(const CtTuple &) const = default;
    CtTuple inverted() const { return {dst, src, protocol, dst_port, src_port}; }
};

struct CtTupleHash {
    std::size_t operator()(const CtTuple &t) const noexcept;
};

enum class CtType : std::uint8_t { create, update, destroy };

// conntrack status bits (linux/netfilter/nf_conntrack_common.h, enum ip_conntrack_status).
namespace ct_status {
inline constexpr std::uint32_t seen_reply = 1u << 1, assured = 1u << 2;
}
// TCP conntrack states (enum tcp_conntrack) that matter here.
namespace ct_tcp {
inline constexpr std::uint8_t syn_sent = 1, established = 3, close = 8;
}

// One ctnetlink conntrack message (an event, or the answer to a GET).
struct CtMessage {
    CtType type = CtType::update;
    std::optional<CtTuple> orig, reply; // CTA_TUPLE_ORIG, CTA_TUPLE_REPLY
    std::optional<std::uint32_t> status;
    std::optional<std::uint8_t> tcp_state;
    std::optional<std::uint32_t> timeout; // seconds left
    struct Counters {
        std::uint64_t packets = 0, bytes = 0;
    };
    std::optional<Counters> orig_counters, reply_counters;
    std::optional<std::uint64_t> start_ns, stop_ns; // CTA_TIMESTAMP (wall clock)
    std::uint32_t id = 0;
};

// One netlink message of subsystem ctnetlink (header included): IPCTNL_MSG_CT_NEW (create
// when NLM_F_CREATE is set, else update or a GET's answer) or IPCTNL_MSG_CT_DELETE
// (destroy). An error for anything else or for an attribute that does not fit.
Result<CtMessage> ct_parse_message(Bytes nlmsg);

// A datagram of netlink messages: each conntrack message to `on_message`; an NLMSG_ERROR
// carrying an error to `on_error` with its code as the kernel sends it (-errno: -ENOENT)
// and the request it quotes (parsed, when it parses); messages of other types are skipped. False when the datagram does not parse.
bool ct_parse_datagram(Bytes datagram, const std::function<void(const CtMessage &)> &on_message,
                       const std::function<void(int err, const CtMessage *request)> &on_error);

// IPCTNL_MSG_CT_GET for the entry whose original (by_reply: reply) tuple is `t`, appended
// to `out`; answered with the entry, or ENOENT.
void ct_build_get(const CtTuple &t, bool by_reply, std::uint32_t seq,
                  std::vector<std::uint8_t> &out);

enum class ConnOutcome : std::uint8_t { refused, unanswered, unreachable };
std::string_view to_string(ConnOutcome o);

// A followed connection that ended: what its line says.
struct ConnEnd {
    bool failed = false;                           // <direction>-failed; else <direction>-closed
    ConnOutcome outcome = ConnOutcome::unanswered; // failed only
    Direction direction = Direction::egress;
    Timestamp time; // when it ended (the kernel's stop time, else receive time)
    std::uint64_t duration_ms = 0;
    std::optional<CtMessage::Counters> orig, reply; // closed: when accounting is on
    std::string_view body;     // the original event's container and packet (json)
    std::uint64_t outputs = 0; // bit i: output i took the original event
};

// What the table did. Its identity:
//   followed = refused + unanswered + unreachable + closed + quiet + lost + active
struct ConnectionCounters {
    std::uint64_t followed = 0;  // connections followed
    std::uint64_t untracked = 0; // allowed first packets not followed: the table was full
    std::uint64_t refused = 0, unanswered = 0, unreachable = 0; // -failed events
    std::uint64_t closed = 0;                                   // -closed events (flow_end)
    std::uint64_t quiet = 0;        // established and ended, flow_end off: no event
    std::uint64_t lost = 0;         // the kernel had no entry and no DESTROY came
    std::uint64_t active = 0;       // followed now
    std::uint64_t messages = 0;     // conntrack messages handed in
    std::uint64_t bad_messages = 0; // ... that did not parse
    std::uint64_t probes = 0;       // GET requests asked for
    std::uint64_t icmp_errors = 0;  // NFLOG'd ICMP errors that quoted a followed connection
    std::uint64_t events() const { return refused + unanswered + unreachable + closed; }
    bool operator==(const ConnectionCounters &) const = default;
    bool holds() const {
        return followed == refused + unanswered + unreachable + closed + quiet + lost + active;
    }
};

struct ConnectionOptions {
    bool outcomes = false; // -failed events
    bool flow_end = false; // -closed events
    std::size_t max_tracked = 65536;
};

class ConnectionTracker {
  public:
    explicit ConnectionTracker(ConnectionOptions o) : opt_(o) {}
    void set_options(ConnectionOptions o) { opt_ = o; } // a reload: the table stays

    // Whether `p` is a connection's first packet: TCP SYN without ACK, or UDP.
    static bool starts_connection(const Packet &p);

    enum class Follow : std::uint8_t { followed, already, full };
    // Follow the connection `p` starts (starts_connection(p)), logged at `time`; `body` is
    // what its line repeats of the original event. A DESTROY that came first (the NFLOG
    // batch can lag the conntrack event by its flush timeout) ends it at once.
    Follow follow(const Packet &p, Direction d, Timestamp time, std::int64_t now_ns,
                  std::string body, std::uint64_t outputs,
                  const std::function<void(const ConnEnd &)> &emit);

    // An NFLOG'd packet: when it is an ICMP(v6) destination-unreachable quoting a followed
    // connection's packet, that connection is marked unreachable.
    void icmp(const Packet &p);

    // A conntrack message (event, or a GET's answer) received at `now_ns` (monotonic) /
    // `wall` (realtime); a followed connection that ended goes to `emit`.
    void message(const CtMessage &m, std::int64_t now_ns, Timestamp wall,
                 const std::function<void(const ConnEnd &)> &emit);
    // A GET answered with an error (ENOENT: the kernel has no such entry).
    void probe_failed(const CtMessage &request, std::int64_t now_ns);
    // The GET requests due at `now_ns` (at most `max` of them): tuple and whether by reply.
    void due(std::int64_t now_ns, std::size_t max,
             const std::function<void(const CtTuple &, bool by_reply)> &probe);

    const ConnectionCounters &counters() const { return c_; }
    void set_counters(const ConnectionCounters &c) { c_ = c; }
    bool empty() const { return table_.empty(); }
    std::size_t size() const { return table_.size(); }

  private:
    struct Entry {
        Direction direction = Direction::egress;
        Timestamp start;
        std::int64_t deadline_ns = 0; // next GET
        std::uint32_t misses = 0;     // GETs answered ENOENT in a row
        bool unreachable = false;
        std::optional<CtTuple> ct_orig; // the kernel's original tuple, once known (NAT)
        std::uint64_t outputs = 0;
        std::string body;
    };
    struct Destroyed { // a DESTROY of no followed connection, kept a few seconds
        CtMessage m;
        Timestamp wall;
        std::int64_t at_ns = 0;
    };
    using Table = std::unordered_map<CtTuple, Entry, CtTupleHash>;

    Table::iterator find(const CtMessage &m);
    void schedule(const CtTuple &key, Entry &e, std::int64_t at_ns);
    void end(Table::iterator it, const CtMessage &m, Timestamp wall,
             const std::function<void(const ConnEnd &)> &emit);
    void remember(const CtMessage &m, Timestamp wall, std::int64_t now_ns);

    ConnectionOptions opt_;
    Table table_;
    // (deadline, key): a key's entry may have moved its deadline since (then skipped).
    using Due = std::pair<std::int64_t, CtTuple>;
    struct Later {
        bool operator()(const Due &a, const Due &b) const { return a.first > b.first; }
    };
    std::priority_queue<Due, std::vector<Due>, Later> due_;
    std::unordered_map<CtTuple, Destroyed, CtTupleHash> recent_;
    std::deque<std::pair<std::int64_t, CtTuple>> recent_order_;
    ConnectionCounters c_;
};

} // namespace netlog
