// libFuzzer: a conntrack netlink recv() buffer -> ct_parse_datagram -> the connections table
// (every entry it names followed first, then the message, a failed GET, the GETs due),
// with the table's identity checked after each input, and each ended connection's json
// line parsed back.
#include <netlog/conntrack.h>
#include <netlog/format.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

netlog::Packet first_packet(const netlog::CtTuple &t) {
    netlog::Packet p;
    p.l3 = t.src.family;
    p.src = t.src;
    p.dst = t.dst;
    p.protocol = t.protocol;
    p.has_ports = p.has_transport = true;
    p.src_port = t.src_port;
    p.dst_port = t.dst_port;
    p.tcp_flags = netlog::tcp_flag::syn;
    return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static std::vector<std::uint32_t> aligned; // a socket buffer is 4-byte aligned
    aligned.assign((size + 3) / 4, 0);
    if (size) std::memcpy(aligned.data(), data, size);
    const netlog::Bytes buf(reinterpret_cast<const std::uint8_t *>(aligned.data()), size);

    netlog::ConnectionTracker tr({true, true, 8});
    netlog::JsonOptions opt;
    netlog::json_prepare(opt);
    std::string line;
    const auto emit = [&](const netlog::ConnEnd &e) {
        line.clear();
        netlog::format_json_connection(e, opt, line);
        if (line.empty() || line.back() != '\n' ||
            !nlohmann::json::accept(std::string_view(line).substr(0, line.size() - 1)))
            std::abort();
    };
    const std::string body = R"({"container_id":""},"packet":{})";
    std::int64_t now = 0;
    netlog::ct_parse_datagram(
        buf,
        [&](const netlog::CtMessage &m) {
            if (m.orig && m.orig->protocol == 6 && m.orig->src_port % 2)
                tr.follow(first_packet(*m.orig), netlog::Direction::egress, {1, 0}, now, body, 1,
                          emit);
            tr.message(m, now, {2, 0}, emit);
            now += 3'000'000'000;
            tr.due(now, 4, [](const netlog::CtTuple &, bool) {});
        },
        [&](int, const netlog::CtMessage *req) {
            if (req) tr.probe_failed(*req, now);
        });
    if (!tr.counters().holds() || tr.counters().active != tr.size()) std::abort();
    return 0;
}
