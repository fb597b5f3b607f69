// One NFLOG packet message (NFULNL_MSG_PACKET) as a value, parsed from bytes.
// Every view points into the caller's buffer: parsing allocates nothing.
#pragma once

#include <netlog/result.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

namespace netlog {

using Bytes = std::span<const std::uint8_t>;

struct Timestamp {
    std::int64_t sec = 0;
    std::uint32_t nsec = 0; // NFLOG carries µs; stored as ns so receive time fits too
};

// Nanoseconds since the epoch as a Timestamp (before the epoch: the epoch).
inline Timestamp to_timestamp(std::int64_t ns) {
    if (ns < 0) ns = 0;
    return {ns / 1'000'000'000, static_cast<std::uint32_t>(ns % 1'000'000'000)};
}

struct NflogMessage {
    std::uint8_t family = 0;       // nfgenmsg.nfgen_family (AF_INET, AF_INET6, AF_BRIDGE...)
    std::uint16_t group = 0;       // nfgenmsg.res_id (host order)
    std::uint16_t hw_protocol = 0; // NFULA_PACKET_HDR: ethertype, host order
    std::uint8_t hook = 0;         // NFULA_PACKET_HDR: netfilter hook number
    bool has_packet_hdr = false;

    std::optional<std::uint32_t> mark;
    std::optional<Timestamp> timestamp;
    std::uint32_t indev = 0, outdev = 0, physindev = 0, physoutdev = 0; // 0 = absent
    Bytes hwaddr;                        // NFULA_HWADDR address bytes (hw_addrlen of them)
    std::optional<std::uint16_t> hwtype; // NFULA_HWTYPE (ARPHRD_*)
    Bytes hwheader;                      // NFULA_HWHEADER (the link-layer header)
    Bytes payload;                       // NFULA_PAYLOAD: starts at the network header
    std::string_view prefix;             // NFULA_PREFIX without its NUL
    std::optional<std::uint32_t> uid, gid;
    std::optional<std::uint32_t> seq, seq_global;
};

// Parse one netlink message (struct nlmsghdr + nfgenmsg + attributes) of type
// NFULNL_MSG_PACKET. Every attribute length is validated; unknown attributes are skipped.
Result<NflogMessage> nflog_parse_message(Bytes nlmsg);

// Walk a buffer of netlink messages as read from the socket (a batch). Calls `on_packet`
// for each NFLOG packet message; returns the number of packet messages, or an error for a
// malformed batch (messages before the bad one have been delivered). NLMSG_DONE/ERROR/NOOP
// and non-packet NFLOG messages are skipped; `on_bad_message` is called for a packet message
// that fails to parse (counted by the caller as a decode error).
struct BatchResult {
    std::size_t packets = 0;
    std::size_t bad_messages = 0;
    bool truncated = false; // the buffer ended inside a message
};
BatchResult nflog_parse_batch(Bytes buffer,
                              const std::function<void(const NflogMessage &)> &on_packet,
                              const std::function<void(const Error &)> &on_bad_message = {});

// One record of a DLT_NFLOG capture (LINKTYPE_NFLOG, 239) as libpcap returns it: the
// nflog_hdr_t (family, version, res_id big-endian) then TLVs whose length and type are in
// the *capturing host's* byte order, each padded to 4 bytes. Same value as a live message.
Result<NflogMessage> nflog_parse_dlt_record(Bytes record);
// The same into the caller's `msg` (reset first), for a reader that parses record after
// record into one message: nothing is moved through the Result.
Status nflog_parse_dlt_record(Bytes record, NflogMessage &msg);

} // namespace netlog
