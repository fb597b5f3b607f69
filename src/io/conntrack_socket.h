// The conntrack netlink sockets of `connections:` (netlog/conntrack.h): one subscribed to
// the kernel's conntrack events (NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY) of netlogd's
// network namespace, one for the GET requests that make the kernel reap an expired entry
// (and so send its DESTROY) and for their answers. Both non-blocking; the pipeline thread
// drains them. Only the kernel's messages (sender port id 0) are kept.
#pragma once

#include "unique_fd.h"

#include <netlog/nflog.h>
#include <netlog/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace netlog::io {

class ConntrackSocket {
  public:
    // Opens and subscribes (CAP_NET_ADMIN). `buffer`: the event socket's receive buffer.
    static Result<std::unique_ptr<ConntrackSocket>> open(std::uint32_t buffer);
    ~ConntrackSocket();
    ConntrackSocket(const ConntrackSocket &) = delete;
    ConntrackSocket &operator=(const ConntrackSocket &) = delete;

    int event_fd() const { return events_.get(); }
    // Every datagram waiting on either socket to `fn` (events first). Returns at once.
    void drain(const std::function<void(Bytes)> &fn);
    // Send netlink requests (back to back) on the request socket; false when the kernel
    // refused them (its buffer full: they are asked again later).
    bool send(const std::vector<std::uint8_t> &requests);

    std::uint64_t overruns() const { return overruns_; } // ENOBUFS: events the kernel dropped
    std::uint64_t foreign() const { return foreign_; }   // datagrams not from the kernel

    // Whether conntrack accounting (packets and bytes) is on in this namespace
    // (/proc/sys/net/netfilter/nf_conntrack_acct); nullopt when it cannot be read.
    static std::optional<bool> accounting_on();

  private:
    ConntrackSocket() = default;
    void drain_one(int fd, const std::function<void(Bytes)> &fn);
    base::UniqueFd events_, requests_;
    std::vector<std::uint8_t> buf_;
    std::uint64_t overruns_ = 0, foreign_ = 0;
};

} // namespace netlog::io
