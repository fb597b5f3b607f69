// NFLOG message parsing: live netlink batches and DLT_NFLOG records.
// Fixtures: tests/data/nflog-mixed.{pcap,batches} and nflog-short.*, made from real traffic
// by tests/data/make_nflog_captures.py (the same 52 packets went to group 5, recorded by
// tcpdump, and to group 6, recorded raw from the netlink socket). Expected values come from
// tshark 4.0's dissection of the pcap (`tshark -r nflog-mixed.pcap -T fields -e nflog.*`)
// and from the kernel's rules in that script.
#include "captures.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <netlog/nflog.h>
#include <optional>
#include <string>
#include <vector>

using netlog::Bytes;
using netlog::NflogMessage;
using netlog::test::ByteVec;

namespace {

Bytes view(const ByteVec &v) {
    return Bytes(v.data(), v.size());
}

const std::vector<ByteVec> &mixed_records() {
    static const auto records = netlog::test::read_pcap_records("nflog-mixed.pcap");
    return records;
}

const std::vector<ByteVec> &mixed_batches() {
    static const auto batches = netlog::test::read_batches("nflog-mixed.batches");
    return batches;
}

NflogMessage record(std::size_t frame) // tshark's 1-based frame number
{
    auto r = netlog::nflog_parse_dlt_record(view(mixed_records().at(frame - 1)));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return *r;
}

std::vector<ByteVec> live_messages() // every netlink message of the batches, one per vector
{
    std::vector<ByteVec> out;
    for (const auto &b : mixed_batches()) {
        std::size_t off = 0;
        while (off + 16 <= b.size()) {
            std::uint32_t len;
            std::memcpy(&len, b.data() + off, 4);
            std::uint16_t type;
            std::memcpy(&type, b.data() + off + 4, 2);
            if (type == 0x0400)
                out.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(off),
                                 b.begin() + static_cast<std::ptrdiff_t>(off + len));
            off += (len + 3u) & ~3u;
        }
    }
    return out;
}

// Find attribute `type` in a netlink message (after nlmsghdr + nfgenmsg); offset of nlattr.
std::size_t find_attr(const ByteVec &msg, std::uint16_t type) {
    std::size_t off = 20;
    while (off + 4 <= msg.size()) {
        std::uint16_t len, t;
        std::memcpy(&len, msg.data() + off, 2);
        std::memcpy(&t, msg.data() + off + 2, 2);
        if (t == type) return off;
        off += (len + 3u) & ~3u;
    }
    FAIL("attribute not found");
    return 0;
}

void set_u16(ByteVec &v, std::size_t off, std::uint16_t x) {
    std::memcpy(v.data() + off, &x, 2);
}

} // namespace

namespace {

// A DLT_NFLOG record with its attributes in the reverse order: the parser's fast path for
// the kernel's order takes none of them in order, its generic walk the rest.
ByteVec reversed(const ByteVec &rec) {
    std::vector<ByteVec> attrs;
    std::size_t off = 4; // nflog_hdr
    while (off + 4 <= rec.size()) {
        std::uint16_t len;
        std::memcpy(&len, rec.data() + off, 2);
        const std::size_t step = std::min<std::size_t>((len + 3u) & ~3u, rec.size() - off);
        attrs.emplace_back(rec.begin() + static_cast<std::ptrdiff_t>(off),
                           rec.begin() + static_cast<std::ptrdiff_t>(off + step));
        off += step;
    }
    ByteVec out(rec.begin(), rec.begin() + 4);
    for (auto it = attrs.rbegin(); it != attrs.rend(); ++it) {
        ByteVec a = *it;
        a.resize((a.size() + 3u) & ~std::size_t{3}); // the last one may lack its padding
        out.insert(out.end(), a.begin(), a.end());
    }
    return out;
}

// Frame 1: 10.255.15.7:39246 -> 10.10.10.10:8080 SYN, logged at FORWARD on group 5.
void check_frame1(const NflogMessage &m) {
    CHECK(m.family == 2); // nflog.family: IPv4
    CHECK(m.group == 5);  // nflog.res_id
    CHECK(m.has_packet_hdr);
    CHECK(m.hw_protocol == 0x0800); // nflog.protocol
    CHECK(m.hook == 2);             // nflog.hook: FORWARD
    CHECK(m.indev == 101);          // nflog.ifindex_indev
    CHECK(m.outdev == 103);         // nflog.ifindex_outdev
    CHECK(m.physindev == 0);
    CHECK(m.physoutdev == 0);
    CHECK(m.prefix == "OK_0002_e9e8959f-3828-4136-8"); // nflog.prefix, NUL stripped
    REQUIRE(m.mark.has_value());
    CHECK(*m.mark == 0x2); // -j MARK --set-mark 0x2 in mangle/FORWARD
    REQUIRE(m.timestamp.has_value());
    CHECK(m.timestamp->sec == 1795421595); // nflog.timestamp 2026-11-23 08:13:15.793219 UTC
    CHECK(m.timestamp->nsec == 793219000);
    const ByteVec mac{0xaa, 0xaa, 0x0a, 0xff, 0x0f, 0x07}; // the client's eth0 address
    CHECK(ByteVec(m.hwaddr.begin(), m.hwaddr.end()) == mac);
    REQUIRE(m.hwtype.has_value());
    CHECK(*m.hwtype == 1); // ARPHRD_ETHER
    const ByteVec hwheader{0xee, 0xee, 0x0a, 0xff, 0x0f, 0x07, 0xaa,
                           0xaa, 0x0a, 0xff, 0x0f, 0x07, 0x08, 0x00};
    CHECK(ByteVec(m.hwheader.begin(), m.hwheader.end()) == hwheader);
    REQUIRE(m.payload.size() == 60); // ip.len 60, whole packet copied
    CHECK(m.payload[0] == 0x45);
    CHECK_FALSE(m.uid.has_value()); // forwarded: no socket
    CHECK_FALSE(m.gid.has_value());
    CHECK_FALSE(m.seq.has_value()); // tcpdump does not ask for sequence numbers
}

} // namespace

TEST_CASE("a DLT_NFLOG record of a forwarded IPv4 SYN gives every attribute the kernel sent") {
    check_frame1(record(1));
}

TEST_CASE("the attributes in another order than the kernel's give the same message") {
    const ByteVec rec = reversed(mixed_records().at(0));
    REQUIRE(rec.size() >= mixed_records().at(0).size());
    auto r = netlog::nflog_parse_dlt_record(view(rec));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    check_frame1(*r);
    // Each of the other real records, reversed, parses as it does in the kernel's order
    // (which the cases here check against tshark).
    for (std::size_t frame = 2; frame <= mixed_records().size(); ++frame) {
        const NflogMessage in_order = record(frame);
        const ByteVec other = reversed(mixed_records().at(frame - 1)); // m views into it
        NflogMessage m;
        REQUIRE(netlog::nflog_parse_dlt_record(view(other), m));
        CHECK(m.indev == in_order.indev);
        CHECK(m.outdev == in_order.outdev);
        CHECK(m.prefix == in_order.prefix);
        CHECK(m.mark == in_order.mark);
        CHECK(m.uid == in_order.uid);
        CHECK(m.timestamp.has_value() == in_order.timestamp.has_value());
        CHECK(m.payload.size() == in_order.payload.size());
        CHECK(m.hwheader.size() == in_order.hwheader.size());
    }
}

TEST_CASE("a packet without a mark has no NFULA_MARK; IPv6 records carry family 10") {
    const NflogMessage reply = record(2); // 10.10.10.10 -> client: not marked
    CHECK_FALSE(reply.mark.has_value());
    CHECK(reply.indev == 103);
    CHECK(reply.outdev == 101);
    CHECK(reply.prefix == "OK_container-handle-1-longer");

    const NflogMessage v6 = record(19);
    CHECK(v6.family == 10);
    CHECK(v6.hw_protocol == 0x86dd);
    CHECK(v6.prefix == "OK_0002_e9e8959f-3828-4136-8");
    CHECK(v6.mark == 0x2u);
}

TEST_CASE("INPUT has no output device; OUTPUT has uid/gid and no timestamp or hardware header") {
    const NflogMessage in = record(39); // ping to the router itself
    CHECK(in.hook == 1);
    CHECK(in.indev == 101);
    CHECK(in.outdev == 0);
    CHECK(in.timestamp.has_value());
    CHECK(in.prefix == "OK_input-to-router");

    const NflogMessage out = record(40); // ping sent by the router (root)
    CHECK(out.hook == 3);
    CHECK(out.indev == 0);
    CHECK(out.outdev == 103);
    CHECK_FALSE(out.timestamp.has_value());
    CHECK(out.uid == 0u); // nflog.uid 0
    CHECK(out.gid == 0u); // nflog.gid 0
    CHECK(out.hwaddr.empty());
    CHECK(out.hwheader.empty());
    CHECK(out.prefix == "OK_output-from-router");
}

TEST_CASE("every record of the real captures parses") {
    CHECK(mixed_records().size() == 52);
    for (const auto &r : mixed_records()) CHECK(netlog::nflog_parse_dlt_record(view(r)).ok());
    std::uint32_t linktype = 0;
    const auto short_records = netlog::test::read_pcap_records("nflog-short.pcap", &linktype);
    CHECK(linktype == 239); // LINKTYPE_NFLOG
    CHECK(short_records.size() == 52);
    for (const auto &r : short_records) {
        auto m = netlog::nflog_parse_dlt_record(view(r));
        REQUIRE(m.ok());
        CHECK(m->payload.size() == 20); // --nflog-size 20
    }
}

TEST_CASE("a live batch delivers every packet message and skips NLMSG_DONE") {
    // The listener used a queue threshold of 8: each recv() holds several NFULNL_MSG_PACKET
    // messages and ends with NLMSG_DONE (type 3).
    std::vector<NflogMessage> got;
    std::vector<ByteVec> payloads;
    std::size_t bad = 0;
    for (const auto &b : mixed_batches()) {
        auto r = netlog::nflog_parse_batch(
            view(b),
            [&](const NflogMessage &m) {
                got.push_back(m);
                payloads.emplace_back(m.payload.begin(), m.payload.end());
            },
            [&](const netlog::Error &) { ++bad; });
        CHECK_FALSE(r.truncated);
        CHECK(r.bad_messages == 0);
        CHECK(r.packets >= 1);
    }
    CHECK(bad == 0);
    REQUIRE(got.size() == 52);
    // Group 6 asked for NFULNL_CFG_F_SEQ|SEQ_GLOBAL: the instance sequence starts at 0.
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].group == 6);
        CHECK(got[i].seq == static_cast<std::uint32_t>(i));
        REQUIRE(got[i].seq_global.has_value());
        CHECK(*got[i].seq_global == *got[0].seq_global + i);
    }
    // The same packets went to group 5 (the pcap): both parsers agree on every field.
    for (std::size_t i = 0; i < got.size(); ++i) {
        const NflogMessage d = record(i + 1);
        CAPTURE(i);
        CHECK(got[i].prefix == d.prefix);
        CHECK(got[i].mark == d.mark);
        CHECK(got[i].hook == d.hook);
        CHECK(got[i].hw_protocol == d.hw_protocol);
        CHECK(got[i].indev == d.indev);
        CHECK(got[i].outdev == d.outdev);
        CHECK(got[i].uid == d.uid);
        CHECK(got[i].timestamp.has_value() == d.timestamp.has_value());
        CHECK(payloads[i] == ByteVec(d.payload.begin(), d.payload.end()));
        CHECK(ByteVec(got[i].hwheader.begin(), got[i].hwheader.end()) ==
              ByteVec(d.hwheader.begin(), d.hwheader.end()));
    }
}

TEST_CASE("a batch cut inside a message delivers the messages before it and says truncated") {
    const ByteVec &b = mixed_batches().at(0); // 8 packet messages + NLMSG_DONE
    std::uint32_t first_len;
    std::memcpy(&first_len, b.data(), 4);
    const std::size_t cut = first_len + 100; // inside the second message
    std::size_t n = 0;
    auto r = netlog::nflog_parse_batch(Bytes(b.data(), cut), [&](const NflogMessage &) { ++n; });
    CHECK(r.truncated);
    CHECK(r.packets == 1);
    CHECK(n == 1);

    auto r2 = netlog::nflog_parse_batch(Bytes(b.data(), 10), {});
    CHECK(r2.truncated);
    CHECK(r2.packets == 0);
    CHECK_FALSE(netlog::nflog_parse_batch(Bytes(), {}).truncated);
}

TEST_CASE("a live message parses on its own; non-packet types are rejected") {
    const auto msgs = live_messages();
    REQUIRE(msgs.size() == 52);
    auto m = netlog::nflog_parse_message(view(msgs[0]));
    REQUIRE(m.ok());
    CHECK(m->prefix == "OK_0002_e9e8959f-3828-4136-8");
    CHECK(m->seq == 0u);

    ByteVec config = msgs[0];
    set_u16(config, 4, 0x0401); // NFULNL_MSG_CONFIG
    CHECK_FALSE(netlog::nflog_parse_message(view(config)).ok());

    ByteVec done = msgs[0];
    set_u16(done, 4, 3); // NLMSG_DONE inside a batch is skipped, not an error
    auto r = netlog::nflog_parse_batch(view(done), [](const NflogMessage &) { FAIL("delivered"); });
    CHECK(r.packets == 0);
    CHECK(r.bad_messages == 0);
}

TEST_CASE("a netlink length that does not fit the buffer is an error") {
    ByteVec msg = live_messages().at(0);
    CHECK_FALSE(netlog::nflog_parse_message(Bytes(msg.data(), 8)).ok());
    CHECK_FALSE(netlog::nflog_parse_message(Bytes(msg.data(), msg.size() - 4)).ok());
    std::uint32_t tiny = 18; // shorter than nlmsghdr + nfgenmsg
    std::memcpy(msg.data(), &tiny, 4);
    CHECK_FALSE(netlog::nflog_parse_message(view(msg)).ok());
}

TEST_CASE("every fixed-size attribute with a wrong length is rejected, naming it") {
    const ByteVec orig = live_messages().at(0);
    struct Case {
        std::uint16_t type;
        const char *name;
    };
    for (const Case c :
         {Case{1, "NFULA_PACKET_HDR"}, Case{2, "NFULA_MARK"}, Case{3, "NFULA_TIMESTAMP"},
          Case{4, "NFULA_IFINDEX_INDEV"}, Case{5, "NFULA_IFINDEX_OUTDEV"}, Case{8, "NFULA_HWADDR"},
          Case{12, "NFULA_SEQ"}, Case{13, "NFULA_SEQ_GLOBAL"}, Case{15, "NFULA_HWTYPE"},
          Case{17, "NFULA_HWLEN"}}) {
        CAPTURE(c.name);
        ByteVec msg = orig;
        const std::size_t at = find_attr(msg, c.type);
        std::uint16_t len;
        std::memcpy(&len, msg.data() + at, 2);
        set_u16(msg, at, static_cast<std::uint16_t>(len - 1)); // one byte short
        auto r = netlog::nflog_parse_message(view(msg));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find(c.name) != std::string::npos);
    }
}

TEST_CASE("out-of-range values inside well-sized attributes are rejected") {
    const ByteVec orig = live_messages().at(0);
    ByteVec msg = orig;
    std::size_t at = find_attr(msg, 8); // NFULA_HWADDR: hw_addrlen (be16) first
    msg[at + 4] = 0;
    msg[at + 5] = 9; // more than the 8 address bytes
    CHECK_FALSE(netlog::nflog_parse_message(view(msg)).ok());

    msg = orig;
    at = find_attr(msg, 3); // NFULA_TIMESTAMP: usec is the second be64
    std::memset(msg.data() + at + 4 + 8, 0, 8);
    msg[at + 4 + 13] = 0x0f; // 0x0f4240 = 1000000 µs
    msg[at + 4 + 14] = 0x42;
    msg[at + 4 + 15] = 0x40;
    CHECK_FALSE(netlog::nflog_parse_message(view(msg)).ok());
    msg[at + 4 + 15] = 0x3f; // 999999 µs is fine
    auto ok = netlog::nflog_parse_message(view(msg));
    REQUIRE(ok.ok());
    CHECK(ok->timestamp->nsec == 999999000u);
}

TEST_CASE("a prefix without its NUL is taken whole; an attribute past the end is an error") {
    const ByteVec orig = live_messages().at(0);
    ByteVec msg = orig;
    const std::size_t at = find_attr(msg, 10); // NFULA_PREFIX "OK_0002_e9e8959f-3828-4136-8\0"
    std::uint16_t len;
    std::memcpy(&len, msg.data() + at, 2);
    REQUIRE(len == 4 + 29);
    msg[at + len - 1] = 'Z'; // the NUL becomes a character: no NUL at all
    auto r = netlog::nflog_parse_message(view(msg));
    REQUIRE(r.ok());
    CHECK(r->prefix == "OK_0002_e9e8959f-3828-4136-8Z");
    msg = orig;
    set_u16(msg, at, 4 + 32); // the length also covers the padding: stops at the first NUL
    r = netlog::nflog_parse_message(view(msg));
    REQUIRE(r.ok());
    CHECK(r->prefix == "OK_0002_e9e8959f-3828-4136-8");

    msg = orig;
    const std::size_t pl = find_attr(msg, 9); // NFULA_PAYLOAD is the last attribute
    set_u16(msg, pl, static_cast<std::uint16_t>(msg.size() - pl + 8));
    auto bad = netlog::nflog_parse_message(view(msg));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("truncated") != std::string::npos);
}

TEST_CASE("unknown attributes are skipped") {
    ByteVec msg = live_messages().at(0);
    const std::size_t at = find_attr(msg, 4); // NFULA_IFINDEX_INDEV becomes type 30
    set_u16(msg, at + 2, 30);
    auto r = netlog::nflog_parse_message(view(msg));
    REQUIRE(r.ok());
    CHECK(r->indev == 0);
    CHECK(r->outdev == 103);
}

TEST_CASE("DLT_NFLOG records: header checks") {
    ByteVec rec = mixed_records().at(0);
    CHECK_FALSE(netlog::nflog_parse_dlt_record(Bytes(rec.data(), 3)).ok());
    auto empty = netlog::nflog_parse_dlt_record(Bytes(rec.data(), 4)); // header, no TLVs
    REQUIRE(empty.ok());
    CHECK(empty->payload.empty());
    rec[1] = 1; // nflog_hdr version must be 0
    CHECK_FALSE(netlog::nflog_parse_dlt_record(view(rec)).ok());
    rec[1] = 0;
    CHECK_FALSE(netlog::nflog_parse_dlt_record(Bytes(rec.data(), rec.size() - 8)).ok());
}

namespace {

// One TLV of a DLT_NFLOG record: length and type in host order, the value as given, padded
// to 4 bytes (as libpcap hands the kernel's attributes over).
void add_attr(ByteVec &rec, std::uint16_t type, const ByteVec &value) {
    const auto len = static_cast<std::uint16_t>(4 + value.size());
    const std::size_t at = rec.size();
    rec.resize(at + 4);
    std::memcpy(rec.data() + at, &len, 2);
    std::memcpy(rec.data() + at + 2, &type, 2);
    rec.insert(rec.end(), value.begin(), value.end());
    rec.resize((rec.size() + 3u) & ~std::size_t{3});
}

// Every attribute nfnetlink_log's __build_packet_message writes, in its order, with
// distinct values (NFULA_* numbers and layouts from linux/netfilter/nfnetlink_log.h).
ByteVec every_attribute_record() {
    ByteVec rec{2, 0, 0x00, 0x05};                          // AF_INET, version 0, group 5
    add_attr(rec, 1, {0x08, 0x00, 3, 0});                   // PACKET_HDR: IPv4, hook 3
    add_attr(rec, 10, {'D', 'R', 'O', 'P', '_', 'x', 0});   // PREFIX
    add_attr(rec, 4, {0, 0, 0, 11});                        // IFINDEX_INDEV
    add_attr(rec, 6, {0, 0, 0, 12});                        // IFINDEX_PHYSINDEV
    add_attr(rec, 5, {0, 0, 0, 13});                        // IFINDEX_OUTDEV
    add_attr(rec, 7, {0, 0, 0, 14});                        // IFINDEX_PHYSOUTDEV
    add_attr(rec, 2, {0, 0, 0x12, 0x34});                   // MARK
    add_attr(rec, 8, {0, 6, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0}); // HWADDR: 6 bytes
    add_attr(rec, 15, {0, 1});                              // HWTYPE: ARPHRD_ETHER
    add_attr(rec, 17, {0, 14});                             // HWLEN
    add_attr(rec, 16, ByteVec(14, 0xee));                   // HWHEADER
    add_attr(rec, 3, {0, 0, 0, 0, 0x6a, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7}); // TIMESTAMP
    add_attr(rec, 11, {0, 0, 3, 0xe8});                                    // UID 1000
    add_attr(rec, 14, {0, 0, 3, 0xe9});                                    // GID 1001
    add_attr(rec, 12, {0, 0, 0, 21});                                      // SEQ
    add_attr(rec, 13, {0, 0, 0, 22});                                      // SEQ_GLOBAL
    add_attr(rec, 9, ByteVec{0x45, 0, 0, 20});                             // PAYLOAD
    return rec;
}

void check_every_attribute(const NflogMessage &m) {
    CHECK(m.family == 2);
    CHECK(m.group == 5);
    CHECK(m.has_packet_hdr);
    CHECK(m.hw_protocol == 0x0800);
    CHECK(m.hook == 3);
    CHECK(m.prefix == "DROP_x");
    CHECK(m.indev == 11);
    CHECK(m.physindev == 12);
    CHECK(m.outdev == 13);
    CHECK(m.physoutdev == 14);
    CHECK(m.mark == std::optional<std::uint32_t>(0x1234));
    CHECK(ByteVec(m.hwaddr.begin(), m.hwaddr.end()) == ByteVec{1, 2, 3, 4, 5, 6});
    CHECK(m.hwtype == std::optional<std::uint16_t>(1));
    CHECK(m.hwheader.size() == 14);
    REQUIRE(m.timestamp.has_value());
    CHECK(m.timestamp->sec == 0x6a000001);
    CHECK(m.timestamp->nsec == 7000);
    CHECK(m.uid == std::optional<std::uint32_t>(1000));
    CHECK(m.gid == std::optional<std::uint32_t>(1001));
    CHECK(m.seq == std::optional<std::uint32_t>(21));
    CHECK(m.seq_global == std::optional<std::uint32_t>(22));
    CHECK(m.payload.size() == 4);
}

// Everything but family and group as in a message that never saw an attribute.
void check_nothing_left(const NflogMessage &m) {
    const NflogMessage fresh;
    CHECK(m.has_packet_hdr == fresh.has_packet_hdr);
    CHECK(m.hw_protocol == fresh.hw_protocol);
    CHECK(m.hook == fresh.hook);
    CHECK(m.prefix.empty());
    CHECK(m.indev == fresh.indev);
    CHECK(m.physindev == fresh.physindev);
    CHECK(m.outdev == fresh.outdev);
    CHECK(m.physoutdev == fresh.physoutdev);
    CHECK(m.mark == fresh.mark);
    CHECK(m.hwaddr.empty());
    CHECK(m.hwtype == fresh.hwtype);
    CHECK(m.hwheader.empty());
    CHECK_FALSE(m.timestamp.has_value());
    CHECK(m.uid == fresh.uid);
    CHECK(m.gid == fresh.gid);
    CHECK(m.seq == fresh.seq);
    CHECK(m.seq_global == fresh.seq_global);
    CHECK(m.payload.empty());
}

} // namespace

TEST_CASE("a record parsed into a message that held another keeps nothing of the other") {
    const ByteVec full = every_attribute_record();
    const ByteVec none{10, 0, 0x00, 0x07}; // AF_INET6, group 7, no attributes at all
    NflogMessage m;
    // In the kernel's order (the fast path), then in reverse (the generic walk), each
    // followed by a record without attributes into the same message.
    for (const ByteVec &rec : {full, reversed(full)}) {
        REQUIRE(netlog::nflog_parse_dlt_record(view(rec), m));
        check_every_attribute(m);
        REQUIRE(netlog::nflog_parse_dlt_record(view(none), m));
        CHECK(m.family == 10);
        CHECK(m.group == 7);
        check_nothing_left(m);
    }
    // A record refused half way, then the empty one: nothing of the refused one either.
    ByteVec bad = full;
    bad.push_back(9); // a TLV header cut short after the last attribute
    bad.push_back(0);
    bad.push_back(0);
    bad.push_back(0);
    bad.push_back(0xff);
    REQUIRE_FALSE(netlog::nflog_parse_dlt_record(view(bad), m));
    REQUIRE(netlog::nflog_parse_dlt_record(view(none), m));
    check_nothing_left(m);
    // Only the payload: every other field cleared, the payload the new one.
    ByteVec only_payload{2, 0, 0x00, 0x05};
    add_attr(only_payload, 9, ByteVec{0x60, 0, 0, 0, 0, 0});
    REQUIRE(netlog::nflog_parse_dlt_record(view(full), m));
    REQUIRE(netlog::nflog_parse_dlt_record(view(only_payload), m));
    CHECK(m.payload.size() == 6);
    m.payload = {};
    check_nothing_left(m);
}
