// A tiny HTTP/1.1 client over a unix socket, for the Docker/Podman API: one GET per
// connection (`Connection: close`), every wait bounded by a deadline, and a stop
// descriptor (an eventfd) that ends any wait at once. The framing is the core's
// HttpResponseReader (src/core/http_response.h).
#pragma once

#include "unique_fd.h"

#include "http_response.h"
#include <netlog/result.h>

#include <memory>
#include <string>
#include <string_view>

namespace netlog::io {

struct UnixHttpResponse {
    int status = 0;
    std::string body;
};

// A GET on a stream whose body arrives over time (GET /events). open() connects, sends
// the request and waits (at most `head_timeout_ms`) for the response head.
class UnixHttpStream {
  public:
    // Errors, one line each: the socket is missing, refuses, or may not be opened
    // ("permission denied"); no head within the timeout; not an HTTP response; stopped.
    static Result<std::unique_ptr<UnixHttpStream>>
    open(const std::string &socket_path, std::string_view target, int head_timeout_ms, int stop_fd);
    ~UnixHttpStream();
    UnixHttpStream(const UnixHttpStream &) = delete;
    UnixHttpStream &operator=(const UnixHttpStream &) = delete;

    int fd() const { return fd_.get(); }
    int status() const { return reader_.status(); }
    // Read what the socket has now (it never blocks) and append the decoded body to
    // `body`. False once the response ended, the peer closed or an error happened:
    // error() says which ("" for a complete response).
    bool read_some(std::string &body);
    const std::string &error() const { return error_; }
    bool complete() const { return reader_.done(); }

  private:
    UnixHttpStream(int fd, HttpResponseLimits limits) : fd_(fd), reader_(limits) {}
    base::UniqueFd fd_;
    HttpResponseReader reader_;
    std::string error_;
    std::string pending_; // body bytes that came with the head
};

// A whole GET, at most `timeout_ms` from connect to the last byte.
Result<UnixHttpResponse> unix_http_get(const std::string &socket_path, std::string_view target,
                                       int timeout_ms, int stop_fd);

} // namespace netlog::io
