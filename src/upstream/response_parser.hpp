#pragma once
// The parser of the upstream client's HTTP/1.1 responses. Beast's basic_parser did this job and
// took a fifth of the gateway's instructions per small request (it examines every character of
// every field one call at a time, looks up every field name in a table and re-parses the token
// lists of Connection and Transfer-Encoding); this one finds the end of the header first and
// then splits the complete block. The errors are Beast's http::error codes (the client
// classifies them as before); the fields go into the connection's header buffer, reused from
// response to response; the body is delivered into the caller's buffer piece by piece.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace aiclient::upstream::detail {

/// tchar of RFC 9110 (the characters of a method or a field name), as a table.
constexpr std::array<bool, 256> token_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr std::array<bool, 256> token_chars = token_table();
/// A token: one or more tchar (methods, field names, transfer codings).
inline bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s)
    if (!token_chars[static_cast<unsigned char>(c)]) return false;
  return true;
}

/// Where a header field's name and value are in the header buffer.
struct field_pos {
  std::uint32_t name_at, name_size, value_at, value_size;
};

class response_parser {
 public:
  using error_code = boost::system::error_code;
  /// Where put() copies body bytes: `data` advances and `size` shrinks as it fills.
  struct body_buffer {
    void* data = nullptr;
    std::size_t size = 0;
  };

  /// `head` and `fields` are the connection's, cleared here and filled by the parse.
  response_parser(std::string& head, std::vector<field_pos>& fields);

  /// Bytes the status line and fields may take (http::error::header_limit beyond). Trailer
  /// fields of a chunked body share the same limit.
  void header_limit(std::uint32_t n) noexcept { header_limit_ = n; }
  /// The answer to a HEAD request: no body whatever the header says.
  void skip(bool on) noexcept { skip_ = on; }

  /// Parses from the front of `data` and returns the bytes it used. The header is taken only
  /// once it is complete; body bytes go into body() until it is full (http::error::need_buffer
  /// then). http::error::need_more: the header, a chunk size line or the trailer is not complete
  /// yet (call again with more bytes). Any other error is final (http::error's bad_version,
  /// bad_status, bad_reason, bad_field, bad_value, bad_content_length, bad_transfer_encoding,
  /// bad_chunk, bad_chunk_extension, header_limit).
  std::size_t put(std::string_view data, error_code& ec);
  /// The connection ended: completes a body delimited by the end of the connection;
  /// otherwise http::error::end_of_stream (nothing received) or partial_message.
  void put_eof(error_code& ec);

  bool got_some() const noexcept { return got_some_; }
  bool is_header_done() const noexcept { return state_ != state::header; }
  bool is_done() const noexcept { return state_ == state::done; }
  /// The body ends with the connection (no length, not chunked).
  bool need_eof() const noexcept { return eof_body_; }
  /// The connection may carry another request after this response.
  bool keep_alive() const noexcept;
  /// The Content-Length of the response, when it has one.
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
  bool chunked() const noexcept { return chunked_; }
  unsigned status() const noexcept { return status_; }
  /// HTTP version: 10 or 11.
  unsigned version() const noexcept { return version_; }

  const std::vector<field_pos>& fields() const noexcept { return fields_; }
  std::string_view name(const field_pos& f) const {
    return std::string_view(head_).substr(f.name_at, f.name_size);
  }
  std::string_view value(const field_pos& f) const {
    return std::string_view(head_).substr(f.value_at, f.value_size);
  }
  /// First value of a field (case-insensitive name), empty when absent.
  std::string_view field_value(std::string_view name_any_case) const;

  body_buffer& body() noexcept { return body_; }

 private:
  enum class state { header, length, until_eof, chunk_size, chunk_data, chunk_end, trailer, done };

  std::size_t parse_header(std::string_view data, error_code& ec);
  bool parse_fields(std::string_view block, error_code& ec);
  bool special_field(std::string_view name, std::string_view value, error_code& ec);
  /// Copies up to `limit` bytes of `data` into body_; need_buffer when it is full first.
  std::size_t copy_body(std::string_view data, std::uint64_t limit, error_code& ec);

  std::string& head_;
  std::vector<field_pos>& fields_;
  state state_ = state::header;
  std::uint32_t header_limit_ = 64 * 1024;
  std::size_t scanned_ = 0;  // header bytes known to hold no end of header yet
  std::size_t trailer_bytes_ = 0;
  std::uint64_t remain_ = 0;  // of the Content-Length body, or of the current chunk
  std::optional<std::uint64_t> content_length_;
  unsigned status_ = 0;
  unsigned version_ = 11;
  bool skip_ = false;
  bool got_some_ = false;
  bool chunked_ = false;
  bool eof_body_ = false;
  bool close_ = false;       // Connection: close
  bool keep_alive_ = false;  // Connection: keep-alive (for HTTP/1.0)
  body_buffer body_;
};

}  // namespace aiclient::upstream::detail
