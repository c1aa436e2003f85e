#include "response_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/beast/http/error.hpp>

#include "aiclient/util/strings.hpp"

namespace aiclient::upstream::detail {

namespace {

namespace http = boost::beast::http;
using namespace std::string_view_literals;

/// Index of the first control character of `s` other than HTAB (DEL included), or s.size():
/// what ends a header line, or makes a value or reason phrase invalid. 16 bytes at a time.
std::size_t first_control(std::string_view s) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i below_space = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v);  // v < 0x20
    const __m128i bad =
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), control), _mm_cmpeq_epi8(v, del));
    if (const int mask = _mm_movemask_epi8(bad))
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return i;
  }
  return s.size();
}

/// Field values and reason phrases: no control characters but HTAB.
bool is_text(std::string_view s) noexcept {
  return first_control(s) == s.size();
}

/// `s` equals `lower` (lower-case letters and '-') but for the case of its letters.
bool equals_lower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((s[i] | 0x20) != lower[i]) return false;
  return true;
}

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// Calls `f` with each element of a comma-separated list, trimmed (empty elements skipped).
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

/// A chunk size line is this long at most (the size and its extensions).
constexpr std::size_t max_chunk_line = 4096;

}  // namespace

response_parser::response_parser(std::string& head, std::vector<field_pos>& fields)
    : head_(head), fields_(fields) {
  head_.clear();
  fields_.clear();
}

bool response_parser::keep_alive() const noexcept {
  if (eof_body_ || close_) return false;
  return version_ >= 11 || keep_alive_;
}

std::string_view response_parser::field_value(std::string_view name_any_case) const {
  for (const auto& f : fields_)
    if (f.name_size == name_any_case.size() && util::iequals(name(f), name_any_case))
      return value(f);
  return {};
}

std::size_t response_parser::put(std::string_view data, error_code& ec) {
  ec = {};
  if (!data.empty()) got_some_ = true;
  // The header alone: the body is parsed by the next calls, once the caller has a buffer.
  if (state_ == state::header) return parse_header(data, ec);
  std::size_t used = 0;
  for (;;) {
    const std::string_view rest = data.substr(used);
    switch (state_) {
      case state::header:
      case state::done:
        return used;
      case state::length:
      case state::chunk_data: {
        if (rest.empty()) return used;
        const std::size_t n = copy_body(rest, remain_, ec);
        used += n;
        remain_ -= n;
        if (remain_ == 0) state_ = state_ == state::length ? state::done : state::chunk_end;
        if (ec || n == 0) return used;
        break;
      }
      case state::until_eof: {
        if (rest.empty()) return used;
        const std::size_t n = copy_body(rest, std::numeric_limits<std::uint64_t>::max(), ec);
        return used + n;
      }
      case state::chunk_end:
        if (rest.size() < 2) {
          if (!rest.empty() && rest[0] != '\r')
            ec = http::error::bad_chunk;
          else
            ec = http::error::need_more;
          return used;
        }
        if (rest[0] != '\r' || rest[1] != '\n') {
          ec = http::error::bad_chunk;
          return used;
        }
        used += 2;
        state_ = state::chunk_size;
        break;
      case state::chunk_size: {
        const std::size_t eol = rest.substr(0, max_chunk_line + 2).find("\r\n"sv);
        if (eol == std::string_view::npos) {
          ec = rest.size() >= max_chunk_line + 2 ? http::error::bad_chunk : http::error::need_more;
          return used;
        }
        const std::string_view line = rest.substr(0, eol);
        std::size_t i = 0;
        std::uint64_t size = 0;
        for (; i < line.size(); ++i) {
          const char c = line[i];
          unsigned digit;
          if (c >= '0' && c <= '9')
            digit = static_cast<unsigned>(c - '0');
          else if (c >= 'a' && c <= 'f')
            digit = static_cast<unsigned>(c - 'a' + 10);
          else if (c >= 'A' && c <= 'F')
            digit = static_cast<unsigned>(c - 'A' + 10);
          else
            break;
          if (size >> 60) {  // would overflow 64 bits
            ec = http::error::bad_chunk;
            return used;
          }
          size = size * 16 + digit;
        }
        if (i == 0) {
          ec = http::error::bad_chunk;
          return used;
        }
        // chunk-ext: *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), not used here.
        const std::string_view ext = trim_ows(line.substr(i));
        if (!ext.empty() && (ext.front() != ';' || !is_text(ext))) {
          ec = ext.front() == ';' ? http::error::bad_chunk_extension : http::error::bad_chunk;
          return used;
        }
        used += eol + 2;
        if (size == 0) {
          state_ = state::trailer;
        } else {
          remain_ = size;
          state_ = state::chunk_data;
        }
        break;
      }
      case state::trailer: {
        const std::size_t eol = rest.find("\r\n"sv);
        if (eol == std::string_view::npos) {
          ec = trailer_bytes_ + rest.size() > header_limit_ ? http::error::header_limit
                                                            : http::error::need_more;
          return used;
        }
        used += eol + 2;
        if (eol == 0) {
          state_ = state::done;
          return used;
        }
        // A trailer field: not relayed, only bounded.
        trailer_bytes_ += eol + 2;
        if (trailer_bytes_ > header_limit_) {
          ec = http::error::header_limit;
          return used;
        }
        break;
      }
    }
  }
}

void response_parser::put_eof(error_code& ec) {
  ec = {};
  switch (state_) {
    case state::header:
      ec = got_some_ ? http::error::partial_message : http::error::end_of_stream;
      break;
    case state::until_eof:
      state_ = state::done;
      break;
    case state::done:
      break;
    default:
      ec = http::error::partial_message;
  }
}

std::size_t response_parser::copy_body(std::string_view data, std::uint64_t limit, error_code& ec) {
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), limit));
  const std::size_t n = std::min(want, body_.size);
  if (n > 0) {
    std::memcpy(body_.data, data.data(), n);
    body_.data = static_cast<char*>(body_.data) + n;
    body_.size -= n;
  }
  if (n < want) ec = http::error::need_buffer;
  return n;
}

std::size_t response_parser::parse_header(std::string_view data, error_code& ec) {
  // The end of the header within the limit; the bytes already searched are not searched again.
  const std::string_view window = data.substr(0, header_limit_);
  const std::size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  const std::size_t end = window.find("\r\n\r\n"sv, from);
  if (end == std::string_view::npos) {
    if (data.size() >= header_limit_) {
      ec = http::error::header_limit;
    } else {
      scanned_ = data.size();
      ec = http::error::need_more;
    }
    return 0;
  }

  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  const std::size_t line_end = data.find("\r\n"sv);
  const std::string_view line = data.substr(0, line_end);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/"sv || !is_digit(line[5]) || line[6] != '.' ||
      !is_digit(line[7]) || line[8] != ' ') {
    ec = http::error::bad_version;
    return 0;
  }
  version_ = static_cast<unsigned>((line[5] - '0') * 10 + (line[7] - '0'));
  if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
      (line.size() > 12 && line[12] != ' ')) {
    ec = http::error::bad_status;
    return 0;
  }
  status_ = static_cast<unsigned>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  if (line.size() > 13 && !is_text(line.substr(13))) {
    ec = http::error::bad_reason;
    return 0;
  }
  // The fields: every line between the status line and the empty one ends with CRLF.
  if (!parse_fields(data.substr(line_end + 2, end + 2 - (line_end + 2)), ec)) return 0;

  if (skip_ || status_ / 100 == 1 || status_ == 204 || status_ == 304) {
    state_ = state::done;
  } else if (chunked_) {
    state_ = state::chunk_size;
  } else if (content_length_) {
    remain_ = *content_length_;
    state_ = remain_ > 0 ? state::length : state::done;
  } else {
    eof_body_ = true;
    state_ = state::until_eof;
  }
  return end + 4;
}

bool response_parser::parse_fields(std::string_view block, error_code& ec) {
  head_.reserve(block.size());
  bool transfer_encoding = false;
  while (!block.empty()) {
    // The line ends at its first control character, which must be that CRLF.
    const std::size_t eol = first_control(block);
    const std::string_view line = block.substr(0, eol);
    // The name: token characters up to the colon (a line folded onto the previous one,
    // obs-fold, starts with whitespace and is refused here, as RFC 9112 allows).
    std::size_t colon = 0;
    while (colon < line.size() && token_chars[static_cast<unsigned char>(line[colon])]) ++colon;
    const bool has_name = colon > 0 && colon < line.size() && line[colon] == ':';
    if (eol + 1 >= block.size() || block[eol] != '\r' || block[eol + 1] != '\n') {
      ec = has_name ? http::error::bad_value : http::error::bad_field;
      return false;
    }
    block.remove_prefix(eol + 2);
    if (!has_name) {
      ec = line.empty() || is_ows(line.front()) ? http::error::bad_value : http::error::bad_field;
      return false;
    }
    const std::string_view name = line.substr(0, colon);
    std::size_t from = colon + 1;
    std::size_t to = line.size();
    while (from < to && is_ows(line[from])) ++from;
    while (to > from && is_ows(line[to - 1])) --to;
    const std::string_view value = line.substr(from, to - from);
    // The line up to the value's end, copied once. Offsets fit: the whole header is below
    // header_limit (a uint32).
    const auto at = static_cast<std::uint32_t>(head_.size());
    const field_pos f{at, static_cast<std::uint32_t>(colon), at + static_cast<std::uint32_t>(from),
                      static_cast<std::uint32_t>(to - from)};
    head_.append(line.data(), to);
    fields_.push_back(f);

    // The fields that frame the body or the connection.
    if (equals_lower(name, "content-length"sv)) {
      if (transfer_encoding) {
        ec = http::error::bad_content_length;
        return false;
      }
      std::uint64_t n = 0;
      if (value.empty()) {
        ec = http::error::bad_content_length;
        return false;
      }
      for (const char c : value) {
        if (!is_digit(c) || n > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
          ec = http::error::bad_content_length;
          return false;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (content_length_ && *content_length_ != n) {
        ec = http::error::bad_content_length;
        return false;
      }
      content_length_ = n;
    } else if (equals_lower(name, "transfer-encoding"sv)) {
      // Chunked frames the body when it is the last coding (of all Transfer-Encoding fields);
      // otherwise the body ends with the connection (RFC 9112 6.3). With a Content-Length as
      // well the length is ambiguous: refused.
      if (content_length_) {
        ec = http::error::bad_transfer_encoding;
        return false;
      }
      transfer_encoding = true;
      bool valid = true;
      for_each_token(value, [&](std::string_view coding) {
        valid = valid && is_token(coding);
        chunked_ = equals_lower(coding, "chunked"sv);
      });
      // Not a list of plain codings (parameters included: none is defined for the codings an
      // upstream sends, and parsers disagree on malformed ones): the framing is unknown.
      if (!valid) {
        ec = http::error::bad_transfer_encoding;
        return false;
      }
    } else if (equals_lower(name, "connection"sv)) {
      for_each_token(value, [&](std::string_view option) {
        if (equals_lower(option, "close"sv)) close_ = true;
        if (equals_lower(option, "keep-alive"sv)) keep_alive_ = true;
      });
    }
  }
  return true;
}

}  // namespace aiclient::upstream::detail
