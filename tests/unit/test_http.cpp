#include <doctest/doctest.h>
#include "http.h"

#include <string>

using namespace netlog;

namespace {

HttpVerdict judge(std::string_view s, HttpLimits l = {}) {
    HttpRequest r;
    return http_parse_head(s, l, r);
}

} // namespace

TEST_CASE("a GET head is complete at its empty line, with its target") {
    HttpRequest r;
    const std::string_view req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:7561\r\n"
                                 "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain\r\n\r\n";
    for (std::size_t i = 0; i < req.size(); ++i)
        CHECK_MESSAGE(http_parse_head(req.substr(0, i), {}, r) == HttpVerdict::incomplete, i);
    REQUIRE(http_parse_head(req, {}, r) == HttpVerdict::ok);
    CHECK(r.target == "/metrics");
    CHECK_FALSE(r.head);
    REQUIRE(http_parse_head("HEAD /healthz?x=1 HTTP/1.0\n\n", {}, r) == HttpVerdict::ok);
    CHECK(r.head);
    CHECK(r.target == "/healthz?x=1");
}

TEST_CASE("any other method is refused from its first bytes, before the line ends") {
    CHECK(judge("POST") == HttpVerdict::method_not_allowed);
    CHECK(judge("PUT /metrics") == HttpVerdict::method_not_allowed);
    CHECK(judge("GE") == HttpVerdict::incomplete);
    CHECK(judge("GETX ") == HttpVerdict::method_not_allowed);
    CHECK(judge("HEA") == HttpVerdict::incomplete);
    CHECK(judge("G\x01T") == HttpVerdict::bad_request);
    CHECK(http_status(HttpVerdict::method_not_allowed) == 405);
}

TEST_CASE("a declared body is refused as soon as its header arrives") {
    CHECK(judge("GET / HTTP/1.1\r\nContent-Length: 300000000\r\n") ==
          HttpVerdict::body_not_allowed);
    CHECK(judge("GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n") ==
          HttpVerdict::body_not_allowed);
    CHECK(judge("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == HttpVerdict::ok);
    CHECK(judge("GET / HTTP/1.1\r\nContent-Length: -1\r\n") == HttpVerdict::bad_request);
    CHECK(http_status(HttpVerdict::body_not_allowed) == 413);
}

TEST_CASE("a head past the byte or line limit is refused without waiting for its end") {
    const HttpLimits l{256, 4};
    std::string big = "GET / HTTP/1.1\r\nX: " + std::string(300, 'a');
    CHECK(judge(big, l) == HttpVerdict::head_too_large);
    CHECK(judge(std::string("GET /") + std::string(300, 'a'), l) == HttpVerdict::head_too_large);
    std::string many = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 4; ++i) many += "A: b\r\n";
    CHECK(judge(many, l) == HttpVerdict::incomplete);
    CHECK(judge(many + "\r\n", l) == HttpVerdict::ok);
    CHECK(judge(many + "A: b\r\n", l) == HttpVerdict::head_too_large);
    CHECK(http_status(HttpVerdict::head_too_large) == 431);
}

TEST_CASE("what is not HTTP/1.x request syntax is a bad request") {
    CHECK(judge("GET /metrics\r\n") == HttpVerdict::bad_request); // HTTP/0.9
    CHECK(judge("GET metrics HTTP/1.1\r\n") == HttpVerdict::bad_request);
    CHECK(judge("GET / HTTP/2.0\r\n") == HttpVerdict::version_not_supported);
    CHECK(judge("GET / HTTP/1.1\r\n folded\r\n") == HttpVerdict::bad_request);
    CHECK(judge("GET / HTTP/1.1\r\nno colon\r\n") == HttpVerdict::bad_request);
    CHECK(judge("GET / HTTP/1.1\r\nBad Name: x\r\n") == HttpVerdict::bad_request);
    CHECK(judge("\r\n") == HttpVerdict::bad_request);
}

TEST_CASE("a response closes the connection and carries its length") {
    CHECK(http_response(200, "text/plain", "ok\n") ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
          "Connection: close\r\n\r\nok\n");
    CHECK(http_response(405, "text/plain", "x", true) ==
          "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n"
          "Connection: close\r\nAllow: GET, HEAD\r\n\r\n");
}
