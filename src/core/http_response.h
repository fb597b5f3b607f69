// An HTTP/1.1 response read as its bytes arrive: status line, headers, then the body
// (Content-Length, chunked, or until the connection closes), the chunk framing removed.
// Pure: the io layer (src/io/unix_http.h) reads the socket and feeds what it got; a
// streamed body (the Docker events stream) is handed on as it is decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netlog {

struct HttpResponseLimits {
    std::size_t max_head_bytes = 64 * 1024;
    std::uint64_t max_body_bytes = 512ull << 20; // a 20k-container list is ~40 MB
};

class HttpResponseReader {
  public:
    enum class State { head, body, done, error };

    explicit HttpResponseReader(HttpResponseLimits limits = {}) : limits_(limits) {}

    // Feed the next bytes; the body's decoded bytes are appended to `body`. Returns how
    // many bytes of `data` were used: all of them, unless the response ended (done) or
    // is refused (error) before their end.
    std::size_t feed(std::string_view data, std::string &body);
    // The peer closed the connection: a body read until close is complete; anything else
    // unfinished is an error.
    void finish();

    State state() const { return state_; }
    bool done() const { return state_ == State::done; }
    bool failed() const { return state_ == State::error; }
    bool head_done() const { return state_ == State::body || state_ == State::done; }
    int status() const { return status_; }
    bool chunked() const { return chunked_; }
    const std::string &error() const { return error_; }
    // A header's value (the first one; name matched without regard to case); "" if absent.
    // Kept only for Content-Type and Api-Version (and Content-Length/Transfer-Encoding).
    std::string_view content_type() const { return content_type_; }
    std::string_view api_version() const { return api_version_; }

  private:
    bool parse_head();
    bool header(std::string_view name, std::string_view value);
    void fail(std::string what);

    HttpResponseLimits limits_;
    State state_ = State::head;
    std::string head_; // the head so far, then the partial chunk-size line
    int status_ = 0;
    bool chunked_ = false, have_length_ = false;
    std::uint64_t length_ = 0; // Content-Length, or the current chunk's remaining bytes
    std::uint64_t body_seen_ = 0;
    enum class Chunk { size, data, data_crlf, trailer } chunk_ = Chunk::size;
    std::string content_type_, api_version_, error_;
};

} // namespace netlog
