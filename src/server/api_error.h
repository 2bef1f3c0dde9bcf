// Errors the API answers with: an HTTP status plus the OpenAI error object
// {"error": {"message", "type", "param", "code"}}. Thrown anywhere while a
// request is parsed or submitted; the router turns them into responses.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tessera/server/http.h"

namespace tessera::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = {}, std::string type = {},
           std::string code = {})
      : std::runtime_error(std::move(message)),
        status(status),
        param(std::move(param)),
        type(type.empty() ? default_type(status) : std::move(type)),
        code(std::move(code)) {}

  static std::string default_type(int status);

  int status;
  std::string param;
  std::string type;
  std::string code;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Retry-After
};

template <typename... Args>
[[noreturn]] void bad_request(std::string param, fmt::format_string<Args...> format,
                              Args&&... args) {
  throw ApiError(400, fmt::format(format, std::forward<Args>(args)...), std::move(param));
}

// {"error": {...}} with the error's status and headers.
HttpResponse openai_error_response(const ApiError& error);

}  // namespace tessera::server
