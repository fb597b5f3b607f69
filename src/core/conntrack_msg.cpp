// ctnetlink messages -> CtMessage, and the GET requests netlog sends (netlog/conntrack.h).
// Attribute walks with libmnl; every length is checked first.
#include <netlog/conntrack.h>

#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstdint>
#include <endian.h>
#include <cstring>

namespace netlog {

namespace {

constexpr std::uint16_t ct_type(std::uint8_t msg) {
    return static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msg);
}

// Attribute values in network byte order (ctnetlink sends every integer so).
std::uint16_t u16(const nlattr *a) {
    return be16toh(mnl_attr_get_u16(a));
}
std::uint32_t u32(const nlattr *a) {
    return be32toh(mnl_attr_get_u32(a));
}
std::uint64_t u64(const nlattr *a) {
    return be64toh(mnl_attr_get_u64(a));
}

// The nested attributes of `a` into `tb` (indexed by type, up to max); false when one
// overruns its parent.
template <std::size_t N> bool nested(const nlattr *a, std::array<const nlattr *, N> &tb) {
    tb.fill(nullptr);
    struct Ctx {
        std::array<const nlattr *, N> *tb;
    } ctx{&tb};
    return mnl_attr_parse_nested(
               a,
               [](const nlattr *x, void *data) {
                   auto &t = *static_cast<Ctx *>(data)->tb;
                   const auto type = mnl_attr_get_type(x);
                   if (type < N) t[type] = x;
                   return MNL_CB_OK;
               },
               &ctx) >= MNL_CB_STOP;
}

// Whether `a` (may be null) carries exactly `len` bytes.
bool has(const nlattr *a, std::size_t len) {
    return a && mnl_attr_get_payload_len(a) == len;
}

std::optional<CtTuple> tuple(const nlattr *a) {
    std::array<const nlattr *, CTA_TUPLE_MAX + 1> t;
    if (!nested(a, t) || !t[CTA_TUPLE_IP] || !t[CTA_TUPLE_PROTO]) return std::nullopt;
    std::array<const nlattr *, CTA_IP_MAX + 1> ip;
    std::array<const nlattr *, CTA_PROTO_MAX + 1> pr;
    if (!nested(t[CTA_TUPLE_IP], ip) || !nested(t[CTA_TUPLE_PROTO], pr)) return std::nullopt;
    CtTuple r;
    const auto addr = [](const nlattr *x, L3 f, IpAddress &out) {
        const std::size_t n = f == L3::ipv4 ? 4 : 16;
        if (!has(x, n)) return false;
        out.family = f;
        std::memcpy(out.bytes.data(), mnl_attr_get_payload(x), n);
        return true;
    };
    if (ip[CTA_IP_V4_SRC] || ip[CTA_IP_V4_DST]) {
        if (!addr(ip[CTA_IP_V4_SRC], L3::ipv4, r.src) || !addr(ip[CTA_IP_V4_DST], L3::ipv4, r.dst))
            return std::nullopt;
    } else if (!addr(ip[CTA_IP_V6_SRC], L3::ipv6, r.src) ||
               !addr(ip[CTA_IP_V6_DST], L3::ipv6, r.dst)) {
        return std::nullopt;
    }
    if (!has(pr[CTA_PROTO_NUM], 1)) return std::nullopt;
    r.protocol = *static_cast<const std::uint8_t *>(mnl_attr_get_payload(pr[CTA_PROTO_NUM]));
    if (has(pr[CTA_PROTO_SRC_PORT], 2)) r.src_port = u16(pr[CTA_PROTO_SRC_PORT]);
    if (has(pr[CTA_PROTO_DST_PORT], 2)) r.dst_port = u16(pr[CTA_PROTO_DST_PORT]);
    return r;
}

std::optional<CtMessage::Counters> counters(const nlattr *a) {
    std::array<const nlattr *, CTA_COUNTERS_MAX + 1> c;
    if (!nested(a, c)) return std::nullopt;
    CtMessage::Counters r;
    if (has(c[CTA_COUNTERS_PACKETS], 8))
        r.packets = u64(c[CTA_COUNTERS_PACKETS]);
    else if (has(c[CTA_COUNTERS32_PACKETS], 4))
        r.packets = u32(c[CTA_COUNTERS32_PACKETS]);
    else
        return std::nullopt;
    if (has(c[CTA_COUNTERS_BYTES], 8))
        r.bytes = u64(c[CTA_COUNTERS_BYTES]);
    else if (has(c[CTA_COUNTERS32_BYTES], 4))
        r.bytes = u32(c[CTA_COUNTERS32_BYTES]);
    else
        return std::nullopt;
    return r;
}

// nlattr with a payload, appended (4-byte aligned).
std::size_t put_attr(std::vector<std::uint8_t> &out, std::uint16_t type, const void *data,
                     std::size_t len) {
    const std::size_t at = out.size();
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + len), type};
    out.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
    std::memcpy(out.data() + at, &a, sizeof a);
    if (len) std::memcpy(out.data() + at + NLA_HDRLEN, data, len);
    return at;
}
std::size_t begin_nest(std::vector<std::uint8_t> &out, std::uint16_t type) {
    return put_attr(out, static_cast<std::uint16_t>(type | NLA_F_NESTED), nullptr, 0);
}
void end_nest(std::vector<std::uint8_t> &out, std::size_t at) {
    const auto len = static_cast<std::uint16_t>(out.size() - at);
    std::memcpy(out.data() + at, &len, sizeof len);
}

} // namespace

std::size_t CtTupleHash::operator()(const CtTuple &t) const noexcept {
    std::uint64_t h = 1469598103934665603ull;
    const auto mix = [&](const void *p, std::size_t n) {
        const auto *b = static_cast<const std::uint8_t *>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const std::size_t n = t.src.family == L3::ipv4 ? 4 : 16;
    mix(t.src.bytes.data(), n);
    mix(t.dst.bytes.data(), n);
    mix(&t.protocol, 1);
    mix(&t.src_port, 2);
    mix(&t.dst_port, 2);
    return static_cast<std::size_t>(h);
}

Result<CtMessage> ct_parse_message(Bytes b) {
    if (b.size() < NLMSG_HDRLEN + sizeof(nfgenmsg))
        return make_error("conntrack message: too short");
    nlmsghdr h;
    std::memcpy(&h, b.data(), sizeof h);
    if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(nfgenmsg) || h.nlmsg_len > b.size())
        return make_error(fmt::format("conntrack message: length {} does not fit {} bytes",
                                      h.nlmsg_len, b.size()));
    CtMessage m;
    if (h.nlmsg_type == ct_type(IPCTNL_MSG_CT_DELETE))
        m.type = CtType::destroy;
    else if (h.nlmsg_type == ct_type(IPCTNL_MSG_CT_NEW))
        m.type = (h.nlmsg_flags & NLM_F_CREATE) ? CtType::create : CtType::update;
    else if (h.nlmsg_type == ct_type(IPCTNL_MSG_CT_GET))
        m.type = CtType::update;
    else
        return make_error(
            fmt::format("conntrack message: type 0x{:x} is not a conntrack entry", h.nlmsg_type));
    // libmnl reads the header in place: the bytes must be 4-byte aligned.
    if (reinterpret_cast<std::uintptr_t>(b.data()) % 4)
        return make_error("conntrack message: not aligned");
    const auto *nlh = reinterpret_cast<const nlmsghdr *>(b.data());
    std::array<const nlattr *, CTA_MAX + 1> tb{};
    struct Ctx {
        std::array<const nlattr *, CTA_MAX + 1> *tb;
    } ctx{&tb};
    if (mnl_attr_parse(
            nlh, sizeof(nfgenmsg),
            [](const nlattr *x, void *data) {
                auto &t = *static_cast<Ctx *>(data)->tb;
                const auto type = mnl_attr_get_type(x);
                if (type <= CTA_MAX) t[type] = x;
                return MNL_CB_OK;
            },
            &ctx) < MNL_CB_STOP)
        return make_error("conntrack message: an attribute overruns the message");
    if (tb[CTA_TUPLE_ORIG] && !(m.orig = tuple(tb[CTA_TUPLE_ORIG])))
        return make_error("conntrack message: the original tuple does not parse");
    if (tb[CTA_TUPLE_REPLY] && !(m.reply = tuple(tb[CTA_TUPLE_REPLY])))
        return make_error("conntrack message: the reply tuple does not parse");
    if (has(tb[CTA_STATUS], 4)) m.status = u32(tb[CTA_STATUS]);
    if (has(tb[CTA_TIMEOUT], 4)) m.timeout = u32(tb[CTA_TIMEOUT]);
    if (has(tb[CTA_ID], 4)) m.id = u32(tb[CTA_ID]);
    if (tb[CTA_PROTOINFO]) {
        std::array<const nlattr *, CTA_PROTOINFO_MAX + 1> pi;
        std::array<const nlattr *, CTA_PROTOINFO_TCP_MAX + 1> tcp;
        if (nested(tb[CTA_PROTOINFO], pi) && pi[CTA_PROTOINFO_TCP] &&
            nested(pi[CTA_PROTOINFO_TCP], tcp) && has(tcp[CTA_PROTOINFO_TCP_STATE], 1))
            m.tcp_state = *static_cast<const std::uint8_t *>(
                mnl_attr_get_payload(tcp[CTA_PROTOINFO_TCP_STATE]));
    }
    if (tb[CTA_COUNTERS_ORIG]) m.orig_counters = counters(tb[CTA_COUNTERS_ORIG]);
    if (tb[CTA_COUNTERS_REPLY]) m.reply_counters = counters(tb[CTA_COUNTERS_REPLY]);
    if (tb[CTA_TIMESTAMP]) {
        std::array<const nlattr *, CTA_TIMESTAMP_MAX + 1> ts;
        if (nested(tb[CTA_TIMESTAMP], ts)) {
            if (has(ts[CTA_TIMESTAMP_START], 8)) m.start_ns = u64(ts[CTA_TIMESTAMP_START]);
            if (has(ts[CTA_TIMESTAMP_STOP], 8)) m.stop_ns = u64(ts[CTA_TIMESTAMP_STOP]);
        }
    }
    return m;
}

bool ct_parse_datagram(Bytes d, const std::function<void(const CtMessage &)> &on_message,
                       const std::function<void(int, const CtMessage *)> &on_error) {
    std::size_t off = 0;
    while (d.size() - off >= NLMSG_HDRLEN) {
        nlmsghdr h;
        std::memcpy(&h, d.data() + off, sizeof h);
        if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > d.size() - off) return false;
        const Bytes msg = d.subspan(off, h.nlmsg_len);
        if (h.nlmsg_type == NLMSG_ERROR) {
            if (msg.size() < NLMSG_HDRLEN + sizeof(nlmsgerr)) return false;
            int err;
            std::memcpy(&err, msg.data() + NLMSG_HDRLEN, sizeof err);
            if (err != 0) { // 0: an acknowledgement
                const Bytes req = msg.subspan(NLMSG_HDRLEN + sizeof err);
                auto r = ct_parse_message(req);
                on_error(err, r ? &*r : nullptr);
            }
        } else if ((h.nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK) {
            auto r = ct_parse_message(msg);
            if (!r) return false;
            on_message(*r);
        }
        off += NLMSG_ALIGN(h.nlmsg_len);
        if (off > d.size()) break;
    }
    return true;
}

void ct_build_get(const CtTuple &t, bool by_reply, std::uint32_t seq,
                  std::vector<std::uint8_t> &out) {
    const std::size_t at = out.size();
    out.resize(at + NLMSG_HDRLEN + sizeof(nfgenmsg), 0);
    nfgenmsg g{};
    g.nfgen_family = t.src.family == L3::ipv6 ? AF_INET6 : AF_INET;
    g.version = NFNETLINK_V0;
    std::memcpy(out.data() + at + NLMSG_HDRLEN, &g, sizeof g);
    const auto outer = begin_nest(out, by_reply ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
    const auto ip = begin_nest(out, CTA_TUPLE_IP);
    const bool v4 = t.src.family == L3::ipv4;
    put_attr(out, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, t.src.bytes.data(), v4 ? 4 : 16);
    put_attr(out, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, t.dst.bytes.data(), v4 ? 4 : 16);
    end_nest(out, ip);
    const auto pr = begin_nest(out, CTA_TUPLE_PROTO);
    put_attr(out, CTA_PROTO_NUM, &t.protocol, 1);
    const std::uint8_t sp[2] = {static_cast<std::uint8_t>(t.src_port >> 8),
                                static_cast<std::uint8_t>(t.src_port)};
    const std::uint8_t dp[2] = {static_cast<std::uint8_t>(t.dst_port >> 8),
                                static_cast<std::uint8_t>(t.dst_port)};
    put_attr(out, CTA_PROTO_SRC_PORT, sp, 2);
    put_attr(out, CTA_PROTO_DST_PORT, dp, 2);
    end_nest(out, pr);
    end_nest(out, outer);
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(out.size() - at);
    h.nlmsg_type = ct_type(IPCTNL_MSG_CT_GET);
    h.nlmsg_flags = NLM_F_REQUEST;
    h.nlmsg_seq = seq;
    std::memcpy(out.data() + at, &h, sizeof h);
}

} // namespace netlog
