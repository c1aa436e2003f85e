// AWS event-stream framing (application/vnd.amazon.eventstream): CRC-32, the incremental
// parser and the message encoder.
#include <array>
#include <cstring>

#include "aiclient/protocol/kiro.hpp"

namespace aiclient::protocol::kiro {

namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> crc_table = make_crc_table();

std::uint32_t read_u32(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::uint16_t read_u16(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((u[0] << 8) | u[1]);
}

void put_u32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

void set_u32(std::string& out, std::size_t at, std::uint32_t v) {
  out[at] = static_cast<char>((v >> 24) & 0xff);
  out[at + 1] = static_cast<char>((v >> 16) & 0xff);
  out[at + 2] = static_cast<char>((v >> 8) & 0xff);
  out[at + 3] = static_cast<char>(v & 0xff);
}

std::string hex32(std::uint32_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xf];
  return s;
}

// Bytes a header value of `type` occupies after the type byte, given what follows; -1 for an
// unknown type, -2 when the length prefix itself is cut.
long value_size(unsigned type, const char* p, std::size_t left) noexcept {
  switch (type) {
    case 0:  // bool true
    case 1:  // bool false
      return 0;
    case 2:  // byte
      return 1;
    case 3:  // int16
      return 2;
    case 4:  // int32
      return 4;
    case 5:  // int64
    case 8:  // timestamp
      return 8;
    case 6:  // bytes
    case 7:  // string
      if (left < 2) return -2;
      return 2 + static_cast<long>(read_u16(p));
    case 9:  // uuid
      return 16;
    default:
      return -1;
  }
}

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (const char ch : data) {
    crc = crc_table[(crc ^ static_cast<unsigned char>(ch)) & 0xffu] ^ (crc >> 8);
  }
  return ~crc;
}

// --- parser ---

eventstream_parser::eventstream_parser(std::size_t max_message_bytes)
    : max_(max_message_bytes < min_message_bytes ? min_message_bytes : max_message_bytes) {}

bool eventstream_parser::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  buf_.clear();
  buf_.shrink_to_fit();
  pos_ = 0;
  return false;
}

void eventstream_parser::append(std::string_view bytes) {
  if (failed() || bytes.empty()) return;
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

bool eventstream_parser::next(eventstream_message& out) {
  if (failed()) return false;
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 12) return false;
  const char* m = buf_.data() + pos_;
  const std::uint32_t total = read_u32(m);
  const std::uint32_t headers_len = read_u32(m + 4);
  if (!prelude_checked_) {
    const std::uint32_t prelude_crc = read_u32(m + 8);
    const std::uint32_t actual = crc32(std::string_view(m, 8));
    if (prelude_crc != actual) {
      return fail("event-stream prelude CRC mismatch (message " + std::to_string(messages_) +
                  ": expected " + hex32(prelude_crc) + ", computed " + hex32(actual) + ")");
    }
    if (total < min_message_bytes) {
      return fail("event-stream message length " + std::to_string(total) +
                  " is below the minimum of 16 bytes");
    }
    if (total > max_) {
      return fail("event-stream message length " + std::to_string(total) +
                  " exceeds the maximum of " + std::to_string(max_) + " bytes");
    }
    if (headers_len > total - min_message_bytes) {
      return fail("event-stream headers length " + std::to_string(headers_len) +
                  " overruns the message of " + std::to_string(total) + " bytes");
    }
    prelude_checked_ = true;
  }
  if (avail < total) return false;
  const std::uint32_t message_crc = read_u32(m + total - 4);
  const std::uint32_t actual = crc32(std::string_view(m, total - 4));
  if (message_crc != actual) {
    return fail("event-stream message CRC mismatch (message " + std::to_string(messages_) +
                ": expected " + hex32(message_crc) + ", computed " + hex32(actual) + ")");
  }

  out = eventstream_message{};
  const char* h = m + 12;
  const char* const h_end = h + headers_len;
  while (h < h_end) {
    const std::size_t name_len = static_cast<unsigned char>(*h);
    ++h;
    if (name_len == 0) return fail("event-stream header with an empty name");
    if (static_cast<std::size_t>(h_end - h) < name_len + 1) {
      return fail("event-stream header overruns the headers section");
    }
    const std::string_view name(h, name_len);
    h += name_len;
    const unsigned type = static_cast<unsigned char>(*h);
    ++h;
    const long size = value_size(type, h, static_cast<std::size_t>(h_end - h));
    if (size == -1) {
      return fail("event-stream header \"" + std::string(name) + "\" has unknown value type " +
                  std::to_string(type));
    }
    if (size < 0 || static_cast<std::size_t>(size) > static_cast<std::size_t>(h_end - h)) {
      return fail("event-stream header overruns the headers section");
    }
    if (type == 7) {
      const std::string_view value(h + 2, static_cast<std::size_t>(size) - 2);
      if (name == ":message-type") {
        out.message_type = value;
      } else if (name == ":event-type") {
        out.event_type = value;
      } else if (name == ":exception-type") {
        out.exception_type = value;
      } else if (name == ":content-type") {
        out.content_type = value;
      } else if (name == ":error-code") {
        out.error_code = value;
      } else if (name == ":error-message") {
        out.error_message = value;
      }
    }
    h += size;
    ++out.header_count;
  }
  out.payload = std::string_view(h_end, total - headers_len - min_message_bytes);
  pos_ += total;
  prelude_checked_ = false;
  ++messages_;
  return true;
}

bool eventstream_parser::finish() {
  if (failed()) return false;
  const std::size_t left = buffered();
  if (left == 0) return true;
  std::string message = "event-stream truncated: " + std::to_string(left) + " bytes";
  if (left >= 12) {
    message += " of a " + std::to_string(read_u32(buf_.data() + pos_)) + "-byte message";
  } else {
    message += " of a message prelude";
  }
  message += " at the end of the stream";
  return fail(std::move(message));
}

// --- encoder ---

std::string encode_message(const std::vector<eventstream_header>& headers,
                           std::string_view payload) {
  std::string out(12, '\0');
  for (const eventstream_header& h : headers) {
    const std::size_t name_len = h.name.size() > 255 ? 255 : h.name.size();
    const std::size_t value_len = h.value.size() > 65535 ? 65535 : h.value.size();
    out += static_cast<char>(name_len);
    out.append(h.name.substr(0, name_len));
    out += static_cast<char>(7);
    out += static_cast<char>((value_len >> 8) & 0xff);
    out += static_cast<char>(value_len & 0xff);
    out.append(h.value.substr(0, value_len));
  }
  const std::size_t headers_len = out.size() - 12;
  out.append(payload);
  const std::size_t total = out.size() + 4;
  set_u32(out, 0, static_cast<std::uint32_t>(total));
  set_u32(out, 4, static_cast<std::uint32_t>(headers_len));
  set_u32(out, 8, crc32(std::string_view(out.data(), 8)));
  put_u32(out, crc32(out));
  return out;
}

std::string encode_event(std::string_view event_type, std::string_view payload) {
  return encode_message({{":message-type", "event"},
                         {":event-type", event_type},
                         {":content-type", "application/json"}},
                        payload);
}

std::string encode_exception(std::string_view exception_type, std::string_view payload) {
  return encode_message({{":message-type", "exception"},
                         {":exception-type", exception_type},
                         {":content-type", "application/json"}},
                        payload);
}

}  // namespace aiclient::protocol::kiro
