// HTTP/1.1 response framing: status line and headers, chunked transfer
// coding. Written by hand (it is a few lines) so the Beast-heavy transport
// only parses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tessera/server/http.h"

namespace tessera::server {

inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
// A content length meaning "none: the body ends when the connection closes"
// (streams to HTTP/1.0 clients, which know no chunked coding).
inline constexpr size_t kCloseDelimited = static_cast<size_t>(-1);

// Status line and headers. Non-chunked responses get Content-Length.
void append_head(std::string& out, const HttpResponse& response, size_t content_length,
                 bool keep_alive);
// One chunk of a chunked body (nothing for empty data: an empty chunk
// would end the body).
void append_chunk(std::string& out, std::string_view data);

}  // namespace tessera::server
