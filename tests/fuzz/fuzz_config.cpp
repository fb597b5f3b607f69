// libFuzzer: netlogd.yaml text -> config_parse -> config_summary. A refusal must name the
// file (and, where yaml-cpp knows it, line and column); an accepted config must hold what
// netlogd relies on without checking again (a rules path, at least one output, each output
// with what its type needs, numbers in their ranges).
#include <netlog/config.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool ok, const char *what, const std::string &detail) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n%s\n", what, detail.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    auto c = netlog::config_parse(text, "fuzz.yaml");
    if (!c) {
        const std::string &m = c.error().message;
        require(m.rfind("fuzz.yaml", 0) == 0, "a refusal that does not name the file", m);
        return 0;
    }
    require(!c->rules_path.empty(), "accepted without a rules path", c->rules_path);
    require(!c->outputs.empty(), "accepted without outputs", "");
    for (const auto &o : c->outputs) {
        if (o.type == netlog::OutputType::file)
            require(!o.path.empty(), "a file output without a path", o.where);
        if (o.type == netlog::OutputType::syslog)
            require(!o.address.empty(), "a syslog output without an address", o.where);
        require(o.syslog.facility >= -1 && o.syslog.facility <= 23, "facility out of range",
                o.where);
        require(o.syslog.severity >= -1 && o.syslog.severity <= 7, "severity out of range",
                o.where);
    }
    require(c->queue > 0, "accepted a zero queue", "");
    require(c->nflog.copy_range > 0 && c->nflog.queue_threshold > 0,
            "accepted a zero copy_range or queue_threshold", "");
    if (c->rate_limit) require(c->rate_limit->rate >= 0, "a negative rate", "");
    (void)netlog::config_summary(*c);
    (void)netlog::config_resolve_path("/etc/netlog/netlogd.yaml", c->rules_path);
    (void)netlog::config_resolve_path("netlogd.yaml", c->store_path);
    return 0;
}
