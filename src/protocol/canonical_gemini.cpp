// Gemini generateContent <-> canonical model.
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiclient/protocol/errors.hpp"
#include "codec_util.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aiclient::protocol::gemini_codec {

namespace {

using namespace codec;

/// The dummy thought signature Google documents for function calls whose real signature is
/// unknown (history from another model): Gemini 3 rejects an unsigned first function call of a
/// model turn, and skips validation for this value.
constexpr std::string_view unsigned_call_signature = "skip_thought_signature_validator";
/// thinkingBudget for effort levels.
constexpr std::int64_t budget_minimal = 512;
constexpr std::int64_t budget_low = 1024;
constexpr std::int64_t budget_medium = 8192;
constexpr std::int64_t budget_high = 24576;

// ---------------------------------------------------------------------------------------------
// Walking JSON text that is already valid (schemas): one pass, no allocation.

const char* skip_ws(const char* p, const char* e) {
  while (p < e && is_ws(*p)) ++p;
  return p;
}

// p at an opening quote: the position after the closing quote.
const char* string_end(const char* p, const char* e) {
  ++p;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (e - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    auto bits = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
    const char* const block = p;
    while (bits) {
      const char* q = block + __builtin_ctz(bits);
      bits &= bits - 1;
      if (q < p) continue;  // the escaped byte of an escape
      if (*q == '"') return q + 1;
      p = q + 2;
    }
    if (p < block + 16) p = block + 16;
  }
#endif
  while (p < e) {
    if (*p == '"') return p + 1;
    p += *p == '\\' ? 2 : 1;
  }
  return e;
}

// p at a value: the position after it.
const char* value_end(const char* p, const char* e) {
  if (p >= e) return e;
  if (*p == '"') return string_end(p, e);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < e) {
      const char c = *p;
      if (c == '"') {
        p = string_end(p, e);
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return p + 1;
      }
      ++p;
    }
    return e;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p)) ++p;
  return p;
}

// Calls f(key content (escaped, no quotes), value text) for each member of an object.
template <class F>
void members(std::string_view obj, F&& f) {
  obj = trim_ws(obj);
  if (obj.empty() || obj.front() != '{') return;
  const char* p = obj.data() + 1;
  const char* e = obj.data() + obj.size();
  for (;;) {
    p = skip_ws(p, e);
    if (p >= e || *p != '"') return;
    const char* k = p;
    p = string_end(p, e);
    const std::string_view key(k + 1, static_cast<std::size_t>(p - k - 2));
    p = skip_ws(p, e);
    if (p >= e || *p != ':') return;
    p = skip_ws(p + 1, e);
    const char* v = p;
    p = value_end(p, e);
    f(key, std::string_view(v, static_cast<std::size_t>(p - v)));
    p = skip_ws(p, e);
    if (p >= e || *p != ',') return;
    ++p;
  }
}

// Calls f(element text) for each element of an array.
template <class F>
void elements_of(std::string_view arr, F&& f) {
  arr = trim_ws(arr);
  if (arr.empty() || arr.front() != '[') return;
  const char* p = arr.data() + 1;
  const char* e = arr.data() + arr.size();
  for (;;) {
    p = skip_ws(p, e);
    if (p >= e || *p == ']') return;
    const char* v = p;
    p = value_end(p, e);
    f(std::string_view(v, static_cast<std::size_t>(p - v)));
    p = skip_ws(p, e);
    if (p >= e || *p != ',') return;
    ++p;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema cleaning (see clean_schema_for_gemini in canonical.hpp for the list)

// The keywords Gemini accepts, in the order of the bits that record which were written.
constexpr std::string_view kept_keywords[] = {
    "type",      "format",   "title",         "description",   "nullable",
    "enum",      "items",    "properties",    "required",      "anyOf",
    "minItems",  "maxItems", "minimum",       "maximum",       "minLength",
    "maxLength", "pattern",  "minProperties", "maxProperties", "propertyOrdering"};
enum : int {
  kw_type = 0,
  kw_format,
  kw_title,
  kw_description,
  kw_nullable,
  kw_enum,
  kw_items,
  kw_properties,
  kw_required,
  kw_any_of
};

// Called for every key of every schema: a table by first letter and length narrows the
// candidates to one or two before comparing characters.
int keyword_index(std::string_view k) {
  if (k.size() < 4 || k.size() > 16) return -1;
  const auto is = [&](int kw) { return kept_keywords[kw] == k ? kw : -1; };
  switch (k.front()) {
    case 't':
      return k.size() == 4 ? is(kw_type) : is(kw_title);
    case 'f':
      return is(kw_format);
    case 'd':
      return is(kw_description);
    case 'n':
      return is(kw_nullable);
    case 'e':
      return is(kw_enum);
    case 'i':
      return is(kw_items);
    case 'p':
      if (k.size() == 10) return is(kw_properties);
      if (k.size() == 7) return is(16);  // pattern
      return is(19);                     // propertyOrdering
    case 'r':
      return is(kw_required);
    case 'a':
      return is(kw_any_of);
    case 'm':
      for (int kw = 10; kw <= 18; ++kw)
        if (kw != 16 && kept_keywords[kw] == k) return kw;
      return -1;
    default:
      return -1;
  }
}

bool is_kept_format(std::string_view v) {
  return v == R"("date-time")" || v == R"("enum")" || v == R"("int32")" || v == R"("int64")" ||
         v == R"("float")" || v == R"("double")";
}

bool is_null_schema(std::string_view s) {
  bool null_type = false;
  bool other = false;
  members(s, [&](std::string_view k, std::string_view v) {
    if (is(k, "type")) {
      null_type = v == R"("null")";
    } else if (!is(k, "description") && !is(k, "title")) {
      other = true;
    }
  });
  return null_type && !other;
}

// Rewrites a JSON schema for Gemini in one pass over its text; keywords whose effect depends on
// others (anyOf, oneOf, const, $ref, nullable) are settled when the object ends.
class schema_cleaner {
 public:
  explicit schema_cleaner(std::string_view schema)
      : begin_(schema.data()), end_(schema.data() + schema.size()) {}

  void run(std::string& out) {
    const std::string_view root = trim_ws(std::string_view(begin_, end_ - begin_));
    members(root, [&](std::string_view k, std::string_view v) {
      if (!is(k, "$defs") && !is(k, "definitions")) return;
      const std::string_view prefix = is(k, "$defs") ? "#/$defs/" : "#/definitions/";
      members(v, [&](std::string_view name, std::string_view def) {
        defs_.push_back({std::string(prefix) + std::string(name), def});
      });
    });
    clean(root.data(), out, 0);
  }

 private:
  struct def {
    std::string ref;
    std::string_view schema;
  };
  static constexpr int max_ref_depth = 8;
  static constexpr int max_expansions = 256;

  // Writes the cleaned schema at p; returns the position after it.
  const char* clean(const char* p, std::string& out, int depth) {
    p = skip_ws(p, end_);
    if (p >= end_ || *p != '{') {
      out += "{}";
      return value_end(p, end_);
    }
    const std::size_t start = out.size();
    out += '{';
    std::uint32_t written = 0;
    bool nullable = false;
    std::string_view ref, const_value, any_of, one_of;
    const auto key = [&](int kw) {
      if (written) out += ',';
      written |= 1u << kw;
      out += '"';
      out += kept_keywords[kw];
      out += "\":";
    };
    p = skip_ws(p + 1, end_);
    while (p < end_ && *p == '"') {
      const char* k = p;
      p = string_end(p, end_);
      const std::string_view name(k + 1, static_cast<std::size_t>(p - k - 2));
      p = skip_ws(p, end_);
      p = skip_ws(p + 1, end_);  // ':'
      const char* v = p;
      const char* next = nullptr;
      const int kw = keyword_index(name);
      if (kw == kw_type) {
        next = value_end(v, end_);
        const std::string_view value(v, static_cast<std::size_t>(next - v));
        if (value.front() == '"') {
          key(kw_type);
          out += value;
        } else if (value.front() == '[') {
          std::string_view picked;
          elements_of(value, [&](std::string_view t) {
            if (t == R"("null")") {
              nullable = true;
            } else if (picked.empty() && t.front() == '"') {
              picked = t;
            }
          });
          if (!picked.empty()) {
            key(kw_type);
            out += picked;
          }
        }
      } else if (kw == kw_properties && *v == '{') {
        const char* q = skip_ws(v + 1, end_);
        if (*q == '}') {
          next = q + 1;  // empty: Gemini rejects it
        } else {
          key(kw_properties);
          out += '{';
          bool first = true;
          while (q < end_ && *q == '"') {
            const char* pk = q;
            q = string_end(q, end_);
            if (!first) out += ',';
            first = false;
            out.append(pk, static_cast<std::size_t>(q - pk));
            out += ':';
            q = skip_ws(q, end_);
            q = clean(q + 1, out, depth);
            q = skip_ws(q, end_);
            if (q < end_ && *q == ',') q = skip_ws(q + 1, end_);
          }
          out += '}';
          next = q + 1;  // '}'
        }
      } else if (kw == kw_items && (*v == '{' || *v == '[')) {
        key(kw_items);
        if (*v == '{') {
          next = clean(v, out, depth);
        } else {
          next = value_end(v, end_);
          const char* first = skip_ws(v + 1, end_);
          if (*first == ']') {
            out += "{}";
          } else {
            clean(first, out, depth);
          }
        }
      } else {
        next = value_end(v, end_);
        const std::string_view value(v, static_cast<std::size_t>(next - v));
        if (kw == kw_any_of) {
          any_of = value;
        } else if (name == "oneOf") {
          one_of = value;
        } else if (name == "const") {
          if (value.front() == '"') const_value = value;
        } else if (name == "$ref") {
          ref = value;
        } else if (kw == kw_nullable) {
          nullable = nullable || value == "true";
        } else if (kw == kw_format) {
          if (is_kept_format(value)) {
            key(kw_format);
            out += value;
          }
        } else if (kw >= 0) {
          key(kw);
          out += value;
        }
      }
      p = skip_ws(next, end_);
      if (p < end_ && *p == ',') p = skip_ws(p + 1, end_);
    }
    if (p < end_ && *p == '}') ++p;

    if (!ref.empty()) {
      out.resize(start);
      const std::string_view target = ref.substr(1, ref.size() - 2);
      for (const def& d : defs_) {
        if (d.ref != target) continue;
        if (depth < max_ref_depth && expansions_ < max_expansions) {
          ++expansions_;
          clean(d.schema.data(), out, depth + 1);
          return p;
        }
        break;
      }
      out += R"({"type":"object"})";
      return p;
    }
    const std::string_view alternatives = any_of.empty() ? one_of : any_of;
    if (!alternatives.empty()) {
      std::vector<std::string_view> kept;
      elements_of(alternatives, [&](std::string_view item) {
        if (is_null_schema(item)) {
          nullable = true;
        } else {
          kept.push_back(item);
        }
      });
      if (kept.size() == 1 && !(written & (1u << kw_type))) {
        // {"anyOf":[X, {"type":"null"}]}: X itself, nullable; the outer keywords win.
        std::string inner;
        clean(kept.front().data(), inner, depth);
        members(inner, [&](std::string_view k, std::string_view v) {
          const int kw = keyword_index(k);
          if (kw == kw_nullable) {
            nullable = nullable || v == "true";
          } else if (kw >= 0 && !(written & (1u << kw))) {
            key(kw);
            out += v;
          }
        });
      } else if (!kept.empty()) {
        key(kw_any_of);
        out += '[';
        for (std::size_t i = 0; i < kept.size(); ++i) {
          if (i) out += ',';
          clean(kept[i].data(), out, depth);
        }
        out += ']';
      }
    }
    if (!const_value.empty() && !(written & (1u << kw_enum))) {
      if (!(written & (1u << kw_type))) {
        key(kw_type);
        out += R"("string")";
      }
      key(kw_enum);
      out += '[';
      out += const_value;
      out += ']';
    }
    if (nullable && !(written & (1u << kw_nullable))) {
      key(kw_nullable);
      out += "true";
    }
    out += '}';
    return p;
  }

  const char* begin_;
  const char* end_;
  std::vector<def> defs_;
  int expansions_ = 0;
};

// Schemas from Gemini clients are OpenAPI-flavoured: the @google/genai SDK writes types in upper
// case ("OBJECT") and marks optional values with "nullable". Both are fine for Gemini but not
// JSON Schema (OpenAI, Claude): decoded schemas get lower-case types and ["x", "null"] types.
bool needs_json_schema_spelling(std::string_view s) {
  const char* p = s.data();
  const char* const e = p + s.size();
  const auto at = [&](const char* q, std::string_view word) {
    return static_cast<std::size_t>(e - q) > word.size() &&
           std::memcmp(q, word.data(), word.size()) == 0 && q[word.size()] == '"';
  };
  while ((p = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(e - p))))) {
    ++p;
    if (p >= e) break;
    const char c = *p;
    if (c == 'n') {
      if (at(p, "nullable")) return true;
    } else if (c >= 'A' && c <= 'Z') {
      for (const std::string_view t :
           {"OBJECT", "STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY", "NULL"})
        if (at(p, t)) return true;
    }
    p = string_end(p - 1, e);  // skip the rest of this string
  }
  return false;
}

void append_lower(std::string& out, std::string_view s) {
  for (const char c : s) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

void json_schema_spelling(std::string_view v, std::string& out) {
  v = trim_ws(v);
  if (v.empty()) return;
  if (v.front() == '{') {
    bool nullable = false;
    bool string_type = false;
    members(v, [&](std::string_view k, std::string_view x) {
      if (is(k, "nullable")) nullable = x == "true";
      if (is(k, "type")) string_type = !x.empty() && x.front() == '"';
    });
    out += '{';
    bool first = true;
    members(v, [&](std::string_view k, std::string_view x) {
      if (is(k, "nullable") && string_type) return;  // folded into "type"
      if (!first) out += ',';
      first = false;
      out += '"';
      out += k;
      out += "\":";
      if (is(k, "type") && string_type) {
        if (nullable) out += '[';
        append_lower(out, x);
        if (nullable) out += R"(,"null"])";
      } else if (is(k, "enum") || is(k, "const") || is(k, "default") || is(k, "example") ||
                 is(k, "examples")) {
        out += x;
      } else {
        json_schema_spelling(x, out);
      }
    });
    out += '}';
  } else if (v.front() == '[') {
    out += '[';
    bool first = true;
    elements_of(v, [&](std::string_view x) {
      if (!first) out += ',';
      first = false;
      json_schema_spelling(x, out);
    });
    out += ']';
  } else {
    out += v;
  }
}

// A decoded schema in JSON Schema spelling (a view of the input when it already is).
std::string_view json_schema_types(reader& r, std::string_view schema) {
  if (schema.empty() || !needs_json_schema_spelling(schema)) return schema;
  std::string out;
  out.reserve(schema.size() + 16);
  json_schema_spelling(schema, out);
  return r.keep(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Parts (requests and responses)

// Reads Gemini parts; makes up call ids (Gemini sends none) and matches responses to calls.
class part_reader {
 public:
  explicit part_reader(reader& r) : r_(r) {}

  bool parts(od::value& v, std::vector<part>& out) {
    return r_.elements(v, R"("parts")", [&](std::size_t, od::value& x) { return one(x, out); });
  }

 private:
  struct pending_call {
    std::string_view name;  // plain
    text_value id;
  };

  text_value call_id(const text_value& name) {
    std::string id = "call_" + std::to_string(calls_++) + "_";
    id += r_.memory().plain(name);
    return plain_text(r_.keep(std::move(id)));
  }

  bool response(od::value& v, part& p) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t != od::json_type::object)
      return r_.type_error(R"("functionResponse.response")", "an object");
    const char* start = v.raw_json_token().data();
    std::size_t count = 0;
    text_value text;
    bool text_form = false;
    bool error_form = false;
    if (!r_.fields(v, R"("functionResponse.response")", [&](std::string_view k, od::value& x) {
          ++count;
          if (!is(k, "output") && !is(k, "error")) return true;
          od::json_type xt{};
          if (!r_.type(x, xt)) return false;
          if (xt != od::json_type::string) return true;
          text_form = true;
          error_form = is(k, "error");
          return r_.text(x, text, R"("functionResponse.response")");
        }))
      return false;
    std::string_view raw;
    if (!r_.span_since(start, raw, R"("functionResponse.response")")) return false;
    if (count == 1 && text_form) {
      add_part(p.content, part_kind::text).text = text;
      p.content_string = true;
      p.is_error = error_form;
    } else {
      p.result_json = raw;
    }
    return true;
  }

  bool one(od::value& v, std::vector<part>& out) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t != od::json_type::object) return r_.type_error(R"("parts" items)", "objects");
    const char* start = v.raw_json_token().data();
    text_value text, signature;
    bool has_text = false;
    std::optional<bool> thought;
    bool has_inline = false, has_file = false, has_call = false, has_response = false;
    bool unknown = false;
    std::string_view native_name;
    text_value mime, data, uri;
    text_value name, id;
    std::string_view args;
    part result;
    result.kind = part_kind::tool_result;
    if (!r_.fields(v, R"("parts" items)", [&](std::string_view k, od::value& x) {
          if (gemini_key(k, "text")) {
            has_text = true;
            return r_.text(x, text, R"(part "text")");
          }
          if (gemini_key(k, "thought")) return r_.boolean(x, thought, R"(part "thought")");
          if (gemini_key(k, "thoughtSignature"))
            return r_.text(x, signature, R"("thoughtSignature")");
          if (gemini_key(k, "inlineData")) {
            has_inline = true;
            return r_.fields(x, R"("inlineData")", [&](std::string_view k2, od::value& y) {
              if (gemini_key(k2, "mimeType")) return r_.text(y, mime, R"("inlineData.mimeType")");
              if (gemini_key(k2, "data")) return r_.text(y, data, R"("inlineData.data")");
              return true;
            });
          }
          if (gemini_key(k, "fileData")) {
            has_file = true;
            return r_.fields(x, R"("fileData")", [&](std::string_view k2, od::value& y) {
              if (gemini_key(k2, "mimeType")) return r_.text(y, mime, R"("fileData.mimeType")");
              if (gemini_key(k2, "fileUri")) return r_.text(y, uri, R"("fileData.fileUri")");
              return true;
            });
          }
          if (gemini_key(k, "functionCall")) {
            has_call = true;
            return r_.fields(x, R"("functionCall")", [&](std::string_view k2, od::value& y) {
              if (gemini_key(k2, "name")) return r_.text(y, name, R"("functionCall.name")");
              if (gemini_key(k2, "id")) return r_.text(y, id, R"("functionCall.id")");
              if (gemini_key(k2, "args")) return r_.raw_object(y, args, R"("functionCall.args")");
              return true;
            });
          }
          if (gemini_key(k, "functionResponse")) {
            has_response = true;
            return r_.fields(x, R"("functionResponse")", [&](std::string_view k2, od::value& y) {
              if (gemini_key(k2, "name")) return r_.text(y, name, R"("functionResponse.name")");
              if (gemini_key(k2, "id")) return r_.text(y, id, R"("functionResponse.id")");
              if (gemini_key(k2, "response")) return response(y, result);
              return true;
            });
          }
          if (!gemini_key(k, "videoMetadata") && !gemini_key(k, "partMetadata")) {
            unknown = true;
            native_name = k;
          }
          return true;
        }))
      return false;
    if (has_call) {
      if (name.empty()) return r_.fail(R"(a functionCall needs a "name")");
      part& p = add_part(out, part_kind::tool_call);
      p.name = name;
      p.arguments = plain_text(args.empty() ? std::string_view("{}") : args);
      p.signature = signature;
      if (id.empty()) {
        p.id = call_id(name);
        p.synthetic_id = true;
      } else {
        p.id = id;
      }
      pending_.push_back({r_.memory().plain(name), p.id});
      return true;
    }
    if (has_response) {
      if (name.empty()) return r_.fail(R"(a functionResponse needs a "name")");
      result.name = name;
      const std::string_view plain_name = r_.memory().plain(name);
      bool matched = false;
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        const bool same = id.empty() ? it->name == plain_name : same_text(r_.memory(), it->id, id);
        if (!same) continue;
        result.id = it->id;
        pending_.erase(it);
        matched = true;
        break;
      }
      if (!matched) result.id = id.empty() ? call_id(name) : id;
      result.synthetic_id = id.empty();
      out.push_back(std::move(result));
      return true;
    }
    if (has_inline) {
      part& p = add_part(out, part_kind::media);
      p.media_type = mime;
      p.data = data;
      return true;
    }
    if (has_file) {
      part& p = add_part(out, part_kind::media);
      p.media_type = mime;
      p.url = uri;
      return true;
    }
    if (thought == true) {
      part& p = add_part(out, part_kind::thinking);
      p.text = text;
      p.signature = signature;
      return true;
    }
    if (has_text || (!unknown && !signature.empty())) {
      part& p = add_part(out, part_kind::text);
      p.text = text;
      p.signature = signature;
      return true;
    }
    part& p = add_part(out, part_kind::native);
    p.native_protocol = wire_protocol::gemini;
    p.name = plain_text(native_name);
    return r_.span_since(start, p.raw, "a part");
  }

  reader& r_;
  std::size_t calls_ = 0;
  std::vector<pending_call> pending_;
};

// Writes canonical parts as Gemini parts.
class part_writer {
 public:
  part_writer(json_writer& w, decode_memory& m, std::string& error) : w_(w), m_(m), error_(error) {}

  void signature(const text_value& s) {
    if (s.empty()) return;
    w_.key("thoughtSignature");
    w_.text(s);
  }

  void text(const part& p) {
    w_.begin_object();
    w_.key("text");
    w_.text(p.text);
    signature(p.signature);
    w_.end_object();
  }

  void thinking(const part& p) {
    w_.begin_object();
    w_.key("thought");
    w_.boolean(true);
    w_.key("text");
    w_.text(p.text);
    signature(p.signature);
    w_.end_object();
  }

  void media(const part& p) {
    w_.begin_object();
    if (!p.url.empty()) {
      w_.key("fileData");
      w_.begin_object();
      const std::string_view type = p.media_type.empty() ? guess_type(m_.plain(p.url)) : "";
      if (!p.media_type.empty()) {
        w_.key("mimeType");
        w_.text(p.media_type);
      } else if (!type.empty()) {
        w_.key("mimeType");
        w_.string(type);
      }
      w_.key("fileUri");
      w_.text(p.url);
      w_.end_object();
    } else {
      w_.key("inlineData");
      w_.begin_object();
      w_.key("mimeType");
      w_.text(p.media_type);
      w_.key("data");
      w_.text(p.data);
      w_.end_object();
    }
    w_.end_object();
  }

  bool call(const part& p, bool with_id, const text_value& sig) {
    std::string_view args;
    if (!arguments_object(m_, p.arguments, args))
      return fail("the arguments of tool call \"" + std::string(m_.plain(p.id)) +
                  "\" are not a JSON object");
    w_.begin_object();
    w_.key("functionCall");
    w_.begin_object();
    if (with_id && !p.synthetic_id) {
      w_.key("id");
      w_.text(p.id);
    }
    w_.key("name");
    w_.text(p.name);
    w_.key("args");
    w_.raw(args);
    w_.end_object();
    signature(sig);
    w_.end_object();
    return true;
  }

  void result(const part& p, const text_value& name, bool with_id) {
    w_.begin_object();
    w_.key("functionResponse");
    w_.begin_object();
    if (with_id && !p.synthetic_id) {
      w_.key("id");
      w_.text(p.id);
    }
    w_.key("name");
    w_.text(name);
    w_.key("response");
    if (!p.result_json.empty()) {
      w_.raw(p.result_json);
    } else {
      w_.begin_object();
      w_.key(p.is_error ? "error" : "output");
      write_joined_text(w_, p.content, "\n");
      w_.end_object();
    }
    w_.end_object();
    w_.end_object();
  }

  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }

 private:
  // A media type from a URL's extension (fileData wants one), empty when unknown.
  static std::string_view guess_type(std::string_view url) {
    url = url.substr(0, url.find_first_of("?#"));
    const std::size_t dot = url.rfind('.');
    if (dot == std::string_view::npos) return {};
    std::string ext(url.substr(dot + 1));
    for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (ext == "png") return "image/png";
    if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
    if (ext == "gif") return "image/gif";
    if (ext == "webp") return "image/webp";
    if (ext == "pdf") return "application/pdf";
    if (ext == "mp3") return "audio/mpeg";
    if (ext == "wav") return "audio/wav";
    if (ext == "mp4") return "video/mp4";
    return {};
  }

  json_writer& w_;
  decode_memory& m_;
  std::string& error_;
};

// ---------------------------------------------------------------------------------------------
// Request decoding

class request_decoder {
 public:
  request_decoder(reader& r, canonical_request& q) : r_(r), q_(q), parts_(r) {}

  bool field(std::string_view key, od::value& v) {
    if (gemini_key(key, "contents")) return contents(v);
    if (gemini_key(key, "systemInstruction")) return system(v);
    if (gemini_key(key, "tools")) return tools(v);
    if (gemini_key(key, "toolConfig")) return tool_config(v);
    if (gemini_key(key, "generationConfig")) return generation_config(v);
    if (is(key, "model")) return r_.text(v, q_.model, R"("model")");
    extra_field e;
    e.protocol = wire_protocol::gemini;
    e.key = key;
    if (!r_.raw(v, e.value, "a top-level field")) return false;
    q_.extras.push_back(e);
    return true;
  }

  bool finish() {
    if (!saw_contents_) return r_.fail(R"("contents" is required)");
    return true;
  }

 private:
  bool system(od::value& v) {
    message m;
    m.role = message_role::system;
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t == od::json_type::null) return true;
    if (t == od::json_type::string) {  // lenient: a bare string
      m.content_string = true;
      if (!r_.text(v, add_part(m.parts, part_kind::text).text, R"("systemInstruction")"))
        return false;
    } else if (!r_.fields(v, R"("systemInstruction")", [&](std::string_view k, od::value& x) {
                 if (gemini_key(k, "parts")) return parts_.parts(x, m.parts);
                 return true;
               })) {
      return false;
    }
    for (const part& p : m.parts)
      if (p.kind != part_kind::text) return r_.fail(R"("systemInstruction" parts must be text)");
    q_.messages.insert(q_.messages.begin(), std::move(m));
    return true;
  }

  bool contents(od::value& v) {
    saw_contents_ = true;
    return r_.elements(v, R"("contents")", [&](std::size_t i, od::value& x) {
      std::string_view role;
      message m;
      od::json_type t{};
      if (!r_.type(x, t)) return false;
      if (t != od::json_type::object) return r_.type_error(R"("contents" items)", "objects");
      if (!r_.fields(x, R"("contents" items)", [&](std::string_view k, od::value& y) {
            if (gemini_key(k, "role")) return r_.plain(y, role, R"(content "role")");
            if (gemini_key(k, "parts")) return parts_.parts(y, m.parts);
            return true;
          }))
        return false;
      if (role == "model") {
        m.role = message_role::assistant;
      } else if (role.empty() || role == "user" || role == "function" || role == "tool") {
        m.role = message_role::user;
      } else {
        return r_.fail("contents[" + std::to_string(i) + "]: role must be \"user\" or \"model\"");
      }
      q_.messages.push_back(std::move(m));
      return true;
    });
  }

  bool tools(od::value& v) {
    return r_.elements(v, R"("tools")", [&](std::size_t, od::value& x) {
      return r_.fields(x, R"("tools" items)", [&](std::string_view k, od::value& y) {
        if (gemini_key(k, "functionDeclarations")) {
          return r_.elements(y, R"("functionDeclarations")", [&](std::size_t i, od::value& z) {
            tool t;
            if (!r_.fields(
                    z, R"("functionDeclarations" items)", [&](std::string_view k2, od::value& a) {
                      if (gemini_key(k2, "name")) return r_.text(a, t.name, R"("name")");
                      if (gemini_key(k2, "description"))
                        return r_.text(a, t.description, R"("description")");
                      if (gemini_key(k2, "parameters") || gemini_key(k2, "parametersJsonSchema"))
                        return r_.raw_object(a, t.parameters, R"("parameters")");
                      return true;
                    }))
              return false;
            if (t.name.empty())
              return r_.fail("functionDeclarations[" + std::to_string(i) + "] needs a name");
            t.parameters = json_schema_types(r_, t.parameters);
            q_.tools.push_back(t);
            return true;
          });
        }
        tool t;
        t.native_protocol = wire_protocol::gemini;
        t.name = plain_text(k);
        std::string_view raw;
        if (!r_.raw(y, raw, "a tool")) return false;
        std::string obj = "{";
        append_json_string(obj, k);
        obj += ':';
        obj += raw;
        obj += '}';
        t.raw = r_.keep(std::move(obj));
        q_.tools.push_back(t);
        return true;
      });
    });
  }

  bool tool_config(od::value& v) {
    return r_.fields(v, R"("toolConfig")", [&](std::string_view k, od::value& x) {
      if (!gemini_key(k, "functionCallingConfig")) return true;
      std::string_view mode;
      std::vector<text_value> names;
      if (!r_.fields(x, R"("functionCallingConfig")", [&](std::string_view k2, od::value& y) {
            if (gemini_key(k2, "mode")) return r_.plain(y, mode, R"("mode")");
            if (gemini_key(k2, "allowedFunctionNames")) {
              return r_.elements(y, R"("allowedFunctionNames")", [&](std::size_t, od::value& z) {
                text_value n;
                if (!r_.text(z, n, R"("allowedFunctionNames" items)")) return false;
                names.push_back(n);
                return true;
              });
            }
            return true;
          }))
        return false;
      if (mode == "AUTO" || mode == "VALIDATED") {
        q_.choice.mode = tool_choice_mode::automatic;
      } else if (mode == "NONE") {
        q_.choice.mode = tool_choice_mode::none;
      } else if (mode == "ANY") {
        q_.choice.mode = names.empty() ? tool_choice_mode::required : tool_choice_mode::named;
        q_.choice.names = std::move(names);
      } else if (!mode.empty() && mode != "MODE_UNSPECIFIED") {
        return r_.fail("unsupported functionCallingConfig mode \"" + std::string(mode) + "\"");
      }
      return true;
    });
  }

  bool generation_config(od::value& v) {
    std::string_view mime;
    std::string_view schema;
    if (!r_.fields(v, R"("generationConfig")", [&](std::string_view k, od::value& x) {
          if (gemini_key(k, "maxOutputTokens"))
            return r_.integer(x, q_.max_tokens, R"("maxOutputTokens")");
          if (gemini_key(k, "temperature")) return r_.number(x, q_.temperature, R"("temperature")");
          if (gemini_key(k, "topP")) return r_.number(x, q_.top_p, R"("topP")");
          if (gemini_key(k, "topK")) {
            std::optional<double> d;  // Gemini allows a number here
            if (!r_.number(x, d, R"("topK")")) return false;
            if (d) q_.top_k = static_cast<std::int64_t>(*d);
            return true;
          }
          if (gemini_key(k, "candidateCount"))
            return r_.integer(x, q_.candidates, R"("candidateCount")");
          if (gemini_key(k, "presencePenalty"))
            return r_.number(x, q_.presence_penalty, R"("presencePenalty")");
          if (gemini_key(k, "frequencyPenalty"))
            return r_.number(x, q_.frequency_penalty, R"("frequencyPenalty")");
          if (gemini_key(k, "seed")) return r_.integer(x, q_.seed, R"("seed")");
          if (gemini_key(k, "stopSequences")) {
            return r_.elements(x, R"("stopSequences")", [&](std::size_t, od::value& y) {
              text_value s;
              if (!r_.text(y, s, R"("stopSequences" items)")) return false;
              q_.stop.push_back(s);
              return true;
            });
          }
          if (gemini_key(k, "responseMimeType")) return r_.plain(x, mime, R"("responseMimeType")");
          if (gemini_key(k, "responseSchema") || gemini_key(k, "responseJsonSchema"))
            return r_.raw_object(x, schema, R"("responseSchema")");
          if (gemini_key(k, "thinkingConfig")) return thinking_config(x);
          extra_field e;
          e.protocol = wire_protocol::gemini;
          std::string key = "generationConfig.";
          key += k;
          e.key = r_.keep(std::move(key));
          if (!r_.raw(x, e.value, R"(a "generationConfig" field)")) return false;
          q_.extras.push_back(e);
          return true;
        }))
      return false;
    if (mime == "application/json") {
      q_.format.kind =
          schema.empty() ? response_format_kind::json_object : response_format_kind::json_schema;
      q_.format.schema = json_schema_types(r_, schema);
    } else if (mime == "text/plain") {
      q_.format.kind = response_format_kind::text;
    } else if (!mime.empty()) {
      return r_.fail("unsupported responseMimeType \"" + std::string(mime) + "\"");
    } else if (!schema.empty()) {
      return r_.fail(R"("responseSchema" needs responseMimeType "application/json")");
    }
    return true;
  }

  bool thinking_config(od::value& v) {
    reasoning_config& rc = q_.reasoning;
    return r_.fields(v, R"("thinkingConfig")", [&](std::string_view k, od::value& x) {
      if (gemini_key(k, "thinkingBudget")) {
        if (!r_.integer(x, rc.budget_tokens, R"("thinkingBudget")")) return false;
        if (rc.budget_tokens) rc.enabled = *rc.budget_tokens != 0;
        return true;
      }
      if (gemini_key(k, "includeThoughts"))
        return r_.boolean(x, rc.include_thoughts, R"("includeThoughts")");
      if (gemini_key(k, "thinkingLevel")) {
        std::string_view level;
        if (!r_.plain(x, level, R"("thinkingLevel")")) return false;
        std::string lower(level);
        for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        rc.effort = r_.keep(std::move(lower));
        return true;
      }
      return true;
    });
  }

  reader& r_;
  canonical_request& q_;
  part_reader parts_;
  bool saw_contents_ = false;
};

// ---------------------------------------------------------------------------------------------
// Request encoding

class request_encoder {
 public:
  request_encoder(const canonical_request& q, std::string& out)
      : q_(q), w_(out), parts_(w_, tmp_, error_) {}

  std::string run() {
    for (const message& m : q_.messages)
      for (const part& p : m.parts)
        if (p.kind == part_kind::tool_call) call_names_.emplace(tmp_.plain(p.id), p.name);
    w_.begin_object();
    if (!contents()) return error_;
    system();
    if (!tools()) return error_;
    generation_config();
    for (const extra_field& e : q_.extras) {
      if (e.protocol != wire_protocol::gemini || e.key.starts_with("generationConfig.")) continue;
      w_.key_plain(e.key);
      w_.raw(e.value);
    }
    w_.end_object();
    return error_;
  }

 private:
  bool own() const { return q_.source == wire_protocol::gemini; }

  // Whether a part is written (thinking from elsewhere only when signed: Gemini reads nothing
  // from unsigned foreign reasoning).
  bool writes(const part& p, bool model) const {
    switch (p.kind) {
      case part_kind::text:
        return !p.text.empty() || !p.signature.empty() || own();
      case part_kind::thinking:
        return model && (own() || !p.signature.empty());
      case part_kind::redacted_thinking:
        return false;
      default:
        return true;
    }
  }

  bool emits(const message& m) const {
    for (const part& p : m.parts)
      if (writes(p, m.role == message_role::assistant)) return true;
    return false;
  }

  bool contents() {
    w_.key("contents");
    w_.begin_array();
    std::vector<const message*> group;
    const auto flush = [&]() {
      if (group.empty()) return true;
      const bool ok = group_out(group);
      group.clear();
      return ok;
    };
    for (const message& m : q_.messages) {
      if (m.role == message_role::system || m.role == message_role::developer) continue;
      if (!emits(m)) continue;
      // Consecutive messages of one role are merged for other sources (Gemini wants turns to
      // alternate, and all function responses of a turn in one content); a Gemini client's own
      // contents stay as they were.
      if (!group.empty() && (group.front()->role != m.role || own()) && !flush()) return false;
      group.push_back(&m);
    }
    if (!flush()) return false;
    w_.end_array();
    return true;
  }

  bool result_out(const part& p) {
    text_value name = p.name;
    if (name.empty()) {
      const auto it = call_names_.find(tmp_.plain(p.id));
      if (it == call_names_.end())
        return parts_.fail("tool result \"" + std::string(tmp_.plain(p.id)) +
                           "\" answers no earlier tool call (Gemini needs the function name)");
      name = it->second;
    }
    parts_.result(p, name, own());
    return true;
  }

  bool group_out(const std::vector<const message*>& group) {
    const bool model = group.front()->role == message_role::assistant;
    w_.begin_object();
    w_.key("role");
    w_.string(model ? "model" : "user");
    w_.key("parts");
    w_.begin_array();
    std::vector<const part*> result_media;
    // Function responses first: they must follow the model turn that made the calls.
    for (const message* m : group) {
      for (const part& p : m->parts) {
        if (p.kind != part_kind::tool_result) continue;
        if (!result_out(p)) return false;
        for (const part& c : p.content)
          if (c.kind == part_kind::media) result_media.push_back(&c);
      }
    }
    for (const part* c : result_media) parts_.media(*c);
    bool first_call = true;
    for (const message* m : group) {
      for (const part& p : m->parts) {
        if (p.kind == part_kind::tool_result || !writes(p, model)) continue;
        switch (p.kind) {
          case part_kind::text:
            parts_.text(p);
            break;
          case part_kind::thinking:
            parts_.thinking(p);
            break;
          case part_kind::media:
            parts_.media(p);
            break;
          case part_kind::tool_call: {
            text_value sig = p.signature;
            if (sig.empty() && first_call && !own()) sig = plain_text(unsigned_call_signature);
            first_call = false;
            if (!parts_.call(p, own(), sig)) return false;
            break;
          }
          case part_kind::native:
            if (p.native_protocol != wire_protocol::gemini)
              return parts_.fail("a " + std::string(to_string(p.native_protocol)) + " \"" +
                                 std::string(tmp_.plain(p.name)) +
                                 "\" block has no Gemini equivalent");
            w_.raw(p.raw);
            break;
          default:
            break;
        }
      }
    }
    w_.end_array();
    w_.end_object();
    return true;
  }

  void system() {
    bool any = false;
    for (const message& m : q_.messages) {
      if (m.role != message_role::system && m.role != message_role::developer) continue;
      for (const part& p : m.parts) {
        if (p.kind != part_kind::text) continue;
        if (!any) {
          w_.key("systemInstruction");
          w_.begin_object();
          w_.key("parts");
          w_.begin_array();
          any = true;
        }
        w_.begin_object();
        w_.key("text");
        w_.text(p.text);
        w_.end_object();
      }
    }
    if (any) {
      w_.end_array();
      w_.end_object();
    }
  }

  bool tools() {
    bool functions = false;
    for (const tool& t : q_.tools) {
      if (!t.raw.empty()) {
        if (t.native_protocol != wire_protocol::gemini)
          return parts_.fail("tool \"" + std::string(tmp_.plain(t.name)) + "\" is a " +
                             std::string(to_string(t.native_protocol)) +
                             " built-in tool with no Gemini equivalent");
        continue;
      }
      functions = true;
    }
    if (q_.tools.empty()) return true;
    w_.key("tools");
    w_.begin_array();
    if (functions) {
      w_.begin_object();
      w_.key("functionDeclarations");
      w_.begin_array();
      std::string schema;
      for (const tool& t : q_.tools) {
        if (!t.raw.empty()) continue;
        w_.begin_object();
        w_.key("name");
        w_.text(t.name);
        if (!t.description.empty()) {
          w_.key("description");
          w_.text(t.description);
        }
        if (!t.parameters.empty()) {
          schema.clear();
          if (write_clean_schema(t.parameters, schema)) {
            w_.key("parameters");
            w_.raw(schema);
          }
        }
        w_.end_object();
      }
      w_.end_array();
      w_.end_object();
    }
    for (const tool& t : q_.tools)
      if (!t.raw.empty()) w_.raw(t.raw);
    w_.end_array();
    const tool_choice& c = q_.choice;
    std::string_view mode;
    switch (c.mode) {
      case tool_choice_mode::unset:
        return true;
      case tool_choice_mode::automatic:
        mode = "AUTO";
        break;
      case tool_choice_mode::none:
        mode = "NONE";
        break;
      case tool_choice_mode::required:
      case tool_choice_mode::named:
        mode = "ANY";
        break;
    }
    w_.key("toolConfig");
    w_.begin_object();
    w_.key("functionCallingConfig");
    w_.begin_object();
    w_.key("mode");
    w_.string(mode);
    if (c.mode == tool_choice_mode::named) {
      w_.key("allowedFunctionNames");
      w_.begin_array();
      for (const text_value& n : c.names) w_.text(n);
      w_.end_array();
    }
    w_.end_object();
    w_.end_object();
    return true;
  }

  void open_config(bool& open) {
    if (open) return;
    w_.key("generationConfig");
    w_.begin_object();
    open = true;
  }

  void generation_config() {
    bool open = false;
    if (q_.max_tokens) {
      open_config(open);
      w_.key("maxOutputTokens");
      w_.integer(*q_.max_tokens);
    }
    if (q_.temperature) {
      open_config(open);
      w_.key("temperature");
      w_.number(*q_.temperature);
    }
    if (q_.top_p) {
      open_config(open);
      w_.key("topP");
      w_.number(*q_.top_p);
    }
    if (q_.top_k) {
      open_config(open);
      w_.key("topK");
      w_.integer(*q_.top_k);
    }
    if (!q_.stop.empty()) {
      open_config(open);
      w_.key("stopSequences");
      w_.begin_array();
      for (const text_value& s : q_.stop) w_.text(s);
      w_.end_array();
    }
    if (q_.candidates) {
      open_config(open);
      w_.key("candidateCount");
      w_.integer(*q_.candidates);
    }
    if (q_.presence_penalty) {
      open_config(open);
      w_.key("presencePenalty");
      w_.number(*q_.presence_penalty);
    }
    if (q_.frequency_penalty) {
      open_config(open);
      w_.key("frequencyPenalty");
      w_.number(*q_.frequency_penalty);
    }
    if (q_.seed) {
      open_config(open);
      w_.key("seed");
      w_.integer(*q_.seed);
    }
    const response_format& f = q_.format;
    if (f.kind != response_format_kind::unset) {
      open_config(open);
      w_.key("responseMimeType");
      w_.string(f.kind == response_format_kind::text ? "text/plain" : "application/json");
      if (f.kind == response_format_kind::json_schema) {
        std::string schema;
        write_clean_schema(f.schema, schema);
        w_.key("responseSchema");
        w_.raw(schema);
      }
    }
    thinking_config(open);
    for (const extra_field& e : q_.extras) {
      if (e.protocol != wire_protocol::gemini || !e.key.starts_with("generationConfig.")) continue;
      open_config(open);
      w_.key_plain(e.key.substr(std::strlen("generationConfig.")));
      w_.raw(e.value);
    }
    if (open) w_.end_object();
  }

  void thinking_config(bool& open) {
    const reasoning_config& r = q_.reasoning;
    std::optional<std::int64_t> budget;
    std::string_view level;
    std::optional<bool> include = r.include_thoughts;
    if (own()) {
      budget = r.budget_tokens;
      level = r.effort;
    } else if (r.enabled != false) {
      if (r.budget_tokens) {
        if (*r.budget_tokens != 0) budget = *r.budget_tokens;
      } else if (!r.effort.empty()) {
        if (r.effort == "minimal") {
          budget = budget_minimal;
        } else if (r.effort == "low") {
          budget = budget_low;
        } else if (r.effort == "high" || r.effort == "xhigh") {
          budget = budget_high;
        } else if (r.effort != "none") {
          budget = budget_medium;
        }
      } else if (r.enabled == true) {
        budget = -1;  // dynamic
      }
      // A client that asked for reasoning expects to see it.
      if (budget && !include) include = true;
    }
    if (!budget && level.empty() && !include) return;
    open_config(open);
    w_.key("thinkingConfig");
    w_.begin_object();
    if (budget) {
      w_.key("thinkingBudget");
      w_.integer(*budget);
    }
    if (!level.empty()) {
      w_.key("thinkingLevel");
      w_.string(level);
    }
    if (include) {
      w_.key("includeThoughts");
      w_.boolean(*include);
    }
    w_.end_object();
  }

  const canonical_request& q_;
  json_writer w_;
  decode_memory tmp_;
  std::string error_;
  part_writer parts_;
  std::unordered_map<std::string_view, text_value> call_names_;
};

// ---------------------------------------------------------------------------------------------
// Responses

bool read_usage(reader& r, od::value& v, usage& u) {
  std::optional<std::int64_t> prompt, candidates, thoughts, cached;
  if (!r.fields(v, R"("usageMetadata")", [&](std::string_view k, od::value& x) {
        if (gemini_key(k, "promptTokenCount")) return r.integer(x, prompt, R"("promptTokenCount")");
        if (gemini_key(k, "candidatesTokenCount"))
          return r.integer(x, candidates, R"("candidatesTokenCount")");
        if (gemini_key(k, "thoughtsTokenCount"))
          return r.integer(x, thoughts, R"("thoughtsTokenCount")");
        if (gemini_key(k, "cachedContentTokenCount"))
          return r.integer(x, cached, R"("cachedContentTokenCount")");
        return true;
      }))
    return false;
  u.input_tokens = prompt.value_or(0);
  u.reasoning_tokens = thoughts.value_or(0);
  u.output_tokens = candidates.value_or(0) + u.reasoning_tokens;
  u.cache_read_tokens = cached.value_or(0);
  u.has_input = prompt.has_value();
  u.has_output = candidates.has_value() || thoughts.has_value();
  return true;
}

}  // namespace

bool write_clean_schema(std::string_view schema, std::string& out) {
  const std::size_t at = out.size();
  schema_cleaner(schema).run(out);
  const std::string_view written(out.data() + at, out.size() - at);
  return written != R"({"type":"object"})" && written != "{}";
}

std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated) {
  return codec::decode_request_with<request_decoder>(body, out, wire_protocol::gemini, allocated);
}

std::string encode_request(const canonical_request& in, std::string& out) {
  return request_encoder(in, out).run();
}

std::string decode_response(std::string_view body, canonical_response& out) {
  std::string error;
  out.source = wire_protocol::gemini;
  reader r(error, out.memory, "response body");
  od::object root;
  if (!r.open(body, root)) return error;
  part_reader parts(r);
  std::string_view finish;
  std::string_view block_reason;
  bool saw_candidate = false;
  const bool ok = r.object_fields(root, [&](std::string_view k, od::value& v) {
    if (gemini_key(k, "responseId")) return r.text(v, out.id, R"("responseId")");
    if (gemini_key(k, "modelVersion")) return r.text(v, out.model, R"("modelVersion")");
    if (gemini_key(k, "usageMetadata")) return read_usage(r, v, out.tokens);
    if (gemini_key(k, "promptFeedback")) {
      return r.fields(v, R"("promptFeedback")", [&](std::string_view k2, od::value& x) {
        if (gemini_key(k2, "blockReason")) return r.plain(x, block_reason, R"("blockReason")");
        return true;
      });
    }
    if (!gemini_key(k, "candidates")) return true;
    return r.elements(v, R"("candidates")", [&](std::size_t i, od::value& x) {
      if (i > 0) return true;  // one answer: the first candidate
      saw_candidate = true;
      return r.fields(x, R"("candidates" items)", [&](std::string_view k2, od::value& y) {
        if (gemini_key(k2, "finishReason")) return r.plain(y, finish, R"("finishReason")");
        if (!gemini_key(k2, "content")) return true;
        return r.fields(y, R"("content")", [&](std::string_view k3, od::value& z) {
          if (gemini_key(k3, "parts")) return parts.parts(z, out.parts);
          return true;
        });
      });
    });
  }) && r.close();
  if (!ok) return error;
  if (!saw_candidate) {
    if (block_reason.empty()) return R"(the response has no "candidates")";
    out.stop = stop_reason::content_filter;
    return error;
  }
  out.stop =
      finish.empty() ? stop_reason::end_turn : stop_reason_from(wire_protocol::gemini, finish);
  bool calls = false;
  for (const part& p : out.parts) calls |= p.kind == part_kind::tool_call;
  if (calls && out.stop == stop_reason::end_turn) out.stop = stop_reason::tool_use;
  return error;
}

std::string encode_response(const canonical_response& in, std::string& out) {
  json_writer w(out);
  decode_memory tmp;
  std::string error;
  part_writer parts(w, tmp, error);
  w.begin_object();
  w.key("candidates");
  w.begin_array();
  w.begin_object();
  w.key("content");
  w.begin_object();
  w.key("role");
  w.literal("model");
  w.key("parts");
  w.begin_array();
  for (const part& p : in.parts) {
    switch (p.kind) {
      case part_kind::text:
        parts.text(p);
        break;
      case part_kind::thinking:
        parts.thinking(p);
        break;
      case part_kind::media:
        parts.media(p);
        break;
      case part_kind::tool_call:
        if (!parts.call(p, true, p.signature)) return error;
        break;
      case part_kind::native:
        if (p.native_protocol == wire_protocol::gemini) w.raw(p.raw);
        break;
      default:
        break;
    }
  }
  w.end_array();
  w.end_object();
  w.key("finishReason");
  w.string(stop_reason_to(wire_protocol::gemini, in.stop));
  w.key("index");
  w.integer(0);
  w.end_object();
  w.end_array();
  w.key("usageMetadata");
  std::string usage_json;
  append_usage_json(usage_json, wire_protocol::gemini, in.tokens);
  w.raw(usage_json);
  w.key("modelVersion");
  w.text(in.model);
  w.key("responseId");
  if (in.id.empty()) {
    w.string(random_id(""));
  } else {
    w.text(in.id);
  }
  w.end_object();
  return error;
}

std::string decode_models(std::string_view body, canonical_model_list& out) {
  std::string error;
  out.source = wire_protocol::gemini;
  reader r(error, out.memory, "model list");
  od::object root;
  if (!r.open(body, root)) return error;
  r.object_fields(root,
                  [&](std::string_view k, od::value& v) {
                    if (!gemini_key(k, "models")) return true;
                    return r.elements(v, R"("models")", [&](std::size_t, od::value& x) {
                      model_info m;
                      if (!r.fields(x, R"("models" items)", [&](std::string_view k2, od::value& y) {
                            if (gemini_key(k2, "name")) {
                              if (!r.text(y, m.id, R"("name")")) return false;
                              constexpr std::string_view prefix = "models/";
                              if (m.id.data.starts_with(prefix))
                                m.id.data.remove_prefix(prefix.size());
                              return true;
                            }
                            if (gemini_key(k2, "displayName"))
                              return r.text(y, m.display_name, R"("displayName")");
                            if (gemini_key(k2, "description"))
                              return r.text(y, m.description, R"("description")");
                            if (gemini_key(k2, "inputTokenLimit"))
                              return r.integer(y, m.input_token_limit, R"("inputTokenLimit")");
                            if (gemini_key(k2, "outputTokenLimit"))
                              return r.integer(y, m.output_token_limit, R"("outputTokenLimit")");
                            return true;
                          }))
                        return false;
                      if (!m.id.empty()) out.models.push_back(m);
                      return true;
                    });
                  }) &&
      r.close();
  return error;
}

void encode_models(const canonical_model_list& in, std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("models");
  w.begin_array();
  for (const model_info& m : in.models) {
    w.begin_object();
    w.key("name");
    w.begin_string();
    w.piece_plain("models/");
    w.piece(m.id);
    w.end_string();
    w.key("displayName");
    w.text(m.display_name.empty() ? m.id : m.display_name);
    if (!m.description.empty()) {
      w.key("description");
      w.text(m.description);
    }
    if (m.input_token_limit) {
      w.key("inputTokenLimit");
      w.integer(*m.input_token_limit);
    }
    if (m.output_token_limit) {
      w.key("outputTokenLimit");
      w.integer(*m.output_token_limit);
    }
    w.key("supportedGenerationMethods");
    w.raw(R"(["generateContent","streamGenerateContent","countTokens"])");
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace aiclient::protocol::gemini_codec
