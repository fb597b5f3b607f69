// The metrics endpoint's request head: judged line by line as bytes arrive.
#include "http.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace netlog {

namespace {

bool token_char(char c) {
    // RFC 9110 tchar
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The method, judged byte by byte as it arrives: the first byte that is not a token
// character, or that no GET/HEAD continues with, decides; a longer method never changes
// the verdict a shorter prefix of it gave.
HttpVerdict judge_method(std::string_view m, bool complete) {
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (!token_char(m[i])) return HttpVerdict::bad_request;
        const auto p = m.substr(0, i + 1);
        if (std::string_view("GET").substr(0, p.size()) != p &&
            std::string_view("HEAD").substr(0, p.size()) != p)
            return HttpVerdict::method_not_allowed;
    }
    if (m == "GET" || m == "HEAD") return HttpVerdict::ok;
    if (!complete) return HttpVerdict::incomplete;
    return m.empty() ? HttpVerdict::bad_request : HttpVerdict::method_not_allowed;
}

HttpVerdict request_line(std::string_view line, HttpRequest &out) {
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return HttpVerdict::bad_request;
    if (auto v = judge_method(line.substr(0, sp1), true); v != HttpVerdict::ok) return v;
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return HttpVerdict::bad_request; // HTTP/0.9
    const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = line.substr(sp2 + 1);
    if (target.empty() || target[0] != '/') return HttpVerdict::bad_request;
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return HttpVerdict::bad_request;
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        !std::isdigit(static_cast<unsigned char>(version[5])) ||
        !std::isdigit(static_cast<unsigned char>(version[7])))
        return HttpVerdict::bad_request;
    if (version[5] != '1') return HttpVerdict::version_not_supported;
    out.target = target;
    out.head = line.substr(0, sp1) == "HEAD";
    return HttpVerdict::ok;
}

HttpVerdict header_line(std::string_view line) {
    if (line.front() == ' ' || line.front() == '\t') return HttpVerdict::bad_request; // obs-fold
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return HttpVerdict::bad_request;
    const auto name = line.substr(0, colon);
    for (char c : name)
        if (!token_char(c)) return HttpVerdict::bad_request;
    const auto value = trim(line.substr(colon + 1));
    if (iequals(name, "Transfer-Encoding")) return HttpVerdict::body_not_allowed;
    if (iequals(name, "Content-Length")) {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos)
            return HttpVerdict::bad_request;
        if (value.find_first_not_of('0') != std::string_view::npos)
            return HttpVerdict::body_not_allowed;
    }
    return HttpVerdict::ok;
}

} // namespace

HttpVerdict http_parse_head(std::string_view buf, const HttpLimits &limits, HttpRequest &out) {
    out = HttpRequest();
    std::size_t pos = 0, lines = 0;
    bool first = true;
    for (;;) {
        const auto nl = buf.find('\n', pos);
        if (first) { // the method is known from its first bytes, before any limit applies
            const auto sp = buf.find(' ');
            const auto m = buf.substr(0, std::min({sp, nl, buf.size()}));
            if (auto v =
                    judge_method(m, sp != std::string_view::npos || nl != std::string_view::npos);
                v != HttpVerdict::ok && v != HttpVerdict::incomplete)
                return v;
        }
        if (nl == std::string_view::npos)
            return buf.size() > limits.max_head_bytes ? HttpVerdict::head_too_large
                                                      : HttpVerdict::incomplete;
        if (nl + 1 > limits.max_head_bytes) return HttpVerdict::head_too_large;
        auto line = buf.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (first) {
            first = false;
            if (auto v = request_line(line, out); v != HttpVerdict::ok) return v;
            continue;
        }
        if (line.empty()) return HttpVerdict::ok;
        if (++lines > limits.max_header_lines) return HttpVerdict::head_too_large;
        if (auto v = header_line(line); v != HttpVerdict::ok) return v;
    }
}

int http_status(HttpVerdict v) {
    switch (v) {
    case HttpVerdict::ok:
    case HttpVerdict::incomplete: return 200;
    case HttpVerdict::bad_request: return 400;
    case HttpVerdict::method_not_allowed: return 405;
    case HttpVerdict::body_not_allowed: return 413;
    case HttpVerdict::head_too_large: return 431;
    case HttpVerdict::version_not_supported: return 505;
    }
    return 400;
}

std::string_view http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Error";
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head) {
    std::string r = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                                "Connection: close\r\n{}\r\n",
                                status, http_reason(status), content_type, body.size(),
                                status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head) r.append(body);
    return r;
}

} // namespace netlog
