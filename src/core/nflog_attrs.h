// Internal to libnetlog: the NFULA_* attribute walk shared by the live netlink parser
// (nflog.cpp) and the DLT_NFLOG record parser (dlt_nflog.cpp); both carry the same
// struct nlattr TLVs with values in network byte order. Here, inline, so that each parser
// has the walk in its own body: no call and no Status between them for every packet.
#pragma once

#include <netlog/nflog.h>

#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <optional>

namespace netlog::detail {

// Network byte order loads (a load and a byte swap each, inlined).
inline std::uint16_t be16(const void *p) {
    std::uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return be16toh(v);
}

inline std::uint32_t be32(const void *p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return be32toh(v);
}

inline std::uint64_t be64(const void *p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return be64toh(v);
}

// The exact payload size of each fixed-size attribute; 0 = variable length.
constexpr std::size_t fixed_size(std::uint16_t type) {
    switch (type) {
    case NFULA_PACKET_HDR: return sizeof(nfulnl_msg_packet_hdr);
    case NFULA_TIMESTAMP: return sizeof(nfulnl_msg_packet_timestamp);
    case NFULA_HWADDR: return sizeof(nfulnl_msg_packet_hw);
    case NFULA_MARK:
    case NFULA_IFINDEX_INDEV:
    case NFULA_IFINDEX_OUTDEV:
    case NFULA_IFINDEX_PHYSINDEV:
    case NFULA_IFINDEX_PHYSOUTDEV:
    case NFULA_UID:
    case NFULA_GID:
    case NFULA_SEQ:
    case NFULA_SEQ_GLOBAL: return sizeof(std::uint32_t);
    case NFULA_HWTYPE:
    case NFULA_HWLEN: return sizeof(std::uint16_t);
    default: return 0;
    }
}

// fixed_size() by type, looked up once per attribute (the types the kernel defines are < 32).
constexpr auto fixed_sizes = [] {
    std::array<std::uint8_t, 32> t{};
    for (std::uint16_t type = 0; type < t.size(); ++type)
        t[type] = static_cast<std::uint8_t>(fixed_size(type));
    return t;
}();

// Why the walk refused the attributes. The walk runs for every packet: it carries no
// string; nflog_walk_error builds the message out of line when a record is refused.
struct Fault {
    enum Kind : std::uint8_t { size, timestamp, hwaddr, truncated } kind;
    std::uint16_t type;
    std::size_t len;         // size: the attribute's length; hwaddr: the address length;
                             // truncated: the offset of the attribute that does not fit
    std::uint64_t sec, usec; // timestamp
};

// The message for a walk that returned false: "NFLOG <where>: ...".
Error nflog_walk_error(const Fault &f, const char *where);

// One attribute of `type` whose value of `len` bytes is at `v` (its header already checked
// to fit: nla_len >= 4 and within the walk). Inlined into the walks: libmnl's callback,
// validate and accessor calls cost more than the decoding itself. Same checks: a
// fixed-size attribute must have exactly its size. False: refused, `f` says why.
[[gnu::always_inline]] inline bool on_attr(std::uint16_t type, std::size_t len,
                                           const std::uint8_t *v, NflogMessage &m, Fault &f) {
    const std::size_t want = type < fixed_sizes.size() ? fixed_sizes[type] : 0;
    if (want != 0 && len != want) [[unlikely]] {
        f.kind = Fault::size;
        f.type = type;
        f.len = len;
        return false;
    }

    switch (type) {
    case NFULA_PACKET_HDR:
        m.hw_protocol = be16(v);
        m.hook = v[2];
        m.has_packet_hdr = true;
        break;
    case NFULA_MARK: m.mark = be32(v); break;
    case NFULA_TIMESTAMP: {
        const std::uint64_t sec = be64(v), usec = be64(v + 8);
        if (usec >= 1000000 || sec > std::uint64_t{INT64_MAX}) {
            f.kind = Fault::timestamp;
            f.sec = sec;
            f.usec = usec;
            return false;
        }
        // A whole optional assigned: a plain copy (emplace and reset test the flag first).
        m.timestamp = std::optional<Timestamp>(
            Timestamp{static_cast<std::int64_t>(sec), static_cast<std::uint32_t>(usec * 1000)});
        break;
    }
    case NFULA_IFINDEX_INDEV: m.indev = be32(v); break;
    case NFULA_IFINDEX_OUTDEV: m.outdev = be32(v); break;
    case NFULA_IFINDEX_PHYSINDEV: m.physindev = be32(v); break;
    case NFULA_IFINDEX_PHYSOUTDEV: m.physoutdev = be32(v); break;
    case NFULA_HWADDR: {
        const std::uint16_t addrlen = be16(v);
        if (addrlen > sizeof(nfulnl_msg_packet_hw::hw_addr)) {
            f.kind = Fault::hwaddr;
            f.len = addrlen;
            return false;
        }
        m.hwaddr = Bytes(v + offsetof(nfulnl_msg_packet_hw, hw_addr), addrlen);
        break;
    }
    case NFULA_HWTYPE: m.hwtype = be16(v); break;
    case NFULA_HWLEN: break; // the length of NFULA_HWHEADER, which carries its own length
    case NFULA_HWHEADER: m.hwheader = Bytes(v, len); break;
    case NFULA_PAYLOAD: m.payload = Bytes(v, len); break;
    case NFULA_PREFIX: {
        const auto *s = reinterpret_cast<const char *>(v);
        const void *nul = std::memchr(s, 0, len);
        m.prefix = std::string_view(
            s, nul ? static_cast<std::size_t>(static_cast<const char *>(nul) - s) : len);
        break;
    }
    case NFULA_UID: m.uid = be32(v); break;
    case NFULA_GID: m.gid = be32(v); break;
    case NFULA_SEQ: m.seq = be32(v); break;
    case NFULA_SEQ_GLOBAL: m.seq_global = be32(v); break;
    default: break; // NFULA_CT, NFULA_VLAN, NFULA_L2HDR and future attributes: not used
    }
    return true;
}

// What `Type` sets in the message back to NflogMessage's defaults: the walk's fast path
// either takes each attribute or clears what it would set, so that a message parsed into
// again (the replay's one NflogMessage) needs no reset of its own. What the fast path
// leaves the generic walk then sets again, as it would in a fresh message. An optional is
// cleared by assigning an empty one: a plain store, where reset() tests the flag first.
template <std::uint16_t Type> [[gnu::always_inline]] inline void clear(NflogMessage &m) {
    if constexpr (Type == NFULA_PACKET_HDR) {
        m.hw_protocol = 0;
        m.hook = 0;
        m.has_packet_hdr = false;
    } else if constexpr (Type == NFULA_MARK)
        m.mark = std::optional<std::uint32_t>();
    else if constexpr (Type == NFULA_TIMESTAMP)
        m.timestamp = std::optional<Timestamp>();
    else if constexpr (Type == NFULA_IFINDEX_INDEV)
        m.indev = 0;
    else if constexpr (Type == NFULA_IFINDEX_OUTDEV)
        m.outdev = 0;
    else if constexpr (Type == NFULA_IFINDEX_PHYSINDEV)
        m.physindev = 0;
    else if constexpr (Type == NFULA_IFINDEX_PHYSOUTDEV)
        m.physoutdev = 0;
    else if constexpr (Type == NFULA_HWADDR)
        m.hwaddr = {};
    else if constexpr (Type == NFULA_HWTYPE)
        m.hwtype = std::optional<std::uint16_t>();
    else if constexpr (Type == NFULA_HWLEN)
        return; // sets nothing
    else if constexpr (Type == NFULA_HWHEADER)
        m.hwheader = {};
    else if constexpr (Type == NFULA_PAYLOAD)
        m.payload = {};
    else if constexpr (Type == NFULA_PREFIX)
        m.prefix = {};
    else if constexpr (Type == NFULA_UID)
        m.uid = std::optional<std::uint32_t>();
    else if constexpr (Type == NFULA_GID)
        m.gid = std::optional<std::uint32_t>();
    else if constexpr (Type == NFULA_SEQ)
        m.seq = std::optional<std::uint32_t>();
    else if constexpr (Type == NFULA_SEQ_GLOBAL)
        m.seq_global = std::optional<std::uint32_t>();
    else
        static_assert(Type != Type, "an attribute the fast path does not know");
}

// The attribute at `off` when it is of `Type`, in the kernel's plain form (no flag bits
// in nla_type, a fixed-size attribute exactly its size), fits the walk and decodes: then
// it is taken as the generic walk would take it and `off` moves past it. Anything else
// leaves `off` where it is and clears what `Type` sets (an absent attribute, or one for the
// generic walk to take or refuse with its message). `Checked` false: the caller has made
// sure that the attribute's whole fixed size fits (one bound check for a run of them;
// fixed-size types only).
template <std::uint16_t Type, bool Checked = true>
[[gnu::always_inline]] inline void expect(const std::uint8_t *p, std::size_t size, std::size_t &off,
                                          NflogMessage &m, Fault &f) {
    constexpr std::size_t want = fixed_size(Type);
    static_assert(Checked || want != 0);
    if constexpr (want != 0) {
        // The whole header compared at once: its length and type as the kernel writes them.
        constexpr auto header = std::bit_cast<std::uint32_t>(
            nlattr{static_cast<std::uint16_t>(MNL_ATTR_HDRLEN + want), Type});
        if (!Checked || off + MNL_ATTR_HDRLEN + want <= size) {
            std::uint32_t h;
            std::memcpy(&h, p + off, sizeof h);
            if (h == header && on_attr(Type, want, p + off + MNL_ATTR_HDRLEN, m, f)) {
                off += MNL_ALIGN(MNL_ATTR_HDRLEN + want);
                return;
            }
        }
    } else if (off + sizeof(nlattr) <= size) {
        nlattr a;
        std::memcpy(&a, p + off, sizeof a);
        // nla_len within [4, size - off] in one compare: a length below 4 wraps around.
        const std::size_t len = std::size_t{a.nla_len} - MNL_ATTR_HDRLEN;
        if (a.nla_type == Type && len <= size - off - MNL_ATTR_HDRLEN &&
            on_attr(Type, len, p + off + MNL_ATTR_HDRLEN, m, f)) {
            off += MNL_ALIGN(a.nla_len);
            return;
        }
    }
    clear<Type>(m);
}

// A run of fixed-size attributes, each present or not, in this order: when all of them
// would fit, one bound check for the run and then a header compare per attribute.
template <std::uint16_t... Types>
[[gnu::always_inline]] inline void expect_run(const std::uint8_t *p, std::size_t size,
                                              std::size_t &off, NflogMessage &m, Fault &f) {
    constexpr std::size_t most = ((MNL_ALIGN(MNL_ATTR_HDRLEN + fixed_size(Types))) + ...);
    if (off + most <= size)
        (expect<Types, false>(p, size, off, m, f), ...);
    else
        (expect<Types>(p, size, off, m, f), ...);
}

// Parse the attributes in `attrs` (a run of 4-byte aligned struct nlattr) into `msg`.
// Every field but family and group is set from the attributes or reset to its default, so
// `msg` may hold an earlier message. False: refused, `f` says why (nflog_walk_error).
[[gnu::always_inline]] inline bool nflog_walk(Bytes attrs, NflogMessage &msg, Fault &f) {
    const std::uint8_t *p = attrs.data();
    const std::size_t size = attrs.size();
    std::size_t off = 0;
    // The attributes in the order the kernel writes them (nfnetlink_log's
    // __build_packet_message), each present or not: a compare or two per attribute instead
    // of the generic walk's type dispatch. What this leaves (another order, flag bits, a
    // bad length) the generic walk below takes from where it stopped, with its checks.
    // Every field but family and group is set or cleared here (clear()).
    expect<NFULA_PACKET_HDR>(p, size, off, msg, f);
    expect<NFULA_PREFIX>(p, size, off, msg, f);
    expect_run<NFULA_IFINDEX_INDEV, NFULA_IFINDEX_PHYSINDEV, NFULA_IFINDEX_OUTDEV,
               NFULA_IFINDEX_PHYSOUTDEV, NFULA_MARK, NFULA_HWADDR, NFULA_HWTYPE, NFULA_HWLEN>(
        p, size, off, msg, f);
    expect<NFULA_HWHEADER>(p, size, off, msg, f);
    expect_run<NFULA_TIMESTAMP, NFULA_UID, NFULA_GID, NFULA_SEQ, NFULA_SEQ_GLOBAL>(p, size, off,
                                                                                   msg, f);
    expect<NFULA_PAYLOAD>(p, size, off, msg, f);
    // mnl_attr_parse_payload's walk: stop at the first attribute whose header does not fit.
    while (off < size && size - off >= sizeof(nlattr)) {
        nlattr a;
        std::memcpy(&a, p + off, sizeof a);
        // nla_len outside [4, size - off], in one compare (below 4 wraps around).
        if (std::size_t{a.nla_len} - MNL_ATTR_HDRLEN > size - off - MNL_ATTR_HDRLEN) break;
        if (!on_attr(a.nla_type & NLA_TYPE_MASK, a.nla_len - MNL_ATTR_HDRLEN,
                     p + off + MNL_ATTR_HDRLEN, msg, f)) [[unlikely]]
            return false;
        off += MNL_ALIGN(a.nla_len);
    }
    // libmnl stops silently at an attribute that does not fit; we do not. `off` is where
    // the last accepted attribute ended (its padding included).
    if (off < size && size - off >= sizeof(nlattr)) [[unlikely]] {
        f.kind = Fault::truncated;
        f.len = off;
        return false;
    }
    return true;
}

} // namespace netlog::detail
