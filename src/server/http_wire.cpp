#include "http_wire.h"

#include <fmt/format.h>

namespace tessera::server {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return std::string_view(value);
  return std::nullopt;
}

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

const char* status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void append_head(std::string& out, const HttpResponse& response, size_t content_length,
                 bool keep_alive) {
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\nServer: tessera\r\n", response.status,
                 status_reason(response.status));
  if (!response.content_type.empty())
    fmt::format_to(std::back_inserter(out), "Content-Type: {}\r\n", response.content_type);
  if (response.chunked)
    out += "Transfer-Encoding: chunked\r\n";
  else if (content_length != kCloseDelimited)
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", content_length);
  bool has_connection = false;
  for (const auto& [name, value] : response.headers) {
    if (name == "Connection") has_connection = true;
    fmt::format_to(std::back_inserter(out), "{}: {}\r\n", name, value);
  }
  if (!has_connection) out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  fmt::format_to(std::back_inserter(out), "{:x}\r\n", data.size());
  out.append(data);
  out += "\r\n";
}

}  // namespace tessera::server
