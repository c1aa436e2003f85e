#pragma once
// What a request handler sees of a client exchange. No Beast here: the session implements it.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "aiclient/upstream/client.hpp"

namespace aiclient::server {

/// A header name (lower-case) and value.
using header = std::pair<std::string, std::string>;
/// A response header whose name and value the caller keeps alive until the write completes
/// (literals, or an upstream response's headers while relaying it).
using header_view = std::pair<std::string_view, std::string_view>;
/// A request header: lower-case name and value, views into the session's buffer that stay
/// valid while the request is handled.
using request_header = std::pair<std::string_view, std::string_view>;

/// A fully read client request.
struct incoming_request {
  std::string id;  ///< request id (also sent back as x-request-id)
  std::string method;
  std::string target;                   ///< as received: path and query
  std::string_view path;                ///< view into target
  std::string_view query;               ///< view into target, without '?'
  std::vector<request_header> headers;  ///< lower-case names, in order
  std::string body;
  /// First value of a header (`name` lower-case), empty when absent.
  std::string_view header_value(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
};

/// The response side of an exchange. Every call returns false when the client is gone
/// or a write failed/timed out; the handler then stops (and aborts its upstream work).
class client_channel {
 public:
  virtual ~client_channel() = default;
  /// A complete response with Content-Length. Header names are written in lower case.
  virtual boost::asio::awaitable<bool> send_response(int status,
                                                     std::span<const header_view> headers,
                                                     std::string body) = 0;
  /// Starts a chunked response (the header is written and flushed at once).
  virtual boost::asio::awaitable<bool> begin_stream(int status,
                                                    std::span<const header_view> headers) = 0;
  /// The same with headers the call owns.
  boost::asio::awaitable<bool> send_response(int status, std::vector<header> headers,
                                             std::string body);
  boost::asio::awaitable<bool> begin_stream(int status, std::vector<header> headers);
  /// Writes one chunk of a started response and flushes it.
  virtual boost::asio::awaitable<bool> send_chunk(std::string_view data) = 0;
  /// Ends a started response.
  virtual boost::asio::awaitable<bool> end_stream() = 0;
  /// Cancelled when the client disconnects while the handler runs.
  virtual upstream::cancel_token& disconnect_token() = 0;
  /// True once a response header was written.
  virtual bool started() const = 0;
  /// Body bytes written so far.
  virtual std::uint64_t bytes_sent() const = 0;
};

}  // namespace aiclient::server
