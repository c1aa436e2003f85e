#include "aiclient/protocol/errors.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aiclient::protocol {

namespace {

struct openai_kind {
  std::string_view type;
  std::string_view code;  ///< empty: null
};

openai_kind openai_error_kind(int status) {
  switch (status) {
    case 400:
    case 405:
      return {"invalid_request_error", {}};
    case 401:
      return {"authentication_error", "invalid_api_key"};
    case 403:
      return {"permission_error", {}};
    case 404:
      return {"not_found_error", {}};
    case 408:
    case 504:
      return {"timeout_error", {}};
    case 413:
      return {"invalid_request_error", "request_too_large"};
    case 429:
      return {"rate_limit_error", {}};
    case 501:
      return {"not_implemented", {}};
    case 502:
      return {"upstream_error", {}};
    case 503:
    case 529:  // Anthropic's "overloaded": the same meaning for a client as 503
      return {"service_unavailable", {}};
    default:
      break;
  }
  if (status >= 400 && status < 500) return {"invalid_request_error", {}};
  return {"server_error", {}};
}

std::string_view claude_error_type(int status) {
  switch (status) {
    case 400:
    case 405:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 408:
    case 504:
      return "timeout_error";
    default:
      break;
  }
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "api_error";
}

std::string_view gemini_error_status(int status) {
  switch (status) {
    case 400:
    case 413:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 405:
    case 501:
      return "UNIMPLEMENTED";
    case 408:
    case 504:
      return "DEADLINE_EXCEEDED";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 502:
    case 503:
    case 529:
      return "UNAVAILABLE";
    default:
      break;
  }
  if (status >= 400 && status < 500) return "INVALID_ARGUMENT";
  return "INTERNAL";
}

constexpr char hex_digits[] = "0123456789abcdef";

// True for bytes that can be copied into a JSON string literal as they are (printable ASCII
// other than '"' and '\\'); everything else takes the slow path.
inline bool plain_ascii(unsigned char c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0 when it is not valid; `*bad_len`
// receives the length of the maximal invalid subpart to replace with one U+FFFD (Unicode 15,
// section 3.9, "U+FFFD substitution of maximal subparts").
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* bad_len) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // valid range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *bad_len = 1;
    return 0;
  }
  std::size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= s.size()) break;
    const unsigned char b = byte(i + k);
    const unsigned char l = k == 1 ? lo : 0x80;
    const unsigned char h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k > need) return need + 1;
  *bad_len = k;
  return 0;
}

void append_error_json(std::string& out, wire_protocol p, int http_status,
                       std::string_view message) {
  switch (p) {
    case wire_protocol::openai: {
      const openai_kind kind = openai_error_kind(http_status);
      out += R"({"error":{"message":)";
      append_json_string(out, message);
      out += R"(,"type":")";
      out += kind.type;
      out += R"(","param":null,"code":)";
      if (kind.code.empty()) {
        out += "null";
      } else {
        out += '"';
        out += kind.code;
        out += '"';
      }
      out += "}}";
      break;
    }
    case wire_protocol::claude:
      out += R"({"type":"error","error":{"type":")";
      out += claude_error_type(http_status);
      out += R"(","message":)";
      append_json_string(out, message);
      out += "}}";
      break;
    case wire_protocol::gemini:
      out += R"({"error":{"code":)";
      out += std::to_string(http_status);
      out += R"(,"message":)";
      append_json_string(out, message);
      out += R"(,"status":")";
      out += gemini_error_status(http_status);
      out += "\"}}";
      break;
  }
}

}  // namespace

namespace {

// The end of the run of plain_ascii bytes of s that starts at i (16 bytes per step with SSE2).
inline std::size_t plain_run(std::string_view s, std::size_t i) {
  const std::size_t n = s.size();
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (n - i >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // Signed compare: bytes below 0x20 and bytes from 0x80 (negative) are both "less".
    const __m128i hits =
        _mm_or_si128(_mm_cmplt_epi8(v, space),
                     _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    const auto bits = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (bits) return i + static_cast<std::size_t>(__builtin_ctz(bits));
    i += 16;
  }
#endif
  while (i < n && plain_ascii(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

}  // namespace

void append_json_string_content(std::string& out, std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const std::size_t run = plain_run(s, i);
    out.append(s.data() + i, run - i);
    i = run;
    if (i >= n) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default: {
          const char esc[] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xF]};
          out.append(esc, sizeof esc);
        }
      }
      ++i;
      continue;
    }
    std::size_t bad = 0;
    if (const std::size_t len = utf8_sequence(s, i, &bad); len != 0) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += bad;
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_json_string_content(out, s);
  out += '"';
}

std::string error_body(wire_protocol p, int http_status, std::string_view message) {
  std::string out;
  out.reserve(96 + message.size());
  append_error_json(out, p, http_status, message);
  return out;
}

std::string stream_error_event(wire_protocol p, int http_status, std::string_view message) {
  std::string out;
  out.reserve(128 + message.size());
  if (p == wire_protocol::claude) out += "event: error\n";
  out += "data: ";
  append_error_json(out, p, http_status, message);
  out += "\n\n";
  if (p == wire_protocol::openai) out += "data: [DONE]\n\n";
  return out;
}

}  // namespace aiclient::protocol
