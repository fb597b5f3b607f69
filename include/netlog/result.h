// Result<T>: a value or an error message, the one way netlog's fallible functions report
// failure (g++ 12 has no std::expected). Errors are plain text meant for the user: what
// was wrong, where, and what to do. A function with nothing to return on success returns
// Status (Result<void>): `return {};` is success, `return make_error(...)` failure.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace netlog {

struct Error {
    std::string message;
};

template <class T> class Result {
  public:
    Result(T value) : v_(std::move(value)) {}     // NOLINT: implicit on purpose
    Result(Error error) : v_(std::move(error)) {} // NOLINT: implicit on purpose

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T &value() & { return std::get<0>(v_); }
    const T &value() const & { return std::get<0>(v_); }
    T &&value() && { return std::get<0>(std::move(v_)); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    T &operator*() { return value(); }
    const T &operator*() const { return value(); }

    const Error &error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <> class Result<void> {
  public:
    Result() = default;                           // success
    Result(Error error) : v_(std::move(error)) {} // NOLINT: implicit on purpose

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    const Error &error() const { return std::get<1>(v_); }

  private:
    std::variant<std::monostate, Error> v_; // as cheap as Result<bool> on the hot path
};

using Status = Result<void>;

inline Error make_error(std::string message) {
    return Error{std::move(message)};
}

} // namespace netlog
