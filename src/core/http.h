// The request head of the metrics endpoint's HTTP/1.x, judged as its bytes arrive. Pure:
// the io layer reads, this says whether what arrived so far is a complete request the
// endpoint serves, needs more bytes, or is refused (and with which status). The endpoint
// serves GET and HEAD without a body: any other method is refused at its first line, a
// declared body as soon as its header arrives, a head past the limits at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace netlog {

struct HttpLimits {
    std::size_t max_head_bytes = 8192; // request line + headers + the empty line
    std::size_t max_header_lines = 64;
};

enum class HttpVerdict {
    incomplete,            // a prefix of an acceptable head: read on
    ok,                    // a complete GET/HEAD head; `HttpRequest` says which target
    bad_request,           // 400: not HTTP/1.x request syntax
    method_not_allowed,    // 405: not GET or HEAD (known from the first bytes)
    body_not_allowed,      // 413: Content-Length > 0 or Transfer-Encoding
    head_too_large,        // 431: more bytes or header lines than HttpLimits allows
    version_not_supported, // 505: HTTP/2 and others
};

struct HttpRequest {
    std::string_view target; // the path as sent, query included ("/metrics", "/healthz?x")
    bool head = false;       // HEAD: the response carries no body
};

// `buf` is every byte the connection sent so far. On `ok`, `out.target` points into `buf`.
HttpVerdict http_parse_head(std::string_view buf, const HttpLimits &limits, HttpRequest &out);

// The status code of a refusal (400, 405, 413, 431, 505); 200 for ok.
int http_status(HttpVerdict v);

// A whole HTTP/1.1 response that closes the connection: status line, Content-Type,
// Content-Length, `Connection: close` (and `Allow: GET, HEAD` with 405), then the body
// unless `head`.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head = false);

// The reason phrase of the statuses above (and 200, 404, 503).
std::string_view http_reason(int status);

} // namespace netlog
