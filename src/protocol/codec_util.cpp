#include "codec_util.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <random>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "aiclient/protocol/errors.hpp"
#include "aiclient/util/calendar.hpp"

namespace aiclient::protocol {

// ---------------------------------------------------------------------------------------------
// decode_memory

namespace {

// Bodies up to this size keep their buffers for the next use of a scratch; larger ones give
// them back, so one huge body does not pin several times its size per thread.
constexpr std::size_t keep_capacity = std::size_t{1} << 20;
// Scratches kept per thread (a conversion holds one or two at a time).
constexpr std::size_t max_cached = 4;

struct scratch_cache {
  std::vector<std::unique_ptr<json_scratch>> free;
  bool alive = true;
  ~scratch_cache() { alive = false; }
};

scratch_cache& cache() {
  thread_local scratch_cache c;
  return c;
}

}  // namespace

const char* json_scratch::padded(std::string_view body, std::size_t& allocated) {
  if (allocated >= body.size() + simdjson::SIMDJSON_PADDING) return body.data();  // no copy
  const std::size_t need = body.size() + simdjson::SIMDJSON_PADDING;
  if (cap < need) {
    const std::size_t grown = std::max(need, cap * 2);
    buf = std::make_unique_for_overwrite<char[]>(grown);
    cap = grown;
  }
  if (!body.empty()) std::memcpy(buf.get(), body.data(), body.size());
  std::memset(buf.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
  allocated = cap;
  return buf.get();
}

std::unique_ptr<json_scratch> borrow_scratch() {
  scratch_cache& c = cache();
  if (c.alive && !c.free.empty()) {
    std::unique_ptr<json_scratch> s = std::move(c.free.back());
    c.free.pop_back();
    return s;
  }
  return std::make_unique<json_scratch>();
}

void return_scratch(std::unique_ptr<json_scratch> s) {
  if (!s) return;
  scratch_cache& c = cache();
  if (!c.alive || c.free.size() >= max_cached) return;
  s->trim();
  c.free.push_back(std::move(s));
}

void json_scratch::trim() {
  if (cap > keep_capacity + simdjson::SIMDJSON_PADDING) {
    buf.reset();
    cap = 0;
  }
  if (parser.capacity() > keep_capacity) parser = od::parser{};
  if (quotes.capacity() > keep_capacity / 64 + 1) std::vector<std::uint64_t>().swap(quotes);
}

decode_memory::decode_memory() noexcept = default;
decode_memory::~decode_memory() {
  if (impl_) return_scratch(std::move(impl_->scratch));
}
decode_memory::decode_memory(decode_memory&&) noexcept = default;
decode_memory& decode_memory::operator=(decode_memory&& other) noexcept {
  if (this != &other) {
    if (impl_) return_scratch(std::move(impl_->scratch));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

decode_memory::impl& decode_memory::state() {
  if (!impl_) impl_ = std::make_unique<impl>();
  return *impl_;
}

std::string_view decode_memory::keep(std::string s) {
  impl& st = state();
  st.kept.push_front(std::move(s));
  return st.kept.front();
}

std::string_view decode_memory::plain(const text_value& t) {
  if (!t.escaped || t.data.find('\\') == std::string_view::npos) return t.data;
  // Unescaped text is never longer than its escaped form: it goes into the current block when
  // that has room for t.data.size() bytes (never reallocated: views stay valid), else into a
  // new one, twice as large as the last (16 KB to 64 KB, or the text's size).
  impl& st = state();
  if (st.unescaped.empty() ||
      st.unescaped.front().capacity() - st.unescaped.front().size() < t.data.size()) {
    const std::size_t last = st.unescaped.empty() ? 8 * 1024 : st.unescaped.front().capacity();
    std::string block;
    block.reserve(std::max(std::min<std::size_t>(2 * last, 64 * 1024), t.data.size()));
    st.unescaped.push_front(std::move(block));
  }
  std::string& block = st.unescaped.front();
  const std::size_t at = block.size();
  codec::unescape_append(t.data, block);
  return std::string_view(block.data() + at, block.size() - at);
}

namespace codec {

// ---------------------------------------------------------------------------------------------
// Validation and escaping

namespace {

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (p + 4 <= end checked by the caller).
inline bool hex4(const char* p, unsigned& out) {
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    const int d = hex_digit(p[i]);
    if (d < 0) return false;
    v = (v << 4) | static_cast<unsigned>(d);
  }
  out = v;
  return true;
}

// q at a backslash: the position after the escape sequence, or nullptr when it is invalid
// (unknown escape, bad hex digits, unpaired UTF-16 surrogate).
inline const char* skip_escape(const char* q, const char* end) {
  if (end - q < 2) return nullptr;
  switch (q[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return q + 2;
    case 'u': {
      unsigned cp = 0;
      if (end - q < 6 || !hex4(q + 2, cp)) return nullptr;
      q += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo = 0;
        if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, lo) || lo < 0xDC00 ||
            lo > 0xDFFF)
          return nullptr;
        return q + 6;
      }
      if (cp >= 0xDC00 && cp <= 0xDFFF) return nullptr;
      return q;
    }
    default:
      return nullptr;
  }
}

#if defined(__SSE2__)
// Escape validity of the byte after a backslash: 0 valid, 1 invalid, 2 'u' (needs hex digits).
constexpr auto escape_class = [] {
  std::array<unsigned char, 256> t{};
  t.fill(1);
  for (const unsigned char c : {'"', '\\', '/', 'b', 'f', 'n', 'r', 't'}) t[c] = 0;
  t['u'] = 2;
  return t;
}();

// Positions of a 64-byte block escaped by a backslash: the bytes after a backslash that is not
// itself escaped. `carry` says whether byte 0 is escaped by a run of backslashes that ended the
// previous block, and receives the same for the next block. A run of backslashes starting at
// position s escapes s+1, s+3, ...: runs are split by the parity of their start (adding a run's
// first bit to the backslash mask clears exactly that run), then shifted by one and masked
// with the opposite parity. The technique is the one described by Langdale and Lemire in
// "Parsing Gigabytes of JSON per Second" (2019), section 3.1.1.
inline std::uint64_t escaped_positions(std::uint64_t backslash, std::uint64_t& carry) {
  constexpr std::uint64_t even = 0x5555555555555555ULL;
  const std::uint64_t first = carry;
  backslash &= ~first;  // an escaped backslash starts no run
  const std::uint64_t starts = backslash & ~(backslash << 1);
  const std::uint64_t even_runs = backslash & ~(backslash + (starts & even));
  const std::uint64_t odd_runs = backslash & ~even_runs;
  carry = odd_runs >> 63;
  return ((even_runs << 1) & ~even) | ((odd_runs << 1) & even) | first;
}

// Checks the escapes whose escaped byte is at the bits of `escaped` (relative to p).
inline bool escapes_ok(const char* p, const char* end, std::uint64_t escaped,
                       const char*& paired_low) {
  unsigned flags = 0;
  for (std::uint64_t b = escaped; b; b &= b - 1)
    flags |= escape_class[static_cast<unsigned char>(p[__builtin_ctzll(b)])];
  if (flags & 1) return false;
  if (!(flags & 2)) return true;
  for (std::uint64_t b = escaped; b; b &= b - 1) {
    const char* u = p + __builtin_ctzll(b);
    if (*u != 'u' || u == paired_low) continue;
    unsigned cp = 0;
    if (end - u < 5 || !hex4(u + 1, cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      unsigned lo = 0;
      if (end - u < 11 || u[5] != '\\' || u[6] != 'u' || !hex4(u + 7, lo) || lo < 0xDC00 ||
          lo > 0xDFFF)
        return false;
      paired_low = u + 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return false;
    }
  }
  return true;
}

// The backslashes and quotes of the 64 bytes at p (readable: inside the padded copy), as bit
// masks; bits at or past `end` are cleared and left out of `inside`.
struct block_masks {
  std::uint64_t backslashes;
  std::uint64_t quotes;
  std::uint64_t inside;
};
inline block_masks masks_of(const char* p, const char* end) {
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  block_masks m{0, 0, ~std::uint64_t{0}};
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    m.backslashes |= static_cast<std::uint64_t>(
                         static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash))))
                     << (16 * k);
    m.quotes |= static_cast<std::uint64_t>(
                    static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote))))
                << (16 * k);
  }
  const auto left = static_cast<std::size_t>(end - p);
  if (left < 64) {
    m.inside = (std::uint64_t{1} << left) - 1;
    m.backslashes &= m.inside;
    m.quotes &= m.inside;
  }
  return m;
}

// scan_string for text inside the padded copy of a body (64 readable bytes past `end`, and no
// control characters: simdjson's stage 1 rejected them): 64 bytes per step, escapes found with
// bit arithmetic instead of one branch per special byte.
const char* scan_padded(const char* p, const char* end, bool quoted) {
  std::uint64_t carry = 0;
  const char* paired_low = nullptr;
  while (p < end) {
    const block_masks m = masks_of(p, end);
    std::uint64_t bs = m.backslashes;
    std::uint64_t qt = m.quotes;
    const std::uint64_t inside = m.inside;
    const std::uint64_t escaped = escaped_positions(bs, carry);
    const std::uint64_t closing = qt & ~escaped;
    if (closing) {
      if (!quoted) return nullptr;
      const unsigned at = static_cast<unsigned>(__builtin_ctzll(closing));
      const std::uint64_t before = at ? (std::uint64_t{1} << at) - 1 : 0;
      return escapes_ok(p, end, escaped & before, paired_low) ? p + at : nullptr;
    }
    if (escaped & ~inside) return nullptr;  // a backslash ends the text
    if (!escapes_ok(p, end, escaped, paired_low)) return nullptr;
    p += 64;
  }
  if (carry || quoted) return nullptr;
  return end;
}

// See index_body: escapes checked and unescaped quotes recorded, 64 bytes per step.
bool index_padded(const char* p, const char* end, std::uint64_t* quotes) {
  std::uint64_t carry = 0;
  const char* paired_low = nullptr;
  for (; p < end; p += 64, ++quotes) {
    const block_masks m = masks_of(p, end);
    std::uint64_t bs = m.backslashes;
    std::uint64_t qt = m.quotes;
    const std::uint64_t inside = m.inside;
    if (bs | carry) {
      const std::uint64_t escaped = escaped_positions(bs, carry);
      if (escaped & ~inside) return false;  // a backslash ends the body
      if (!escapes_ok(p, end, escaped, paired_low)) return false;
      qt &= ~escaped;
    }
    *quotes = qt;
  }
  return carry == 0;
}
#endif

// Scans string content from p. quoted: stops at the closing quote and returns its position;
// else runs to end and returns end. nullptr on a bad escape, a control character, a stray quote
// (unquoted content) or a missing closing quote. This is the hot loop of the codecs (every text
// and raw subtree goes through it once): with SSE2 it looks at 16 bytes at a time and handles
// every special byte of a block from one bit mask.
// `padded`: at least 16 bytes past `end` are readable (text inside the padded copy of a body),
// so short strings take the vector path too, with the bits past `end` masked out.
const char* scan_string(const char* p, const char* end, bool quoted, bool padded = false) {
#if defined(__SSE2__)
  if (padded) return scan_padded(p, end, quoted);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i control = _mm_set1_epi8(0x1F);
  while (padded ? p < end : end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_min_epu8(v, control), v));
    auto bits = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (end - p < 16) bits &= (1u << (end - p)) - 1;
    const char* const block = p;
    while (bits) {
      const char* q = block + __builtin_ctz(bits);
      bits &= bits - 1;
      if (q < p) continue;  // inside an escape already read
      const auto c = static_cast<unsigned char>(*q);
      if (c == '"') return quoted ? q : nullptr;
      if (c < 0x20) return nullptr;
      p = skip_escape(q, end);
      if (!p) return nullptr;
    }
    if (p < block + 16) p = block + 16;
  }
  if (p > end) p = end;
#endif
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return quoted ? p : nullptr;
    if (c < 0x20) return nullptr;
    if (c != '\\') {
      ++p;
      continue;
    }
    p = skip_escape(p, end);
    if (!p) return nullptr;
  }
  return quoted ? nullptr : p;
}

#if defined(__x86_64__) && defined(__GNUC__)
// index_padded for CPUs with AVX2 (chosen at run time; the build targets baseline x86-64): 32
// bytes per load, and the escaped bytes classified by a nibble table lookup for the whole block
// instead of one table load per escape, so a block costs the same whatever its escapes are
// (no branch per escape to mispredict); only \u escapes take the scalar path.
__attribute__((target("avx2"))) inline std::uint64_t mask32(__m256i m) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(m)));
}
// Bytes of v that are no valid escape character (see index_padded_avx2 for the tables).
__attribute__((target("avx2"))) inline __m256i invalid_escapes(__m256i v, __m256i lo_table,
                                                               __m256i hi_table) {
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_shuffle_epi8(lo_table, _mm256_and_si256(v, nibble));
  const __m256i hi =
      _mm256_shuffle_epi8(hi_table, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
  return _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
}
__attribute__((target("avx2"))) bool index_padded_avx2(const char* p, const char* end,
                                                       std::uint64_t* quotes) {
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i backslash = _mm256_set1_epi8('\\');
  const __m256i letter_u = _mm256_set1_epi8('u');
  // Valid escape characters: '"' 0x22, '/' 0x2F, '\\' 0x5C, b 0x62, f 0x66, n 0x6E, r 0x72,
  // t 0x74, u 0x75. A bit per high nibble (2, 5, 6, 7); the low-nibble table holds the bits of
  // the high nibbles that make a valid character with it.
  const __m256i lo_table = _mm256_setr_epi8(0, 0, 1 | 4 | 8, 0, 8, 8, 4, 0, 0, 0, 0, 0, 2, 0, 4, 1,
                                            0, 0, 1 | 4 | 8, 0, 8, 8, 4, 0, 0, 0, 0, 0, 2, 0, 4, 1);
  const __m256i hi_table = _mm256_setr_epi8(0, 0, 1, 0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                                            0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0);
  std::uint64_t carry = 0;
  std::uint64_t bad = 0;
  const char* paired_low = nullptr;
  for (; p < end; p += 64, ++quotes) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    std::uint64_t bs =
        mask32(_mm256_cmpeq_epi8(v0, backslash)) | mask32(_mm256_cmpeq_epi8(v1, backslash)) << 32;
    std::uint64_t qt = mask32(_mm256_cmpeq_epi8(v0, quote)) | mask32(_mm256_cmpeq_epi8(v1, quote))
                                                                  << 32;
    const auto left = static_cast<std::size_t>(end - p);
    std::uint64_t inside = ~std::uint64_t{0};
    if (left < 64) {
      inside = (std::uint64_t{1} << left) - 1;
      bs &= inside;
      qt &= inside;
    }
    if (!(bs | carry)) {  // no escape in the block (40% of a coding agent's): nothing to check
      *quotes = qt;
      continue;
    }
    const std::uint64_t escaped = escaped_positions(bs, carry);
    bad |= escaped & ~inside;  // a backslash ends the body
    bad |= escaped & (mask32(invalid_escapes(v0, lo_table, hi_table)) |
                      mask32(invalid_escapes(v1, lo_table, hi_table)) << 32);
    const std::uint64_t u = escaped & (mask32(_mm256_cmpeq_epi8(v0, letter_u)) |
                                       mask32(_mm256_cmpeq_epi8(v1, letter_u)) << 32);
    if (u && !escapes_ok(p, end, u, paired_low)) return false;
    *quotes = qt & ~escaped;
  }
  return bad == 0 && carry == 0;
}
#endif

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

bool index_body(std::string_view padded_body, std::vector<std::uint64_t>& quotes) noexcept {
#if defined(__SSE2__)
  quotes.resize(padded_body.size() / 64 + 1);
  const char* const p = padded_body.data();
  const char* const end = p + padded_body.size();
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return index_padded_avx2(p, end, quotes.data());
#endif
  return index_padded(p, end, quotes.data());
#else
  (void)padded_body;
  (void)quotes;
  return false;
#endif
}

bool valid_string_content(std::string_view s, bool padded) noexcept {
  return scan_string(s.data(), s.data() + s.size(), false, padded) != nullptr;
}

bool valid_json(std::string_view s, bool padded, const quote_index* quotes) noexcept {
  const char* p = s.data();
  const char* const end = p + s.size();
  constexpr std::size_t max_depth = 1024;
  std::string stack;  // closing brackets of the open containers
  // Most bytes between tokens are no whitespace: one comparison rejects them.
  const auto skip_ws = [&] {
    while (p < end && static_cast<unsigned char>(*p) <= ' ' && is_ws(*p)) ++p;
  };
  const auto key = [&] {
    if (p >= end || *p != '"') return false;
    const char* q =
        quotes ? closing_quote(*quotes, p + 1, end) : scan_string(p + 1, end, true, padded);
    if (!q) return false;
    p = q + 1;
    skip_ws();
    if (p >= end || *p != ':') return false;
    ++p;
    return true;
  };
  const auto literal = [&](std::string_view word) {
    if (static_cast<std::size_t>(end - p) < word.size() ||
        std::memcmp(p, word.data(), word.size()) != 0)
      return false;
    p += word.size();
    return true;
  };
  const auto number = [&] {
    if (p < end && *p == '-') ++p;
    if (p >= end) return false;
    if (*p == '0') {
      ++p;
    } else if (*p >= '1' && *p <= '9') {
      while (p < end && is_digit(*p)) ++p;
    } else {
      return false;
    }
    if (p < end && *p == '.') {
      ++p;
      if (p >= end || !is_digit(*p)) return false;
      while (p < end && is_digit(*p)) ++p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p < end && (*p == '+' || *p == '-')) ++p;
      if (p >= end || !is_digit(*p)) return false;
      while (p < end && is_digit(*p)) ++p;
    }
    return true;
  };

  bool want_value = true;
  for (;;) {
    skip_ws();
    if (want_value) {
      if (p >= end) return false;
      switch (*p) {
        case '{':
          ++p;
          skip_ws();
          if (p < end && *p == '}') {
            ++p;
            want_value = false;
            break;
          }
          if (stack.size() >= max_depth) return false;
          stack.push_back('}');
          skip_ws();
          if (!key()) return false;
          break;
        case '[':
          ++p;
          skip_ws();
          if (p < end && *p == ']') {
            ++p;
            want_value = false;
            break;
          }
          if (stack.size() >= max_depth) return false;
          stack.push_back(']');
          break;
        case '"': {
          const char* q =
              quotes ? closing_quote(*quotes, p + 1, end) : scan_string(p + 1, end, true, padded);
          if (!q) return false;
          p = q + 1;
          want_value = false;
          break;
        }
        case 't':
          if (!literal("true")) return false;
          want_value = false;
          break;
        case 'f':
          if (!literal("false")) return false;
          want_value = false;
          break;
        case 'n':
          if (!literal("null")) return false;
          want_value = false;
          break;
        default:
          if (!number()) return false;
          want_value = false;
          break;
      }
    } else {
      if (stack.empty()) return p == end;
      if (p >= end) return false;
      if (*p == ',') {
        ++p;
        if (stack.back() == '}') {
          skip_ws();
          if (!key()) return false;
        }
        want_value = true;
      } else if (*p == stack.back()) {
        ++p;
        stack.pop_back();
      } else {
        return false;
      }
    }
  }
}

void unescape_append(std::string_view s, std::string& out) {
  // Unescaped text is never longer than its escaped form: `out` grows by s.size() once (within
  // its capacity when decode_memory::plain reserved it) and is written through a pointer, runs
  // without a backslash 16 bytes per store, instead of a search and an append per escape
  // (OpenAI tool arguments escape every quote).
  const std::size_t at = out.size();
  out.resize(at + s.size());
  char* o = out.data() + at;
  const char* p = s.data();
  const char* const end = p + s.size();
  const auto put = [&](unsigned c) { *o++ = static_cast<char>(c); };
  while (p < end) {
#if defined(__SSE2__)
    // Stores stay within the s.size() bytes: the output never runs ahead of the input read.
    const __m128i backslash = _mm_set1_epi8('\\');
    bool found = false;
    while (end - p >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const auto bits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
      if (bits) {
        const unsigned n = static_cast<unsigned>(__builtin_ctz(bits));
        p += n;
        o += n;
        found = true;
        break;
      }
      p += 16;
      o += 16;
    }
    if (!found)
#endif
      while (p < end && *p != '\\') *o++ = *p++;
    if (p >= end) break;
    if (end - p < 2) break;  // a lone backslash at the end: dropped
    const char e = p[1];
    p += 2;
    switch (e) {
      case 'b':
        put('\b');
        break;
      case 'f':
        put('\f');
        break;
      case 'n':
        put('\n');
        break;
      case 'r':
        put('\r');
        break;
      case 't':
        put('\t');
        break;
      case 'u': {
        unsigned cp = 0;
        if (end - p < 4 || !hex4(p, cp)) {
          p = end;  // a broken \u escape ends the text
          break;
        }
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          unsigned lo = 0;
          if (hex4(p + 2, lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          }
        }
        if (cp < 0x80) {
          put(cp);
        } else if (cp < 0x800) {
          put(0xC0 | (cp >> 6));
          put(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          put(0xE0 | (cp >> 12));
          put(0x80 | ((cp >> 6) & 0x3F));
          put(0x80 | (cp & 0x3F));
        } else {
          put(0xF0 | (cp >> 18));
          put(0x80 | ((cp >> 12) & 0x3F));
          put(0x80 | ((cp >> 6) & 0x3F));
          put(0x80 | (cp & 0x3F));
        }
        break;
      }
      default:  // '"', '\\', '/'
        put(static_cast<unsigned char>(e));
        break;
    }
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
}

namespace {

// The fast path of piece_json: append_minified and append_json_string_content in one pass
// (no intermediate copy), for JSON text whose strings are valid and whose bytes are valid UTF-8
// with no control character outside whitespace between tokens, which is what the codecs pass
// (raw subtrees that reader::raw validated). On any other input it leaves `out` as it was and
// returns false: the caller then runs the two steps, so the output is the same for every input.
// The output never takes more than two bytes per input byte: `out` grows by that once and is
// written through a pointer (16 bytes per store), not by one append per run between quotes.
bool append_minified_escaped(std::string& out, std::string_view json) {
  const std::size_t start = out.size();
  out.resize(start + 2 * json.size());
  char* o = out.data() + start;
  const char* p = json.data();
  const char* const end = p + json.size();
  bool inside = false;  // in a string literal
  bool ascii = true;    // no byte from 0x80 seen by the byte loop
#if defined(__SSE2__)
  __m128i high = _mm_setzero_si128();  // the bytes of the 16-byte loads, or-ed
#endif
  for (;;) {
    // Bytes copied as they are, up to a quote, a backslash, a control character, or (between
    // tokens) a space. Stores of 16 bytes stay within the 2 * size bytes: the output is never
    // more than twice the input read, and 16 more input bytes remain.
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i limit = _mm_set1_epi8(inside ? 0x20 : 0x21);  // below: special (signed)
    const __m128i zero = _mm_setzero_si128();
    while (end - p >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      // Bytes from 0x80 are negative: "less than limit" but not "less than 0" are ASCII controls.
      const __m128i low = _mm_andnot_si128(_mm_cmplt_epi8(v, zero), _mm_cmplt_epi8(v, limit));
      const __m128i hits =
          _mm_or_si128(low, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
      const auto bits = static_cast<unsigned>(_mm_movemask_epi8(hits));
      high = _mm_or_si128(high, v);  // bytes read past the special one: harmless, see below
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
      if (bits) {
        const unsigned n = static_cast<unsigned>(__builtin_ctz(bits));
        p += n;
        o += n;
        break;
      }
      p += 16;
      o += 16;
    }
#endif
    const unsigned char lim = inside ? 0x20 : 0x21;
    while (p < end) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"' || c == '\\' || c < lim) break;
      ascii &= c < 0x80;
      *o++ = *p++;
    }
    if (p >= end) break;
    const char c = *p;
    if (c == '"') {
      *o++ = '\\';
      *o++ = '"';
      inside = !inside;
      ++p;
    } else if (c == '\\') {
      const char* e = inside ? skip_escape(p, end) : nullptr;
      if (!e) {
        out.resize(start);
        return false;
      }
      // Its backslashes and quotes get a backslash.
      for (; p < e; ++p) {
        if (*p == '\\' || *p == '"') *o++ = '\\';
        *o++ = *p;
      }
    } else if (!inside && is_ws(c)) {
      ++p;
    } else {  // a control character: let the two steps decide
      out.resize(start);
      return false;
    }
  }
  // Non-ASCII bytes (seen in the 16-byte loads, which may reach past the end of a run but never
  // past the input, or in the byte loop) call for the UTF-8 check of the whole input.
#if defined(__SSE2__)
  ascii &= _mm_movemask_epi8(high) == 0;
#endif
  if (inside || (!ascii && !simdjson::validate_utf8(json.data(), json.size()))) {
    out.resize(start);
    return false;
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
  return true;
}

}  // namespace

void append_minified(std::string& out, std::string_view json) {
  const char* p = json.data();
  const char* const end = p + json.size();
  while (p < end) {
    // The run of bytes up to the next whitespace or quote is copied as it is.
    const char* r = p;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i space = _mm_set1_epi8(' ');
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i cr = _mm_set1_epi8('\r');
    while (end - r >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r));
      const __m128i hits =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, space)),
                       _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)),
                                    _mm_cmpeq_epi8(v, cr)));
      const auto bits = static_cast<unsigned>(_mm_movemask_epi8(hits));
      if (bits) {
        r += __builtin_ctz(bits);
        break;
      }
      r += 16;
    }
#endif
    while (r < end && !is_ws(*r) && *r != '"') ++r;
    out.append(p, static_cast<std::size_t>(r - p));
    p = r;
    if (p >= end) break;
    if (is_ws(*p)) {
      ++p;
      continue;
    }
    const char* q = scan_string(p + 1, end, true);
    if (!q) q = end - 1;  // not valid JSON: copy the rest as it is
    out.append(p, static_cast<std::size_t>(q + 1 - p));
    p = q + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// reader

std::string_view describe_json_error(error_code e) {
  switch (e) {
    case simdjson::EMPTY:
      return "the body is empty";
    case simdjson::UNCLOSED_STRING:
      return "unterminated string";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return "unexpected end of input, unbalanced brackets or content after the object";
    case simdjson::TAPE_ERROR:
      return "unexpected token (missing or extra comma, colon, bracket or key)";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return "invalid literal";
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return "invalid or out-of-range number";
    case simdjson::STRING_ERROR:
      return "invalid string escape";
    case simdjson::UNESCAPED_CHARS:
      return "unescaped control character in a string";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::DEPTH_ERROR:
      return "nesting too deep";
    case simdjson::CAPACITY:
    case simdjson::MEMALLOC:
      return "body too large to parse";
    default:
      return simdjson::error_message(e);
  }
}

std::string malformed(error_code e, std::string_view what) {
  std::string msg = "malformed JSON in ";
  msg += what;
  msg += ": ";
  msg += describe_json_error(e);
  return msg;
}

bool reader::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  return false;
}

bool reader::fail(error_code e) {
  return fail(malformed(e, what_));
}

bool reader::type_error(std::string_view what, std::string_view expected) {
  std::string msg(what);
  msg += " must be ";
  msg += expected;
  return fail(std::move(msg));
}

bool reader::open(std::string_view body, od::object& root, std::size_t allocated) {
  decode_memory::impl& st = memory_.state();
  if (!st.scratch) st.scratch = borrow_scratch();
  json_scratch& s = *st.scratch;
  doc_ = &s.doc;
  if (st.parsed && st.size == body.size()) {
    // inspect_body ran stage 1 over these bytes (convert_request checked that they are the
    // same): read the same document again.
    s.doc.rewind();
  } else {
    st.parsed = false;
    st.base = s.padded(body, allocated);
    st.size = body.size();
    if (const error_code e =
            s.parser.iterate(simdjson::padded_string_view(st.base, body.size(), allocated))
                .get(s.doc))
      return fail(e);
  }
  // One pass over the whole body instead of one per string read (text, raw subtrees); when it
  // finds a bad escape, every string is checked on its own as before (the same errors).
  escapes_checked_ = index_body(std::string_view(st.base, body.size()), s.quotes);
  quote_index_ = {st.base, s.quotes.data()};
  body_end_ = st.base + body.size();
  od::document& doc = s.doc;
  od::json_type t{};
  if (const error_code e = doc.type().get(t)) return fail(e);
  if (t != od::json_type::object) {
    std::string msg(what_);
    msg += " must be a JSON object";
    return fail(std::move(msg));
  }
  if (const error_code e = doc.get_object().get(root)) return fail(e);
  return true;
}

bool reader::close() {
  const char* loc = nullptr;
  const error_code e = doc_->current_location().get(loc);
  if (e == simdjson::OUT_OF_BOUNDS) return true;
  if (e) return fail(e);
  std::string msg = "malformed JSON in ";
  msg += what_;
  msg += ": unexpected content after the top-level object";
  return fail(std::move(msg));
}

bool reader::type(od::value& v, od::json_type& t) {
  if (const error_code e = v.type().get(t)) return fail(e);
  return true;
}

bool reader::text(od::value& v, text_value& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::string) return type_error(what, "a string");
  const std::string_view tok = trim_ws(v.raw_json_token());
  if (tok.size() < 2 || tok.front() != '"' || tok.back() != '"')
    return fail(simdjson::STRING_ERROR);
  const std::string_view content = tok.substr(1, tok.size() - 2);
  if (!escapes_checked_ && !valid_string_content(content, true))
    return fail(simdjson::STRING_ERROR);
  // Member by member: a braced temporary is built on the stack in two stores and copied with
  // one 16-byte load, which waits for both (a store-forwarding stall on every text value).
  out.data = content;
  out.escaped = true;
  return true;
}

bool reader::unescaped_key(od::field& field, std::string_view& key) {
  if (const error_code e = field.unescaped_key().get(key)) return fail(e);
  return true;
}

bool reader::plain(od::value& v, std::string_view& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::string) return type_error(what, "a string");
  if (escapes_checked_) {
    // As for keys: a string without a backslash is its own plain form (no copy into simdjson's
    // string buffer); the value is consumed by taking its token.
    const std::string_view tok = trim_ws(v.raw_json_token());
    if (tok.size() >= 2 && tok.front() == '"' && tok.back() == '"') {
      const std::string_view content = tok.substr(1, tok.size() - 2);
      if (no_backslash_padded(content.data(), content.data() + content.size())) {
        out = content;
        return true;
      }
    }
  }
  if (const error_code e = v.get_string().get(out)) return fail(e);
  return true;
}

bool reader::integer(od::value& v, std::optional<std::int64_t>& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::number) return type_error(what, "an integer");
  std::int64_t n = 0;
  if (const error_code e = v.get_int64().get(n)) {
    if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_OUT_OF_RANGE)
      return type_error(what, "an integer");
    return fail(e);
  }
  out = n;
  return true;
}

bool reader::number(od::value& v, std::optional<double>& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::number) return type_error(what, "a number");
  double d = 0;
  if (const error_code e = v.get_double().get(d)) return fail(e);
  out = d;
  return true;
}

bool reader::boolean(od::value& v, std::optional<bool>& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::boolean) return type_error(what, "a boolean");
  bool b = false;
  if (const error_code e = v.get_bool().get(b)) return fail(e);
  out = b;
  return true;
}

bool reader::raw(od::value& v, std::string_view& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  return raw(v, t, out, what);
}

bool reader::raw(od::value& v, od::json_type t, std::string_view& out, std::string_view what) {
  std::string_view span;
  if (t == od::json_type::object) {
    od::object obj;
    if (const error_code e = v.get_object().get(obj)) return fail(e);
    if (const error_code e = obj.raw_json().get(span)) return fail(e);
  } else if (t == od::json_type::array) {
    od::array arr;
    if (const error_code e = v.get_array().get(arr)) return fail(e);
    if (const error_code e = arr.raw_json().get(span)) return fail(e);
  } else {
    span = v.raw_json_token();
  }
  span = trim_ws(span);
  if (!valid_json(span, true, escapes_checked_ ? &quote_index_ : nullptr)) {
    std::string msg = "malformed JSON in ";
    msg += what_;
    msg += ": invalid value in ";
    msg += what;
    return fail(std::move(msg));
  }
  out = span;
  return true;
}

bool reader::span_since(const char* start, std::string_view& out, std::string_view what) {
  const char* loc = nullptr;
  const error_code e = doc_->current_location().get(loc);
  const decode_memory::impl& st = memory_.state();
  const char* end = st.base + st.size;
  if (e == simdjson::SUCCESS) {
    end = loc;
  } else if (e != simdjson::OUT_OF_BOUNDS) {
    return fail(e);
  }
  if (end < start) return fail(simdjson::TAPE_ERROR);
  const std::string_view span =
      trim_ws(std::string_view(start, static_cast<std::size_t>(end - start)));
  if (!valid_json(span, true, escapes_checked_ ? &quote_index_ : nullptr)) {
    std::string msg = "malformed JSON in ";
    msg += what_;
    msg += ": invalid value in ";
    msg += what;
    return fail(std::move(msg));
  }
  out = span;
  return true;
}

bool reader::raw_object(od::value& v, std::string_view& out, std::string_view what) {
  od::json_type t{};
  if (!type(v, t)) return false;
  if (t == od::json_type::null) return true;
  if (t != od::json_type::object) return type_error(what, "an object");
  return raw(v, t, out, what);
}

// ---------------------------------------------------------------------------------------------
// writer

void json_writer::key_plain(std::string_view k) {
  sep();
  out_ += '"';
  append_json_string_content(out_, k);
  out_ += "\":";
  after_key_ = true;
}

void json_writer::string(std::string_view s) {
  sep();
  append_json_string(out_, s);
}

void json_writer::integer(std::int64_t v) {
  sep();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
}

void json_writer::number(double v) {
  sep();
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
}

void json_writer::piece(const text_value& t) {
  if (t.escaped) {
    out_ += t.data;
  } else {
    append_json_string_content(out_, t.data);
  }
}

void json_writer::piece_plain(std::string_view s) {
  append_json_string_content(out_, s);
}

void json_writer::piece_json(std::string_view json) {
  // A buffer per thread: tool arguments and results pass here once per call in a conversation.
  if (append_minified_escaped(out_, json)) return;
  thread_local std::string compact;
  compact.clear();
  append_minified(compact, json);
  append_json_string_content(out_, compact);
  if (compact.capacity() > keep_capacity) std::string().swap(compact);
}

// ---------------------------------------------------------------------------------------------
// Small shared helpers

bool same_text(decode_memory& m, const text_value& a, const text_value& b) {
  if (a.escaped == b.escaped) return a.data == b.data;
  return m.plain(a) == m.plain(b);
}

bool gemini_key(std::string_view key, std::string_view camel) noexcept {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < key.size() && j < camel.size()) {
    if (key[i] == '_') {
      ++i;
      continue;
    }
    if (lower(key[i]) != lower(camel[j])) return false;
    ++i;
    ++j;
  }
  while (i < key.size() && key[i] == '_') ++i;
  return i == key.size() && j == camel.size();
}

bool split_data_url(const text_value& url, text_value& media_type, text_value& data) {
  // The views keep url's escaping: callers pass plain text when an escaped URL has backslashes.
  std::string_view s = url.data;
  if (s.size() < 5 || s.substr(0, 5) != "data:") return false;
  const std::size_t comma = s.find(',');
  if (comma == std::string_view::npos) return false;
  const std::string_view header = s.substr(5, comma - 5);
  constexpr std::string_view b64 = ";base64";
  if (header.size() < b64.size() || header.substr(header.size() - b64.size()) != b64) return false;
  const std::string_view type = header.substr(0, header.find(';'));
  media_type = {type, url.escaped};
  data = {s.substr(comma + 1), url.escaped};
  return true;
}

bool arguments_object(decode_memory& m, const text_value& args, std::string_view& out) {
  const std::string_view s = trim_ws(m.plain(args));
  if (s.empty()) {
    out = "{}";
    return true;
  }
  if (s.front() != '{' || !valid_json(s)) return false;
  out = s;
  return true;
}

void write_arguments_string(json_writer& w, const text_value& args) {
  if (args.empty()) {
    w.literal("{}");
    return;
  }
  if (args.escaped) {  // already the content of a string literal (OpenAI): kept as it is
    w.text(args);
    return;
  }
  w.begin_string();
  w.piece_json(args.data);
  w.end_string();
}

void write_joined_text(json_writer& w, const std::vector<part>& parts, std::string_view separator) {
  w.begin_string();
  bool first = true;
  for (const part& p : parts) {
    if (p.kind != part_kind::text) continue;
    if (!first) w.piece_plain(separator);
    first = false;
    w.piece(p.text);
  }
  w.end_string();
}

bool all_text(const std::vector<part>& parts) {
  if (parts.empty()) return false;
  for (const part& p : parts)
    if (p.kind != part_kind::text) return false;
  return true;
}

namespace {

// Part vectors given back by finished conversions, reused by the next ones of the thread (a
// request decodes into one or two vectors per message: ~200 allocations for a coding-agent
// conversation otherwise). Bounded: at most 256 vectors of at most 16 parts, 1,024 parts in all
// (~340 KB per thread).
constexpr std::size_t max_pooled_vectors = 256;
constexpr std::size_t max_pooled_capacity = 16;
constexpr std::size_t max_pooled_parts = 1024;

struct part_pool {
  std::vector<std::vector<part>> free;
  std::size_t parts = 0;  ///< sum of the capacities in `free`
  bool alive = true;
  part_pool() { free.reserve(max_pooled_vectors); }
  ~part_pool() { alive = false; }
};

part_pool& parts_pool() {
  thread_local part_pool p;
  return p;
}

void recycle_vector(part_pool& pool, std::vector<part>& v) {
  for (part& p : v)
    if (p.content.capacity() != 0) recycle_vector(pool, p.content);
  v.clear();
  const std::size_t cap = v.capacity();
  if (cap != 0 && cap <= max_pooled_capacity && pool.free.size() < max_pooled_vectors &&
      pool.parts + cap <= max_pooled_parts) {
    pool.parts += cap;
    pool.free.push_back(std::move(v));
  }
}

}  // namespace

void recycle_parts(canonical_request& q) {
  part_pool& pool = parts_pool();
  if (!pool.alive) return;
  for (message& m : q.messages) recycle_vector(pool, m.parts);
}

void recycle_parts(std::vector<part>& parts) {
  part_pool& pool = parts_pool();
  if (!pool.alive) return;
  recycle_vector(pool, parts);
  parts = std::vector<part>();
}

namespace {

// Gives an empty vector without storage one from the pool.
void take_pooled(std::vector<part>& parts) {
  if (parts.capacity() != 0) return;
  part_pool& pool = parts_pool();
  if (pool.alive && !pool.free.empty()) {
    parts.swap(pool.free.back());
    pool.free.pop_back();
    pool.parts -= parts.capacity();
  }
}

}  // namespace

part& add_part(std::vector<part>& parts, part&& p) {
  take_pooled(parts);
  parts.push_back(std::move(p));
  return parts.back();
}

part& add_part(std::vector<part>& parts, part_kind kind) {
  take_pooled(parts);
  parts.emplace_back();
  parts.back().kind = kind;
  return parts.back();
}

namespace {

using util::civil_from_days;
using util::days_from_civil;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  std::int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, om))
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + se - offset;
}

std::string format_rfc3339(std::int64_t seconds) {
  std::int64_t days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ",
                              static_cast<long long>(y), m, d, static_cast<int>(rem / 3600),
                              static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_id(std::string_view prefix) {
  static constexpr char alphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id(prefix);
  std::uniform_int_distribution<int> pick(0, 61);
  for (int i = 0; i < 24; ++i) id += alphabet[pick(rng)];
  return id;
}

}  // namespace codec
}  // namespace aiclient::protocol
