// Errors: one exception type with a category, caught at the edges (CLI,
// HTTP handlers) and turned into an exit code or an HTTP status there.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tessera {

enum class ErrorKind {
  kInvalidArgument,    // bad flag, bad request field
  kNotFound,           // missing file, unknown model / route
  kBadFile,            // malformed model / tokenizer / template file
  kUnsupported,        // valid input we do not handle (yet)
  kResourceExhausted,  // out of memory, KV cache full, queue full
  kInternal,           // a bug: an invariant did not hold
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Checks an internal invariant; a failure is a bug, reported as kInternal.
#define TESSERA_CHECK(cond)                                                                        \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::tessera::fail(::tessera::ErrorKind::kInternal, "internal check failed: {} ({}:{})", #cond, \
                      __FILE__, __LINE__);                                                         \
  } while (0)

}  // namespace tessera
