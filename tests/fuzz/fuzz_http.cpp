// libFuzzer: bytes a client sends -> http_parse_head, fed as the listener sees them (every
// prefix, as if each byte arrived in its own read). Checked: a verdict other than
// `incomplete` never turns back into `incomplete` for a longer prefix (the listener acts on
// it at once); `ok` only for a head that ends in an empty line, with a target that starts
// with '/' inside the input; a refusal maps to a 4xx/5xx status; nothing past the limits is
// ever `incomplete`.
#include "http.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

void require(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char *>(data), size);
    const netlog::HttpLimits limits{512, 8};
    for (std::size_t n = 0; n <= all.size(); ++n) {
        netlog::HttpRequest req;
        const auto v = netlog::http_parse_head(all.substr(0, n), limits, req);
        if (v == netlog::HttpVerdict::incomplete) {
            require(n <= limits.max_head_bytes, "incomplete past the byte limit");
            continue;
        }
        if (v == netlog::HttpVerdict::ok) {
            require(!req.target.empty() && req.target[0] == '/', "ok without a /target");
            require(req.target.data() >= all.data() &&
                        req.target.data() + req.target.size() <= all.data() + n,
                    "target outside the input");
            const auto head = all.substr(0, n);
            require(head.size() >= 2 && head.back() == '\n', "ok before the empty line");
        } else {
            const int s = netlog::http_status(v);
            require(s >= 400 && s < 600, "a refusal without an error status");
        }
        // the first final verdict is what the listener answers; a longer prefix must agree
        netlog::HttpRequest again;
        require(netlog::http_parse_head(all, limits, again) == v, "a final verdict changed");
        break;
    }
    return 0;
}
