#pragma once
// Internal helpers of the canonical codecs (not installed): simdjson on-demand reading into
// validated views, a JSON validator for raw subtrees, a small JSON writer.
#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/request_body.hpp"

namespace aiclient::protocol {

namespace od = simdjson::ondemand;
using simdjson::error_code;

/// A simdjson parser and a padded buffer, reused across decodes of one thread.
struct json_scratch {
  od::parser parser;                  ///< on-demand parser (its string buffer holds unescaped text)
  std::unique_ptr<char[]> buf;        ///< padded copy of the body (when not parsed in place)
  std::size_t cap = 0;                ///< capacity of buf
  std::vector<std::uint64_t> quotes;  ///< quote index of the body (codec::index_body)
  od::document doc;                   ///< the document being read (iterates `parser`)

  /// Where the parser reads `body`: in place when `allocated` bytes at body.data() leave room
  /// for simdjson's padding, else a padded copy in `buf` (and `allocated` becomes its size).
  const char* padded(std::string_view body, std::size_t& allocated);
  /// Gives back buffers grown past what a typical body needs (1 MB), so that one huge body
  /// does not pin several times its size per thread.
  void trim();
};

/// Borrows a scratch from the thread's small cache (or makes one).
std::unique_ptr<json_scratch> borrow_scratch();
/// Gives a scratch back to the thread's cache (trimming buffers grown by a huge body).
void return_scratch(std::unique_ptr<json_scratch> s);

/// What a decode_memory owns.
struct decode_memory::impl {
  std::unique_ptr<json_scratch> scratch;  ///< borrowed from the thread's cache
  std::forward_list<std::string> kept;    ///< strings made by codecs
  /// Unescaped text (decode_memory::plain): blocks filled within their reserved capacity, so
  /// views into them stay valid.
  std::forward_list<std::string> unescaped;
  const char* base = nullptr;  ///< the padded body views point into (scratch buf, or in place)
  std::size_t size = 0;        ///< body size at base
  /// scratch->doc already iterates the body at base (stage 1 run by inspect_body): the decode
  /// rewinds it instead of parsing again.
  bool parsed = false;
};

/// What a parsed_body owns: a scratch whose document iterates the body at `base`.
struct parsed_body::impl {
  std::unique_ptr<json_scratch> scratch;  ///< its doc iterates the body (when ready)
  const char* base = nullptr;             ///< the padded bytes parsed (the body or scratch buf)
  const char* body = nullptr;             ///< the caller's body
  std::size_t size = 0;                   ///< body size
  bool ready = false;                     ///< inspect_body succeeded: the parse can be reused
};

namespace codec {

/// Where the unescaped quotes of a padded body are (see index_body).
struct quote_index {
  const char* base = nullptr;           ///< the body
  const std::uint64_t* bits = nullptr;  ///< bit i of word w: body[64 * w + i] is such a quote
};

/// `s` == `lit`, compared inline: a key chain of `==` against literals calls
/// string_view::compare and memcmp out of line for every key of equal length.
template <std::size_t N>
inline bool is(std::string_view s, const char (&lit)[N]) noexcept {
  return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

// The closing quote of a string whose content starts at p, from the quote index of its body:
// nullptr when the string does not close before `end`.
inline const char* closing_quote(const quote_index& qi, const char* p, const char* end) {
  const auto from = static_cast<std::size_t>(p - qi.base);
  const auto stop = static_cast<std::size_t>(end - qi.base);
  std::size_t word = from / 64;
  std::uint64_t bits = qi.bits[word] & (~std::uint64_t{0} << (from % 64));
  while (!bits) {
    if (++word * 64 >= stop) return nullptr;
    bits = qi.bits[word];
  }
  const std::size_t at = word * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
  return at < stop ? qi.base + at : nullptr;
}

/// True when [p, q) holds no backslash. Reads up to 15 bytes past q: p and q lie in a padded
/// body (keys and short strings take one 16-byte compare instead of a loop per character).
inline bool no_backslash_padded(const char* p, const char* q) noexcept {
#if defined(__SSE2__)
  const __m128i backslash = _mm_set1_epi8('\\');
  for (; p < q; p += 16) {
    auto bits = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), backslash)));
    if (q - p < 16) bits &= (1u << (q - p)) - 1;
    if (bits) return false;
  }
  return true;
#else
  for (; p < q; ++p)
    if (*p == '\\') return false;
  return true;
#endif
}

/// True for JSON whitespace.
inline bool is_ws(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
/// `s` without leading and trailing JSON whitespace.
inline std::string_view trim_ws(std::string_view s) noexcept {
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  return s;
}

/// Validates a complete JSON text (one value, surrounding whitespace allowed): RFC 8259 grammar,
/// string escapes (surrogates paired), no control characters in strings. UTF-8 is not checked
/// (simdjson checked the whole body already). `padded`: `s` lies in a padded body copy, whose
/// 64 bytes of padding may be read past its end. `quotes`: `s` lies in the padded body of that
/// index, whose escapes are all valid (strings are then skipped by the index, not scanned).
bool valid_json(std::string_view s, bool padded = false,
                const quote_index* quotes = nullptr) noexcept;
/// One pass over a padded body: true when every backslash escape in it is valid (known escape
/// character, four hex digits, UTF-16 surrogates paired), so that the content of each of its
/// strings is valid as far as valid_string_content checks (simdjson's stage 1 rejected control
/// characters already); `quotes` receives one bit per byte set at each quote no backslash
/// escapes (64 bytes per word). Runs of backslashes never cross string boundaries, so the
/// escapes of the body and of each of its strings are the same.
bool index_body(std::string_view padded_body, std::vector<std::uint64_t>& quotes) noexcept;
/// Validates the content of a JSON string literal (between the quotes); `padded` as above.
bool valid_string_content(std::string_view s, bool padded = false) noexcept;
/// Appends the unescaped characters of valid JSON string content `s` to `out`.
void unescape_append(std::string_view s, std::string& out);
/// Appends valid JSON text without the whitespace between tokens.
void append_minified(std::string& out, std::string_view json);

/// Describes a simdjson error for a client ("malformed JSON in ...: unterminated string").
std::string malformed(error_code e, std::string_view what);

/// Reading state of one decode: the error to report and the memory views point into.
class reader {
 public:
  reader(std::string& error, decode_memory& memory, std::string_view what)
      : error_(error), memory_(memory), what_(what) {}

  /// Starts the document of `body` (in the scratch of the memory) and opens its root object:
  /// in place when `allocated` bytes at body.data() leave room for simdjson's padding, else in a
  /// padded copy; when the memory already holds a parse of these bytes (decode_memory::impl::
  /// parsed), its document is rewound instead. Returns false on error.
  bool open(std::string_view body, od::object& root, std::size_t allocated = 0);
  /// After the root object: only whitespace may follow.
  bool close();

  /// Records `message` (the first error wins) and returns false.
  bool fail(std::string message);
  /// Records a simdjson error as malformed JSON and returns false.
  bool fail(error_code e);
  /// Records "<what> must be <expected>" and returns false.
  bool type_error(std::string_view what, std::string_view expected);

  // Values are taken by reference, from where simdjson's iterator made them: a copy (24 bytes,
  // moved as one 16-byte load and one 8-byte load) right after simdjson wrote the value in
  // separate stores cannot be forwarded from those stores and waits for them, on every value.

  /// The JSON type of `v`; false on error.
  bool type(od::value& v, od::json_type& t);
  /// A string value as escaped text (null: left unset). False on error.
  bool text(od::value& v, text_value& out, std::string_view what);
  /// A string value as plain characters (null: left unset). False on error.
  bool plain(od::value& v, std::string_view& out, std::string_view what);
  /// An integer (null: left unset). False on error.
  bool integer(od::value& v, std::optional<std::int64_t>& out, std::string_view what);
  /// A number (null: left unset). False on error.
  bool number(od::value& v, std::optional<double>& out, std::string_view what);
  /// A boolean (null: left unset). False on error.
  bool boolean(od::value& v, std::optional<bool>& out, std::string_view what);
  /// Any value as validated raw JSON (null: left empty). False on error.
  bool raw(od::value& v, std::string_view& out, std::string_view what);
  /// The same for a value whose type `t` was read already.
  bool raw(od::value& v, od::json_type t, std::string_view& out, std::string_view what);
  /// An object as validated raw JSON (null: left empty). False on error.
  bool raw_object(od::value& v, std::string_view& out, std::string_view what);
  /// The validated raw JSON from `start` (where a value began, from raw_json_token) to the
  /// current position, after the value was read field by field.
  bool span_since(const char* start, std::string_view& out, std::string_view what);

  /// Calls f(key, value) for each field of an object (null: nothing). f returns false to stop.
  template <class F>
  bool fields(od::value& v, std::string_view what, F&& f) {
    od::json_type t{};
    if (!type(v, t)) return false;
    return fields(v, t, what, f);
  }
  /// The same for a value whose type `t` was read already (type() again costs an indirect jump
  /// that mispredicts).
  template <class F>
  bool fields(od::value& v, od::json_type t, std::string_view what, F&& f) {
    if (t == od::json_type::null) return true;
    if (t != od::json_type::object) return type_error(what, "an object");
    auto opened = v.get_object();
    if (const error_code e = opened.error()) return fail(e);
    od::object&& obj = std::move(opened).value_unsafe();  // in place (see object_fields)
    return object_fields(obj, f);
  }
  /// Calls f(key, value) for each field of an opened object.
  template <class F>
  bool object_fields(od::object& obj, F&& f) {
    for (auto field_result : obj) {
      // The field is used where the iterator made it: copying it out (get) reads back as one
      // 16-byte load what was just written in pieces, a store-forwarding stall per field.
      if (const error_code e = field_result.error()) return fail(e);
      od::field&& field = std::move(field_result).value_unsafe();
      std::string_view key;
      if (!field_key(field, key)) return false;
      if (!f(key, field.value())) return false;
    }
    return true;
  }
  /// Calls f(index, value) for each element of an array (null: nothing).
  template <class F>
  bool elements(od::value& v, std::string_view what, F&& f) {
    od::json_type t{};
    if (!type(v, t)) return false;
    return elements(v, t, what, f);
  }
  /// The same for a value whose type `t` was read already.
  template <class F>
  bool elements(od::value& v, od::json_type t, std::string_view what, F&& f) {
    if (t == od::json_type::null) return true;
    if (t != od::json_type::array) return type_error(what, "an array");
    auto opened = v.get_array();
    if (const error_code e = opened.error()) return fail(e);
    od::array&& arr = std::move(opened).value_unsafe();  // in place (see object_fields)
    std::size_t i = 0;
    for (auto element : arr) {
      // Used where the iterator made it (see object_fields).
      if (const error_code e = element.error()) return fail(e);
      od::value&& item = std::move(element).value_unsafe();
      if (!f(i++, item)) return false;
    }
    return true;
  }

  /// The plain characters of a field's key. Keys without a backslash (all of them, in practice)
  /// are views of the body: simdjson's unescaped_key copies every key into its string buffer
  /// through a virtual call, a good part of the decode's time.
  bool field_key(od::field& field, std::string_view& key) {
    if (escapes_checked_) {
      // The key's content runs from after its opening quote to the next unescaped quote, and
      // its escapes are valid (index_body): without a backslash it is its own plain form.
      const char* const p = field.key().raw();
      if (const char* const q = closing_quote(quote_index_, p, body_end_)) {
        if (no_backslash_padded(p, q)) {
          key = std::string_view(p, static_cast<std::size_t>(q - p));
          return true;
        }
      }
    }
    return unescaped_key(field, key);
  }
  /// simdjson's unescaped_key (false with the error recorded).
  bool unescaped_key(od::field& field, std::string_view& key);

  /// The memory views point into.
  decode_memory& memory() { return memory_; }
  /// Keeps a string alive in the memory.
  std::string_view keep(std::string s) { return memory_.keep(std::move(s)); }

 private:
  std::string& error_;
  decode_memory& memory_;
  std::string_view what_;
  od::document* doc_ = nullptr;
  bool escapes_checked_ = false;    ///< index_body held for the body: escapes are valid
  quote_index quote_index_;         ///< the quotes of the body (when escapes_checked_)
  const char* body_end_ = nullptr;  ///< the end of the body at quote_index_.base
};

/// Appends JSON to a string, placing commas itself.
class json_writer {
 public:
  /// Writes into `out` (appending).
  explicit json_writer(std::string& out) : out_(out) {}

  /// `{`
  void begin_object() {
    open_container('{');
    push_level();
  }
  /// `}`
  void end_object() {
    out_ += '}';
    pop_level();
  }
  /// `[`
  void begin_array() {
    open_container('[');
    push_level();
  }
  /// `]`
  void end_array() {
    out_ += ']';
    pop_level();
  }
  /// `"k":` for a key that needs no escaping (the codecs' own keys).
  void key(std::string_view k) {
    sep();
    out_ += '"';
    out_ += k;
    out_ += "\":";
    after_key_ = true;
  }
  /// The same for a literal key: one append of `"k":`.
  template <std::size_t N>
  void key(const char (&k)[N]) {
    quoted<true>(k);
    after_key_ = true;
  }
  /// A string literal of the codecs (no character to escape): one append of `"s"` with its
  /// separator, not a scan for characters to escape.
  template <std::size_t N>
  void literal(const char (&s)[N]) {
    quoted<false>(s);
  }
  /// A string whose characters need no escaping (checked by the caller): `"s"` without the
  /// scan of string().
  void safe_string(std::string_view s) {
    open_container('"');
    out_ += s;
    out_ += '"';
  }
  /// `"k":` for a key from input (plain characters).
  void key_plain(std::string_view k);
  /// A string of plain characters.
  void string(std::string_view s);
  /// A text value.
  void text(const text_value& t) {
    open_container('"');  // the separator and the opening quote in one append
    piece(t);
    out_ += '"';
  }
  /// Raw JSON (already valid).
  void raw(std::string_view json) {
    sep();
    out_ += json;
  }
  /// An integer.
  void integer(std::int64_t v);
  /// A number (shortest round-trip form).
  void number(double v);
  /// true / false.
  void boolean(bool v) {
    sep();
    out_ += v ? "true" : "false";
  }
  /// null.
  void null() {
    sep();
    out_ += "null";
  }
  /// Opens a string literal written in pieces.
  void begin_string() {
    sep();
    out_ += '"';
  }
  /// Appends a text value's characters inside an open string literal.
  void piece(const text_value& t);
  /// Appends plain characters inside an open string literal.
  void piece_plain(std::string_view s);
  /// Appends raw JSON text, minified, escaped as string content (a JSON value as a string).
  void piece_json(std::string_view json);
  /// Closes a string literal written in pieces.
  void end_string() { out_ += '"'; }

 private:
  /// `"s"` (`"s":` for a key) in one append, the separating comma included when one is due.
  template <bool Colon, std::size_t N>
  void quoted(const char (&s)[N]) {
    char buf[N + 3];
    buf[0] = ',';
    buf[1] = '"';
    std::memcpy(buf + 2, s, N - 1);
    buf[N + 1] = '"';
    if constexpr (Colon) buf[N + 2] = ':';
    const bool comma = needs_comma();
    out_.append(buf + !comma, N + 1 + (Colon ? 1 : 0) + (comma ? 1 : 0));
  }
  // Open containers: bit d of first_ says whether the container at depth d has no element yet
  // (deeper levels, which the codecs never reach, live in deep_).
  void push_level() {
    if (depth_ < 64) {
      first_ |= std::uint64_t{1} << depth_;
    } else {
      deep_.push_back(true);
    }
    ++depth_;
  }
  void pop_level() {
    --depth_;
    if (depth_ >= 64) deep_.pop_back();
  }
  // Whether the next value needs a comma before it (and records that the container has one).
  bool needs_comma() {
    if (after_key_) {
      after_key_ = false;
      return false;
    }
    if (depth_ == 0) return false;
    const unsigned d = depth_ - 1;
    if (d < 64) {
      const std::uint64_t bit = std::uint64_t{1} << d;
      if (first_ & bit) {
        first_ &= ~bit;
        return false;
      }
      return true;
    }
    if (deep_.back()) {
      deep_.back() = false;
      return false;
    }
    return true;
  }
  void sep() {
    if (needs_comma()) out_ += ',';
  }
  // `c` (an opening bracket) after the separator, in one append.
  void open_container(char c) {
    const char buf[2] = {',', c};
    const bool comma = needs_comma();
    out_.append(buf + !comma, 1 + comma);
  }

  std::string& out_;
  std::uint64_t first_ = 0;
  unsigned depth_ = 0;
  std::vector<bool> deep_;
  bool after_key_ = false;
};

/// True when two text values hold the same characters.
bool same_text(decode_memory& m, const text_value& a, const text_value& b);

/// Gemini accepts camelCase and snake_case field names: compares `key` with a camelCase name,
/// ignoring underscores and case.
bool gemini_key(std::string_view key, std::string_view camel) noexcept;

/// Splits "data:<media type>;base64,<data>" (plain or escaped text). False when not a base64
/// data URL.
bool split_data_url(const text_value& url, text_value& media_type, text_value& data);

/// The arguments of a tool call as a raw JSON object (empty arguments: "{}"). False when they
/// are not a JSON object.
bool arguments_object(decode_memory& m, const text_value& args, std::string_view& out);
/// Writes the arguments of a tool call as a JSON string holding the object (OpenAI form).
void write_arguments_string(json_writer& w, const text_value& args);
/// Joins the text parts of `parts` (other kinds skipped) into one string literal.
void write_joined_text(json_writer& w, const std::vector<part>& parts, std::string_view separator);
/// True when every part is a text part (and there is at least one).
bool all_text(const std::vector<part>& parts);
/// Adds a part with `kind` at the end of `parts` and returns it.
part& add_part(std::vector<part>& parts, part_kind kind);
/// Moves `p` to the end of `parts` and returns it (a vector from the pool when `parts` has none).
part& add_part(std::vector<part>& parts, part&& p);
/// Gives the part vectors of a request that is no longer needed to the thread's pool, from
/// which add_part takes them (empty, with their capacity) instead of allocating.
void recycle_parts(canonical_request& q);
/// The same for one vector (and the content of its parts); `parts` is left empty.
void recycle_parts(std::vector<part>& parts);
/// Gives a vector of parts back to the pool when it goes out of scope.
class pooled_parts {
 public:
  /// Watches `parts` (which must outlive this).
  explicit pooled_parts(std::vector<part>& parts) noexcept : parts_(parts) {}
  ~pooled_parts() {
    try {
      recycle_parts(parts_);
    } catch (...) {  // std::bad_alloc making the thread's pool: the vector is freed instead
    }
  }
  pooled_parts(const pooled_parts&) = delete;
  pooled_parts& operator=(const pooled_parts&) = delete;

 private:
  std::vector<part>& parts_;
};

/// Unix seconds of an RFC 3339 time ("2025-02-19T00:00:00Z"); nullopt when unreadable.
std::optional<std::int64_t> parse_rfc3339(std::string_view s);
/// RFC 3339 UTC time of Unix seconds.
std::string format_rfc3339(std::int64_t seconds);

/// The current Unix time.
std::int64_t unix_now();
/// A random id: prefix + 24 base62 characters.
std::string random_id(std::string_view prefix);

/// A short English description of a simdjson error, for error messages (the request body's
/// inspection and the codecs share it).
std::string_view describe_json_error(simdjson::error_code e);

/// A request body decoded with `Decoder` (built from (reader&, canonical_request&), with
/// field(key, value) for each top-level field and finish() after a complete document): the
/// frame every protocol's decode_request shares. "" on success, else the error.
/// `allocated`: see reader::open.
template <class Decoder>
std::string decode_request_with(std::string_view body, canonical_request& out, wire_protocol source,
                                std::size_t allocated) {
  std::string error;
  out.source = source;
  reader r(error, out.memory, "request body");
  od::object root;
  if (!r.open(body, root, allocated)) return error;
  Decoder d(r, out);
  if (r.object_fields(root, [&](std::string_view k, od::value& v) { return d.field(k, v); }) &&
      r.close())
    d.finish();
  return error;
}

}  // namespace codec

// Per-protocol codecs (canonical_openai.cpp, canonical_claude.cpp, canonical_gemini.cpp).
namespace openai_codec {
/// `allocated`: see reader::open (0: the body is copied); `out` is not reset (its memory may
/// hold a parse of the body already).
std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated);
std::string encode_request(const canonical_request& in, std::string& out);
std::string decode_response(std::string_view body, canonical_response& out);
std::string encode_response(const canonical_response& in, std::string& out);
std::string decode_models(std::string_view body, canonical_model_list& out);
void encode_models(const canonical_model_list& in, std::string& out);
}  // namespace openai_codec
namespace claude_codec {
/// `allocated`: see reader::open (0: the body is copied); `out` is not reset (its memory may
/// hold a parse of the body already).
std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated);
std::string encode_request(const canonical_request& in, std::string& out);
std::string decode_response(std::string_view body, canonical_response& out);
std::string encode_response(const canonical_response& in, std::string& out);
std::string decode_models(std::string_view body, canonical_model_list& out);
void encode_models(const canonical_model_list& in, std::string& out);
}  // namespace claude_codec
namespace gemini_codec {
/// `allocated`: see reader::open (0: the body is copied); `out` is not reset (its memory may
/// hold a parse of the body already).
std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated);
std::string encode_request(const canonical_request& in, std::string& out);
std::string decode_response(std::string_view body, canonical_response& out);
std::string encode_response(const canonical_response& in, std::string& out);
std::string decode_models(std::string_view body, canonical_model_list& out);
void encode_models(const canonical_model_list& in, std::string& out);
/// Writes `schema` (raw JSON) cleaned for Gemini (see clean_schema_for_gemini) into `out`.
/// Returns false when nothing is left worth sending (an object schema without properties).
bool write_clean_schema(std::string_view schema, std::string& out);
}  // namespace gemini_codec

}  // namespace aiclient::protocol
