// The table of followed connections (ConnectionTracker, netlog/conntrack.h): what each
// logged connection attempt became, from the ctnetlink messages and probes.
#include <netlog/conntrack.h>

#include <algorithm>
#include <cstdint>

namespace netlog {

namespace {

// A ctnetlink timestamp (unsigned 64-bit ns, which the core's signed to_timestamp would
// read as before the epoch past 2262) as a Timestamp.
Timestamp kernel_time(std::uint64_t ns) {
    return {static_cast<std::int64_t>(ns / 1'000'000'000),
            static_cast<std::uint32_t>(ns % 1'000'000'000)};
}

// Nanoseconds since the epoch, saturated (a kernel timestamp is 64 bits of ns unsigned).
std::int64_t ns_of(Timestamp t) {
    constexpr std::int64_t max_sec = INT64_MAX / 1'000'000'000 - 1;
    if (t.sec > max_sec) return INT64_MAX;
    if (t.sec < -max_sec) return INT64_MIN;
    return t.sec * 1'000'000'000 + t.nsec;
}

} // namespace

std::string_view to_string(ConnOutcome o) {
    switch (o) {
    case ConnOutcome::refused: return "refused";
    case ConnOutcome::unanswered: return "unanswered";
    case ConnOutcome::unreachable: return "unreachable";
    }
    return "unknown";
}

namespace {

constexpr std::int64_t first_probe_ns = 2'000'000'000; // when no message gave a timeout yet
constexpr std::int64_t reprobe_ns = 1'000'000'000;     // after a GET (no answer, or ENOENT)
constexpr std::int64_t past_timeout_ns = 500'000'000;  // after the timeout a message gave
constexpr std::uint32_t max_misses = 4;                // ENOENT answers before `lost`
constexpr std::int64_t recent_ns = 5'000'000'000;      // a DESTROY waits this long for its SYN
constexpr std::size_t recent_max = 8192;

bool is_transport(std::uint8_t proto) {
    return proto == 6 || proto == 17;
}

CtTuple tuple_of(const Packet &p) {
    return {p.src, p.dst, p.protocol, p.src_port, p.dst_port};
}

} // namespace

bool ConnectionTracker::starts_connection(const Packet &p) {
    if (!p.has_ports || p.is_fragment) return false;
    if (p.protocol == 17) return true;
    return p.protocol == 6 && p.has_transport && (p.tcp_flags & tcp_flag::syn) &&
           !(p.tcp_flags & tcp_flag::ack);
}

void ConnectionTracker::schedule(const CtTuple &key, Entry &e, std::int64_t at_ns) {
    e.deadline_ns = at_ns;
    due_.push({at_ns, key});
    if (due_.size() > 2 * table_.size() + 1024) { // stale deadlines: rebuild
        decltype(due_) fresh;
        for (const auto &[k, v] : table_) fresh.push({v.deadline_ns, k});
        due_ = std::move(fresh);
    }
}

ConnectionTracker::Follow
ConnectionTracker::follow(const Packet &p, Direction d, Timestamp time, std::int64_t now_ns,
                          std::string body, std::uint64_t outputs,
                          const std::function<void(const ConnEnd &)> &emit) {
    const CtTuple key = tuple_of(p);
    if (table_.count(key)) return Follow::already; // a retransmitted first packet
    if (table_.size() >= opt_.max_tracked) {
        ++c_.untracked;
        return Follow::full;
    }
    auto [it, ok] = table_.emplace(key, Entry{});
    (void)ok;
    Entry &e = it->second;
    e.direction = d;
    e.start = time;
    e.outputs = outputs;
    e.body = std::move(body);
    ++c_.followed;
    ++c_.active;
    if (auto r = recent_.find(key); r != recent_.end()) {
        // Its DESTROY came before its NFLOG event; an older connection's (the same tuple
        // reused) ended before this packet was logged.
        const Destroyed dd = r->second;
        recent_.erase(r);
        if (ns_of(dd.wall) >= ns_of(time)) {
            end(it, dd.m, dd.wall, emit);
            return Follow::followed;
        }
    }
    schedule(key, e, now_ns + first_probe_ns);
    return Follow::followed;
}

void ConnectionTracker::icmp(const Packet &p) {
    if (table_.empty() || !p.has_icmp) return;
    const bool unreach = (p.l3 == L3::ipv4 && p.protocol == 1 && p.icmp_type == 3) ||
                         (p.l3 == L3::ipv6 && p.protocol == 58 && p.icmp_type == 1);
    if (!unreach || p.transport.size() <= 8) return;
    const Packet inner = packet_decode(p.transport.subspan(8), 0);
    if (!inner.has_ports || !is_transport(inner.protocol)) return;
    auto it = table_.find(tuple_of(inner));
    if (it == table_.end()) return;
    if (!it->second.unreachable) ++c_.icmp_errors;
    it->second.unreachable = true;
}

ConnectionTracker::Table::iterator ConnectionTracker::find(const CtMessage &m) {
    if (m.orig) {
        if (auto it = table_.find(*m.orig); it != table_.end()) return it;
    }
    if (m.reply) return table_.find(m.reply->inverted()); // NAT'd after the NFLOG rule
    return table_.end();
}

void ConnectionTracker::remember(const CtMessage &m, Timestamp wall, std::int64_t now_ns) {
    while (!recent_order_.empty() && (recent_order_.front().first < now_ns - recent_ns ||
                                      recent_order_.size() > recent_max)) {
        const auto &[at, key] = recent_order_.front();
        if (auto r = recent_.find(key); r != recent_.end() && r->second.at_ns == at)
            recent_.erase(r);
        recent_order_.pop_front();
    }
    if (m.type != CtType::destroy || !m.orig || !is_transport(m.orig->protocol)) return;
    for (const auto &key : {*m.orig, m.reply ? m.reply->inverted() : *m.orig}) {
        recent_[key] = Destroyed{m, wall, now_ns};
        recent_order_.push_back({now_ns, key});
    }
}

void ConnectionTracker::message(const CtMessage &m, std::int64_t now_ns, Timestamp wall,
                                const std::function<void(const ConnEnd &)> &emit) {
    ++c_.messages;
    auto it = find(m);
    if (it == table_.end()) {
        remember(m, wall, now_ns);
        return;
    }
    Entry &e = it->second;
    e.misses = 0;
    if (!e.ct_orig && m.orig) e.ct_orig = m.orig;
    if (m.type == CtType::destroy) {
        end(it, m, wall, emit);
        return;
    }
    if (m.timeout)
        schedule(it->first, e, now_ns + std::int64_t{*m.timeout} * 1'000'000'000 + past_timeout_ns);
}

void ConnectionTracker::end(Table::iterator it, const CtMessage &m, Timestamp wall,
                            const std::function<void(const ConnEnd &)> &emit) {
    const Entry &e = it->second;
    ConnEnd x;
    x.direction = e.direction;
    x.time = m.stop_ns ? kernel_time(*m.stop_ns) : wall;
    // The kernel's stop - start when it keeps timestamps, else the first packet's time to now.
    std::uint64_t span = 0;
    if (m.start_ns && m.stop_ns) {
        span = *m.stop_ns >= *m.start_ns ? *m.stop_ns - *m.start_ns : 0;
    } else {
        std::int64_t d = 0;
        if (!__builtin_sub_overflow(ns_of(x.time), ns_of(e.start), &d) && d > 0)
            span = static_cast<std::uint64_t>(d);
    }
    x.duration_ms = span / 1'000'000;
    x.body = e.body;
    x.outputs = e.outputs;
    const bool established = m.status && (*m.status & ct_status::seen_reply);
    bool say = false;
    if (!established) {
        x.failed = true;
        // A TCP entry destroyed in state CLOSE without a reply: the peer's RST (which the
        // kernel counts in the reply direction, but not as a reply).
        const bool rst = it->first.protocol == 6 && m.tcp_state == ct_tcp::close &&
                         (!m.reply_counters || m.reply_counters->packets > 0);
        x.outcome = e.unreachable ? ConnOutcome::unreachable
                    : rst         ? ConnOutcome::refused
                                  : ConnOutcome::unanswered;
        say = opt_.outcomes;
        if (say) {
            switch (x.outcome) {
            case ConnOutcome::refused: ++c_.refused; break;
            case ConnOutcome::unanswered: ++c_.unanswered; break;
            case ConnOutcome::unreachable: ++c_.unreachable; break;
            }
        }
    } else {
        x.orig = m.orig_counters;
        x.reply = m.reply_counters;
        say = opt_.flow_end;
        if (say) ++c_.closed;
    }
    if (!say) ++c_.quiet;
    if (say) emit(x);
    table_.erase(it);
    --c_.active;
}

void ConnectionTracker::probe_failed(const CtMessage &request, std::int64_t now_ns) {
    auto it = find(request);
    if (it == table_.end()) return;
    Entry &e = it->second;
    if (++e.misses >= max_misses) { // the kernel has no such entry, and no DESTROY came
        ++c_.lost;
        --c_.active;
        table_.erase(it);
        return;
    }
    schedule(it->first, e, now_ns + reprobe_ns);
}

void ConnectionTracker::due(std::int64_t now_ns, std::size_t max,
                            const std::function<void(const CtTuple &, bool)> &probe) {
    std::size_t n = 0;
    while (!due_.empty() && due_.top().first <= now_ns && n < max) {
        const auto [at, key] = due_.top();
        due_.pop();
        auto it = table_.find(key);
        if (it == table_.end() || it->second.deadline_ns != at) continue; // moved or gone
        Entry &e = it->second;
        // By the kernel's original tuple once known; else the packet's tuple as the
        // original, then (a NAT after the rule) as the reply's inverse, in turn.
        if (e.ct_orig)
            probe(*e.ct_orig, false);
        else if (e.misses % 2 == 0)
            probe(key, false);
        else
            probe(key.inverted(), true);
        ++c_.probes;
        ++n;
        schedule(key, e, now_ns + reprobe_ns);
    }
}

} // namespace netlog
