// The pipeline's side of `connections:`: the allowed first packets it emitted are
// followed (ConnectionTracker, conntrack.h), the conntrack messages the daemon reads are
// handed to the tracker, and what a followed connection became is written to the json
// outputs that took its first packet.
#include <netlog/conntrack.h>
#include <netlog/format.h>
#include <netlog/pipeline.h>

namespace netlog {

// The json outputs (not journal-framed) that took ev_: a bit each (the first 64 outputs).
void Pipeline::follow(const BatchTime &t, LineOutputs &out) {
    std::uint64_t mask = 0;
    const JsonOptions *json = nullptr;
    for (std::size_t i = 0; i < opt_.outputs.size() && i < 64; ++i) {
        const auto &o = opt_.outputs[i];
        if (o.format != OutputFormat::json || o.journal.enabled || !selects(ev_, i)) continue;
        mask |= std::uint64_t{1} << i;
        if (!json) json = &o.json;
    }
    if (!mask) return;
    std::string body;
    json_connection_body(ev_, *json, body);
    tracker_->follow(ev_.packet, ev_.direction, ev_.time, t.now_ns, std::move(body), mask,
                     [&](const ConnEnd &x) { emit_connection(x, out); });
    c_.connections = tracker_->counters();
}

void Pipeline::emit_connection(const ConnEnd &x, LineOutputs &out) {
    for (std::size_t i = 0; i < opt_.outputs.size() && i < 64; ++i) {
        const auto &o = opt_.outputs[i];
        if (!(x.outputs >> i & 1) || o.format != OutputFormat::json || o.journal.enabled) continue;
        format_json_connection(x, o.json, out.line(i, -1));
        out.line_done(i);
    }
}

void Pipeline::conntrack_datagram(Bytes d, const BatchTime &t, LineOutputs &out) {
    if (!tracker_) return;
    const auto emit = [&](const ConnEnd &x) { emit_connection(x, out); };
    const bool ok = ct_parse_datagram(
        d, [&](const CtMessage &m) { tracker_->message(m, t.now_ns, t.received, emit); },
        [&](int, const CtMessage *req) {
            if (req) tracker_->probe_failed(*req, t.now_ns);
        });
    auto c = tracker_->counters();
    if (!ok) {
        ++c.bad_messages;
        tracker_->set_counters(c);
    }
    c_.connections = c;
}

void Pipeline::conntrack_probes(std::int64_t now_ns, std::vector<std::uint8_t> &out) {
    if (!tracker_) return;
    tracker_->due(now_ns, 256, [&](const CtTuple &k, bool by_reply) {
        ct_build_get(k, by_reply, ++probe_seq_, out);
    });
    c_.connections = tracker_->counters();
}

} // namespace netlog
