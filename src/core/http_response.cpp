// HTTP/1.1 response head and body framing (RFC 9112): status line, headers,
// Content-Length / chunked / read-until-close bodies.
#include "http_response.h"
#include "printable.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace netlog {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// A line of the response quoted in a message (printable.h), at most this many bytes of it.
std::string quoted(std::string_view s) {
    return printable(s, 80);
}

} // namespace

void HttpResponseReader::fail(std::string what) {
    state_ = State::error;
    error_ = std::move(what);
}

bool HttpResponseReader::header(std::string_view name, std::string_view value) {
    if (iequals(name, "Content-Length")) {
        std::uint64_t n = 0;
        auto r = std::from_chars(value.data(), value.data() + value.size(), n);
        if (r.ec != std::errc{} || r.ptr != value.data() + value.size() || value.empty()) {
            fail(fmt::format("bad Content-Length '{}'", quoted(value)));
            return false;
        }
        if (have_length_ && n != length_) {
            fail("two different Content-Length headers");
            return false;
        }
        have_length_ = true;
        length_ = n;
    } else if (iequals(name, "Transfer-Encoding")) {
        // only "chunked" (last) is understood; anything else cannot be framed
        const auto comma = value.rfind(',');
        const auto last = trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
        if (!iequals(last, "chunked")) {
            fail(fmt::format("unsupported Transfer-Encoding '{}'", quoted(value)));
            return false;
        }
        chunked_ = true;
    } else if (iequals(name, "Content-Type") && content_type_.empty()) {
        content_type_ = value;
    } else if (iequals(name, "Api-Version") && api_version_.empty()) {
        api_version_ = value;
    }
    return true;
}

bool HttpResponseReader::parse_head() {
    std::string_view h(head_);
    auto eol = h.find('\n');
    std::string_view line = h.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
        !std::all_of(line.begin() + 9, line.begin() + 12,
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        (line.size() > 12 && line[12] != ' ')) {
        fail(fmt::format("not an HTTP/1.x response: '{}'", quoted(line)));
        return false;
    }
    status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    h.remove_prefix(eol + 1);
    while (!h.empty()) {
        eol = h.find('\n');
        line = h.substr(0, eol);
        h.remove_prefix(eol == std::string_view::npos ? h.size() : eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            fail(fmt::format("bad header line '{}'", quoted(line)));
            return false;
        }
        if (!header(line.substr(0, colon), trim(line.substr(colon + 1)))) return false;
    }
    if (chunked_) have_length_ = false; // Transfer-Encoding wins (RFC 9112 6.3)
    if (have_length_ && length_ > limits_.max_body_bytes) {
        fail(fmt::format("body of {} bytes is over the limit of {}", length_,
                         limits_.max_body_bytes));
        return false;
    }
    head_.clear();
    // 1xx, 204 and 304 have no body
    if (status_ < 200 || status_ == 204 || status_ == 304 || (have_length_ && length_ == 0))
        state_ = State::done;
    else
        state_ = State::body;
    return true;
}

std::size_t HttpResponseReader::feed(std::string_view data, std::string &body) {
    std::size_t used = 0;
    while (used < data.size() && (state_ == State::head || state_ == State::body)) {
        std::string_view rest = data.substr(used);
        if (state_ == State::head) {
            // up to and including the empty line that ends the head
            const auto before = head_.size();
            head_.append(
                rest.substr(0, std::min(rest.size(), limits_.max_head_bytes + 4 - before)));
            auto end = head_.find("\r\n\r\n");
            std::size_t end_len = 4;
            if (auto lf = head_.find("\n\n");
                lf != std::string::npos && (end == std::string::npos || lf < end)) {
                end = lf;
                end_len = 2;
            }
            // Another protocol's server is told apart from the first bytes (it may never
            // send an empty line, or close before one).
            if (const auto n = std::min<std::size_t>(head_.size(), 7);
                std::string_view(head_).substr(0, n) != std::string_view("HTTP/1.").substr(0, n)) {
                const auto eol = head_.find_first_of("\r\n");
                fail(fmt::format("not an HTTP/1.x response: '{}'", quoted(head_.substr(0, eol))));
                return used;
            }
            if (end == std::string::npos) {
                if (head_.size() > limits_.max_head_bytes) {
                    fail(fmt::format("response head longer than {} bytes", limits_.max_head_bytes));
                    return used;
                }
                used += head_.size() - before;
                continue;
            }
            used += end + end_len - before;
            head_.resize(end + end_len);
            if (!parse_head()) return used;
            continue;
        }
        if (!chunked_) {
            std::size_t take = rest.size();
            if (have_length_)
                take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(take, length_ - body_seen_));
            else if (body_seen_ + take > limits_.max_body_bytes) {
                fail(fmt::format("body longer than the limit of {} bytes", limits_.max_body_bytes));
                return used;
            }
            body.append(rest.substr(0, take));
            body_seen_ += take;
            used += take;
            if (have_length_ && body_seen_ == length_) state_ = State::done;
            continue;
        }
        switch (chunk_) {
        case Chunk::size:
        case Chunk::trailer: {
            const auto nl = rest.find('\n');
            const auto piece = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
            head_.append(piece);
            used += piece.size();
            if (head_.size() > 4096) {
                fail("chunk line longer than 4096 bytes");
                return used;
            }
            if (nl == std::string_view::npos) continue;
            std::string_view line(head_);
            line.remove_suffix(1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (chunk_ == Chunk::trailer) { // trailer fields until an empty line
                if (line.empty()) state_ = State::done;
                head_.clear();
                continue;
            }
            const auto semi = line.find(';'); // chunk extensions are ignored
            const auto hex = trim(line.substr(0, semi));
            std::uint64_t n = 0;
            auto r = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
            if (hex.empty() || r.ec != std::errc{} || r.ptr != hex.data() + hex.size()) {
                fail(fmt::format("bad chunk size '{}'", quoted(line)));
                return used;
            }
            head_.clear();
            if (n == 0) {
                chunk_ = Chunk::trailer;
                continue;
            }
            if (body_seen_ + n > limits_.max_body_bytes) {
                fail(fmt::format("body longer than the limit of {} bytes", limits_.max_body_bytes));
                return used;
            }
            length_ = n;
            chunk_ = Chunk::data;
            continue;
        }
        case Chunk::data: {
            const auto take =
                static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), length_));
            body.append(rest.substr(0, take));
            body_seen_ += take;
            length_ -= take;
            used += take;
            if (length_ == 0) chunk_ = Chunk::data_crlf;
            continue;
        }
        case Chunk::data_crlf: {
            // CRLF (or a bare LF) after the chunk's data
            const char c = rest.front();
            if (c == '\r' && head_.empty()) {
                head_ = "\r";
                ++used;
            } else if (c == '\n') {
                head_.clear();
                ++used;
                chunk_ = Chunk::size;
            } else {
                fail("chunk data not followed by CRLF");
                return used;
            }
            continue;
        }
        }
    }
    return used;
}

void HttpResponseReader::finish() {
    if (state_ == State::body && !chunked_ && !have_length_) {
        state_ = State::done; // a body delimited by the close
        return;
    }
    if (state_ == State::head)
        fail(head_.empty() ? "connection closed before a response"
                           : "connection closed in the response head");
    else if (state_ == State::body)
        fail("connection closed before the end of the body");
}

} // namespace netlog
