#include "aiclient/protocol/sse.hpp"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aiclient::protocol {

// ---------------------------------------------------------------------------------------------
// sse_framer

void sse_framer::drop_taken() {
  if (taken_ == 0) return;
  buf_.erase(0, taken_);
  boundary_ -= taken_;
  scanned_ -= taken_;
  taken_ = 0;
}

void sse_framer::feed(std::string_view bytes) {
  drop_taken();
  buf_.append(bytes);
  scan();
}

namespace {

// The first '\n' or '\r' in [p, end), or end: 16 bytes at a time where SSE2 exists (x86-64's
// baseline), so the event text between line ends is skipped without a branch per byte.
const char* find_line_end(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && *p != '\n' && *p != '\r') ++p;
  return p;
}

}  // namespace

// A small state machine over the new bytes only. A blank line is a line terminator that starts
// while the current line is still empty; the boundary is the end of that terminator. A '\r'
// terminator is only known to be complete when the next byte is seen (it may be "\r\n").
// Runs of other bytes are skipped in one step (they only make the current line non-empty).
void sse_framer::scan() {
  const char* b = buf_.data();
  const std::size_t n = buf_.size();
  std::size_t i = scanned_;
  while (i < n) {
    if (!cr_pending_) {
      const auto next = static_cast<std::size_t>(find_line_end(b + i, b + n) - b);
      if (next != i) {
        line_empty_ = false;
        i = next;
        if (i == n) break;
      }
    }
    const char c = b[i++];
    if (cr_pending_) {
      cr_pending_ = false;
      if (c == '\n') {
        if (cr_blank_) boundary_ = i;
        continue;  // the "\r\n" terminator is complete; line_empty_ is already true
      }
      if (cr_blank_) boundary_ = i - 1;
    }
    if (c == '\n') {
      if (line_empty_) boundary_ = i;
      line_empty_ = true;
    } else if (c == '\r') {
      cr_pending_ = true;
      cr_blank_ = line_empty_;
      line_empty_ = true;
    } else {
      line_empty_ = false;
    }
  }
  scanned_ = n;
}

std::string_view sse_framer::take_complete() {
  drop_taken();
  taken_ = boundary_;
  return std::string_view(buf_.data(), boundary_);
}

std::string_view sse_framer::take_all() {
  drop_taken();
  taken_ = boundary_ = scanned_ = buf_.size();
  line_empty_ = true;
  cr_pending_ = cr_blank_ = false;
  return std::string_view(buf_.data(), buf_.size());
}

std::string_view sse_framer::pending() const noexcept {
  return std::string_view(buf_.data() + boundary_, buf_.size() - boundary_);
}

void sse_framer::reset() noexcept {
  buf_.clear();
  taken_ = boundary_ = scanned_ = 0;
  line_empty_ = true;
  cr_pending_ = cr_blank_ = false;
}

// ---------------------------------------------------------------------------------------------
// sse_parser

namespace {
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// The position of the first '\n' or '\r' of b[i, n), or n: 16 bytes per step with SSE2 (SSE lines
// are long: a chunk of JSON each).
std::size_t find_line_end(const char* b, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (n - i >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    const auto bits = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr))));
    if (bits) return i + static_cast<std::size_t>(__builtin_ctz(bits));
    i += 16;
  }
#endif
  while (i < n && b[i] != '\n' && b[i] != '\r') ++i;
  return i;
}
}  // namespace

void sse_parser::append(std::string_view bytes) {
  if (failed()) return;
  if (pos_ > 0) {
    // Only the unparsed tail moves, and each byte moves at most once before it is parsed.
    buf_.erase(0, pos_);
    scan_from_ -= std::min(scan_from_, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

void sse_parser::clear_event() {
  event_.event.clear();
  event_.data.clear();
  event_.id.reset();
  event_.retry.reset();
  has_data_ = false;
  event_size_ = 0;
}

bool sse_parser::dispatch() {
  if (!has_data_) {
    // No data line: nothing is dispatched and the event's fields are forgotten.
    clear_event();
    return false;
  }
  ready_ = true;
  return true;
}

void sse_parser::process_line(std::string_view line) {
  if (line.front() == ':') return;  // comment
  std::string_view field = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) event_.data.push_back('\n');
    event_.data.append(value);
    has_data_ = true;
    event_size_ += value.size() + 1;
  } else if (field == "event") {
    event_size_ += value.size();
    event_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      event_size_ += value.size();
      event_.id.emplace(value);
      last_event_id_.assign(value);
    }
  } else if (field == "retry") {
    if (!value.empty() && value.size() <= 18 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::uint64_t ms = 0;
      for (const char c : value) ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
      event_.retry = ms;
    }
  }
  if (event_size_ > max_event_size_) {
    error_ = "SSE event larger than " + std::to_string(max_event_size_) + " bytes";
  }
}

bool sse_parser::next() {
  if (failed()) return false;
  if (ready_) {
    clear_event();
    ready_ = false;
  }
  if (!bom_checked_) {
    const std::string_view head(buf_.data() + pos_, buf_.size() - pos_);
    const std::size_t k = std::min(head.size(), utf8_bom.size());
    if (head.substr(0, k) == utf8_bom.substr(0, k)) {
      if (k < utf8_bom.size()) return false;  // could still be a BOM: wait for more bytes
      pos_ += utf8_bom.size();
    }
    bom_checked_ = true;
  }
  for (;;) {
    const char* b = buf_.data();
    const std::size_t n = buf_.size();
    if (skip_lf_) {
      if (pos_ >= n) return false;
      if (b[pos_] == '\n') ++pos_;
      skip_lf_ = false;
    }
    const std::size_t i = find_line_end(b, std::max(scan_from_, pos_), n);
    if (i == n) {
      scan_from_ = n;
      if (n - pos_ + event_size_ > max_event_size_) {
        error_ = "SSE event larger than " + std::to_string(max_event_size_) + " bytes";
      }
      return false;
    }
    const std::string_view line(b + pos_, i - pos_);
    if (b[i] == '\r') {
      if (i + 1 < n) {
        pos_ = i + 1 + (b[i + 1] == '\n' ? 1 : 0);
      } else {
        pos_ = i + 1;
        skip_lf_ = true;
      }
    } else {
      pos_ = i + 1;
    }
    scan_from_ = pos_;
    if (line.empty()) {
      if (dispatch()) return true;
      continue;
    }
    if (line.size() + event_size_ > max_event_size_) {
      error_ = "SSE event larger than " + std::to_string(max_event_size_) + " bytes";
      return false;
    }
    process_line(line);
    if (failed()) return false;
  }
}

bool sse_parser::finish_event() {
  if (failed()) return false;
  if (next()) return true;  // complete events still buffered come first
  if (failed()) return false;
  bool have = false;
  if (pos_ < buf_.size()) {
    process_line(std::string_view(buf_.data() + pos_, buf_.size() - pos_));
    if (failed()) return false;
  }
  if (has_data_) {
    ready_ = true;
    have = true;
  } else {
    clear_event();
  }
  // Ready for a new stream; the last event (if any) stays readable in current().
  buf_.clear();
  pos_ = scan_from_ = 0;
  skip_lf_ = false;
  bom_checked_ = false;
  return have;
}

void sse_parser::reset() {
  buf_.clear();
  pos_ = scan_from_ = 0;
  skip_lf_ = bom_checked_ = has_data_ = ready_ = false;
  event_size_ = 0;
  clear_event();
  last_event_id_.clear();
  error_.clear();
}

}  // namespace aiclient::protocol
