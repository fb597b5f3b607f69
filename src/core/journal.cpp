// Journal entries, framed for the journal sink (journal.h).
#include "community_id.h"
#include <netlog/ecs.h>
#include <netlog/journal.h>

#include "text_append.h"

#include <cstring>

namespace netlog {

namespace {

void put_u32(std::string &out, std::uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);
    out.append(b, 4);
}

std::uint32_t get_u32(const char *p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Begins a field "NAME=" whose value the caller appends; end_field() sets its length.
std::size_t begin_field(std::string &out, std::string_view name) {
    const std::size_t at = out.size();
    put_u32(out, 0);
    out += name;
    out += '=';
    return at;
}

void end_field(std::string &out, std::size_t at) {
    const auto len = static_cast<std::uint32_t>(out.size() - at - 4);
    std::memcpy(out.data() + at, &len, 4);
}

void field(std::string &out, std::string_view name, std::string_view value) {
    if (value.empty()) return;
    const auto at = begin_field(out, name);
    out += value;
    end_field(out, at);
}

void field_uint(std::string &out, std::string_view name, std::uint64_t v) {
    const auto at = begin_field(out, name);
    text::append_uint(out, v);
    end_field(out, at);
}

void field_ip(std::string &out, std::string_view name, const IpAddress &a) {
    if (a.family == L3::none) return;
    const auto at = begin_field(out, name);
    text::append_ip(out, a);
    end_field(out, at);
}

// The Docker/Podman members, when Container has them (see ecs.cpp).
template <class C> void container_engine_fields(std::string &out, const C &c) {
    if constexpr (requires { std::string_view(c.name); })
        field(out, "NETLOG_CONTAINER_NAME", c.name);
    if constexpr (requires { std::string_view(c.image); })
        field(out, "NETLOG_CONTAINER_IMAGE", c.image);
    if constexpr (requires {
                      c.labels.begin()->first;
                      c.labels.begin()->second;
                  })
        for (const auto &[k, v] : c.labels) {
            const auto at = begin_field(out, "NETLOG_CONTAINER_LABEL");
            out += k;
            out += '=';
            out += v;
            end_field(out, at);
        }
}

void container_fields(std::string &out, const Container *c) {
    if (!c) return;
    field(out, "NETLOG_CONTAINER_ID", c->handle);
    field(out, "NETLOG_APP_GUID", c->app_guid);
    field(out, "NETLOG_SPACE_GUID", c->space_guid);
    field(out, "NETLOG_ORGANIZATION_GUID", c->organization_guid);
    container_engine_fields(out, *c);
}

void common_fields(std::string &out, const JournalOptions &opt, int priority) {
    field_uint(out, "PRIORITY", static_cast<std::uint64_t>(priority));
    field(out, "SYSLOG_IDENTIFIER", opt.identifier);
    if (opt.klog) field(out, "SYSLOG_FACILITY", "0"); // kern, like the kernel's own lines
}

void message_field(std::string &out, Direction d, Verdict v, bool suppressed) {
    const auto at = begin_field(out, "NETLOG_MESSAGE");
    out += to_string(d);
    out += '-';
    out += to_string(v);
    if (suppressed) out += "-suppressed";
    end_field(out, at);
}

void host_fields(std::string &out, const JournalOptions &opt) {
    field(out, "NETLOG_HOST_IP", opt.host_ip);
    field(out, "NETLOG_HOST_GUID", opt.host_guid);
}

} // namespace

std::size_t journal_message_begin(std::string &out) {
    return begin_field(out, "MESSAGE");
}

void journal_message_end(std::string &out, std::size_t begin) {
    if (out.size() > begin + 4 + 8 && out.back() == '\n') out.pop_back();
    end_field(out, begin);
}

int journal_priority(const Event &ev, const JournalOptions &opt) {
    if (opt.priority >= 0) return opt.priority;
    if (!opt.klog) return 6;
    // The LOG rule's level; a LOG rule without the options tag has LOG's default, 4.
    return event_log_level(ev).value_or(4);
}

void journal_event_fields(const Event &ev, const JournalOptions &opt, std::string &out) {
    const Packet &p = ev.packet;
    common_fields(out, opt, journal_priority(ev, opt));
    message_field(out, ev.direction, ev.verdict, false);
    if (ev.cls) field(out, "NETLOG_CLASS", ev.cls->name);
    {
        const auto at = begin_field(out, "NETLOG_TIMESTAMP");
        text::append_epoch(out, ev.time);
        end_field(out, at);
    }
    field_ip(out, "NETLOG_SRC_IP", p.src);
    field_ip(out, "NETLOG_DST_IP", p.dst);
    if (p.has_ports) {
        field_uint(out, "NETLOG_SRC_PORT", p.src_port);
        field_uint(out, "NETLOG_DST_PORT", p.dst_port);
    }
    if (!p.protocol_unknown) {
        const auto name = protocol_name(p.protocol);
        if (!name.empty())
            field(out, "NETLOG_PROTOCOL", name);
        else
            field_uint(out, "NETLOG_PROTOCOL", p.protocol);
    }
    const bool icmp =
        (p.l3 == L3::ipv4 && p.protocol == 1) || (p.l3 == L3::ipv6 && p.protocol == 58);
    if (icmp && p.has_icmp) {
        field_uint(out, "NETLOG_ICMP_TYPE", p.icmp_type);
        field_uint(out, "NETLOG_ICMP_CODE", p.icmp_code);
    }
    char cid[community_id_size];
    if (community_id(p, cid) == community_id_size)
        field(out, "NETLOG_COMMUNITY_ID", std::string_view(cid, community_id_size));
    field(out, "NETLOG_PREFIX", event_log_prefix(ev));
    if (ev.msg && ev.msg->mark && *ev.msg->mark != 0) {
        const auto at = begin_field(out, "NETLOG_MARK");
        out += "0x";
        text::append_hex(out, *ev.msg->mark);
        end_field(out, at);
    }
    field(out, "NETLOG_IN_INTERFACE", ev.in_name);
    field(out, "NETLOG_OUT_INTERFACE", ev.out_name);
    container_fields(out, ev.container);
    host_fields(out, opt);
    put_u32(out, 0);
}

void journal_summary_fields(const SuppressionEvent &s, const JournalOptions &opt,
                            std::string &out) {
    common_fields(out, opt, opt.priority >= 0 ? opt.priority : 6);
    message_field(out, s.direction, s.verdict, true);
    field_uint(out, "NETLOG_SUPPRESSED", s.count);
    if (s.cls) field(out, "NETLOG_CLASS", s.cls->name);
    field_ip(out, s.direction == Direction::ingress ? "NETLOG_DST_IP" : "NETLOG_SRC_IP", s.ip);
    container_fields(out, s.container);
    host_fields(out, opt);
    put_u32(out, 0);
}

bool JournalEntries::next(std::vector<std::string_view> &fields) {
    fields.clear();
    std::size_t p = pos_;
    for (;;) {
        if (buf_.size() - p < 4) {
            broken_ = p != buf_.size() || !fields.empty();
            fields.clear();
            return false;
        }
        const std::uint32_t len = get_u32(buf_.data() + p);
        p += 4;
        if (len == 0) break;
        if (buf_.size() - p < len) {
            broken_ = true;
            fields.clear();
            return false;
        }
        fields.push_back(buf_.substr(p, len));
        p += len;
    }
    pos_ = p;
    return true;
}

std::size_t journal_count_entries(std::string_view buf) {
    std::size_t n = 0, p = 0;
    while (buf.size() - p >= 4) {
        const std::uint32_t len = get_u32(buf.data() + p);
        p += 4;
        if (len == 0)
            ++n;
        else if (buf.size() - p < len)
            break;
        else
            p += len;
    }
    return n;
}

} // namespace netlog
