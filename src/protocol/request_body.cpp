#include "aiclient/protocol/request_body.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "aiclient/protocol/errors.hpp"
#include "codec_util.hpp"

namespace aiclient::protocol {

namespace {

namespace od = simdjson::ondemand;
static_assert(json_padding >= simdjson::SIMDJSON_PADDING);
using simdjson::error_code;

// The thread's simdjson state for the calls that read a body once (the on-demand parser, its
// buffers grown to the largest body seen, and a padded copy of the body): reused across calls,
// so a typical request allocates nothing here.
json_scratch& scratch() {
  thread_local json_scratch s;
  return s;
}

// The body as simdjson reads it (up to SIMDJSON_PADDING bytes past the end), for the lifetime
// of one call: the caller's own buffer when it has that much room allocated after the body
// (the server reserves it), else a copy in the thread's padded buffer. Declared before the
// document so that it outlives every simdjson object of the call.
class padded_input {
 public:
  padded_input(std::string_view body, std::size_t allocated) : s_(scratch()), size_(body.size()) {
    base_ = s_.padded(body, allocated);
    cap_ = allocated;
  }
  ~padded_input() { s_.trim(); }
  padded_input(const padded_input&) = delete;
  padded_input& operator=(const padded_input&) = delete;

  simdjson::padded_string_view view() const {
    return simdjson::padded_string_view(base_, size_, cap_);
  }
  od::parser& parser() { return s_.parser; }
  /// Offset of a pointer into the input (the same offset as in the original body).
  std::size_t offset(const char* p) const { return static_cast<std::size_t>(p - base_); }

 private:
  json_scratch& s_;
  std::size_t size_;
  const char* base_ = nullptr;
  std::size_t cap_ = 0;
};

constexpr std::string_view malformed_prefix = "malformed JSON in request body: ";

std::string malformed(error_code e) {
  std::string msg(malformed_prefix);
  msg += codec::describe_json_error(e);
  return msg;
}

std::string_view trim_trailing_ws(std::string_view s) {
  while (!s.empty() && codec::is_ws(s.back())) s.remove_suffix(1);
  return s;
}

bool only_ws(std::string_view s) {
  return std::all_of(s.begin(), s.end(), codec::is_ws);
}

// Opens the root object, or explains why the body is not one.
std::string open_root_object(od::document& doc, od::object& obj) {
  od::json_type type;
  if (const error_code e = doc.type().get(type)) return malformed(e);
  if (type != od::json_type::object) {
    // Tell "not an object" from "not JSON at all" for the scalars the type peek cannot judge.
    error_code e = simdjson::SUCCESS;
    switch (type) {
      case od::json_type::string: {
        std::string_view s;
        e = doc.get_string().get(s);
        break;
      }
      case od::json_type::number: {
        double d;
        e = doc.get_double().get(d);
        break;
      }
      case od::json_type::boolean: {
        bool b;
        e = doc.get_bool().get(b);
        break;
      }
      case od::json_type::null: {
        bool is_null = false;
        e = doc.is_null().get(is_null);
        if (!e && !is_null) e = simdjson::N_ATOM_ERROR;
        break;
      }
      default:
        break;
    }
    if (e) return malformed(e);
    return "request body must be a JSON object";
  }
  if (const error_code e = doc.get_object().get(obj)) return malformed(e);
  return {};
}

// After the root object: anything but the end of the input is an error.
std::string check_end(od::document& doc) {
  const char* loc = nullptr;
  const error_code e = doc.current_location().get(loc);
  if (e == simdjson::OUT_OF_BOUNDS) return {};
  if (e) return malformed(e);
  return std::string(malformed_prefix) + "unexpected content after the top-level object";
}

/// A byte range of the original body replaced by `text` (remove == 0: an insertion).
struct splice {
  std::size_t offset;
  std::size_t remove;
  std::string text;
};

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

// `"\n\n" + prompt` escaped, to insert before the closing quote of an existing string literal.
std::string appended_text(std::string_view prompt) {
  std::string out = "\\n\\n";
  append_json_string_content(out, prompt);
  return out;
}

std::string text_block(std::string_view prompt, bool with_type) {
  std::string out = with_type ? R"({"type":"text","text":)" : R"({"text":)";
  append_json_string(out, prompt);
  out += '}';
  return out;
}

std::string gemini_instruction(std::string_view prompt) {
  return R"({"parts":[)" + text_block(prompt, false) + "]}";
}

/// Collects the splices of one apply_edits call.
class editor {
 public:
  editor(padded_input& in, const body_edits& edits) : in_(in), edits_(edits) {}

  std::vector<splice>& splices() { return splices_; }

  /// Replaces `span` (a view into the padded input) with `text`.
  void replace(std::string_view span, std::string text) {
    splices_.push_back({in_.offset(span.data()), span.size(), std::move(text)});
  }
  /// Inserts `text` at the position of `at` (a pointer into the padded input).
  void insert(const char* at, std::string text) {
    splices_.push_back({in_.offset(at), 0, std::move(text)});
  }

  /// Appends a block to the array `raw` ("[...]", trailing whitespace trimmed).
  void append_to_array(std::string_view raw, std::string block) {
    const bool empty = only_ws(raw.substr(1, raw.size() - 2));
    if (!empty) block.insert(block.begin(), ',');  // (not "," + block: GCC 12 -Wrestrict)
    insert(raw.data() + raw.size() - 1, std::move(block));
  }

  /// Applies the prompt to a string literal token (quotes included, whitespace trimmed).
  void edit_string(std::string_view token) {
    const std::string& prompt = *edits_.system_prompt;
    if (edits_.mode == system_prompt_mode::overwrite || token.size() <= 2) {
      replace(token, json_string(prompt));
    } else {
      insert(token.data() + token.size() - 1, appended_text(prompt));
    }
  }

  error_code claude_system(od::value v, std::string& error) {
    od::json_type type;
    if (const error_code e = v.type().get(type)) return e;
    const std::string& prompt = *edits_.system_prompt;
    switch (type) {
      case od::json_type::string: {
        std::string_view s;
        if (const error_code e = v.get_string().get(s)) return e;  // validates the literal
        edit_string(trim_trailing_ws(v.raw_json_token()));
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array a;
        std::string_view raw;
        if (const error_code e = v.get_array().get(a)) return e;
        if (const error_code e = a.raw_json().get(raw)) return e;
        raw = trim_trailing_ws(raw);
        if (edits_.mode == system_prompt_mode::overwrite) {
          replace(raw, json_string(prompt));
        } else {
          append_to_array(raw, text_block(prompt, true));
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::null:
        replace(trim_trailing_ws(v.raw_json_token()), json_string(prompt));
        return simdjson::SUCCESS;
      default:
        error = R"("system" must be a string or an array of content blocks)";
        return simdjson::INCORRECT_TYPE;
    }
  }

  error_code openai_messages(od::value v, std::string& error) {
    od::json_type type;
    if (const error_code e = v.type().get(type)) return e;
    if (type != od::json_type::array) {
      error = R"("messages" must be an array)";
      return simdjson::INCORRECT_TYPE;
    }
    const char* open = v.raw_json_token().data();
    od::array messages;
    if (const error_code e = v.get_array().get(messages)) return e;
    bool any = false;
    for (auto element : messages) {
      od::value message;
      if (const error_code e = std::move(element).get(message)) return e;
      any = true;
      od::json_type message_type;
      if (const error_code e = message.type().get(message_type)) return e;
      if (message_type != od::json_type::object) continue;
      bool found = false;
      if (const error_code e = openai_message(message, found, error)) return e;
      if (found) return simdjson::SUCCESS;
    }
    std::string text = R"({"role":"system","content":)" + json_string(*edits_.system_prompt) + "}";
    if (any) text += ',';
    insert(open + 1, std::move(text));
    return simdjson::SUCCESS;
  }

  error_code gemini_instruction_field(od::value v, std::string& error) {
    od::json_type type;
    if (const error_code e = v.type().get(type)) return e;
    const std::string& prompt = *edits_.system_prompt;
    if (type == od::json_type::null) {
      replace(trim_trailing_ws(v.raw_json_token()), gemini_instruction(prompt));
      return simdjson::SUCCESS;
    }
    if (type != od::json_type::object) {
      error = R"("systemInstruction" must be an object)";
      return simdjson::INCORRECT_TYPE;
    }
    const char* open = v.raw_json_token().data();
    od::object instruction;
    if (const error_code e = v.get_object().get(instruction)) return e;
    if (edits_.mode == system_prompt_mode::overwrite) {
      std::string_view raw;
      if (const error_code e = instruction.raw_json().get(raw)) return e;
      replace(trim_trailing_ws(raw), gemini_instruction(prompt));
      return simdjson::SUCCESS;
    }
    bool has_fields = false;
    bool has_parts = false;
    for (auto field_result : instruction) {
      od::field field;
      if (const error_code e = std::move(field_result).get(field)) return e;
      has_fields = true;
      std::string_view key;
      if (const error_code e = field.unescaped_key().get(key)) return e;
      if (key != "parts") continue;
      has_parts = true;
      od::value parts = field.value();
      od::json_type parts_type;
      if (const error_code e = parts.type().get(parts_type)) return e;
      if (parts_type == od::json_type::null) {
        replace(trim_trailing_ws(parts.raw_json_token()), "[" + text_block(prompt, false) + "]");
      } else if (parts_type == od::json_type::array) {
        od::array a;
        std::string_view raw;
        if (const error_code e = parts.get_array().get(a)) return e;
        if (const error_code e = a.raw_json().get(raw)) return e;
        append_to_array(trim_trailing_ws(raw), text_block(prompt, false));
      } else {
        error = R"("systemInstruction.parts" must be an array)";
        return simdjson::INCORRECT_TYPE;
      }
    }
    if (!has_parts) {
      std::string text = R"("parts":[)" + text_block(prompt, false) + "]";
      if (has_fields) text += ',';
      insert(open + 1, std::move(text));
    }
    return simdjson::SUCCESS;
  }

 private:
  // One OpenAI message object: `found` is set when its role is system/developer (then edited).
  error_code openai_message(od::value message, bool& found, std::string& error) {
    const char* open = message.raw_json_token().data();
    od::object obj;
    if (const error_code e = message.get_object().get(obj)) return e;
    enum class kind { absent, string, array, null, other };
    kind content = kind::absent;
    std::string_view span;  // the content value, trailing whitespace trimmed
    bool system_role = false;
    bool has_fields = false;
    for (auto field_result : obj) {
      od::field field;
      if (const error_code e = std::move(field_result).get(field)) return e;
      has_fields = true;
      std::string_view key;
      if (const error_code e = field.unescaped_key().get(key)) return e;
      od::value v = field.value();
      if (key == "role") {
        od::json_type t;
        if (const error_code e = v.type().get(t)) return e;
        if (t != od::json_type::string) continue;
        std::string_view role;
        if (const error_code e = v.get_string().get(role)) return e;
        system_role = role == "system" || role == "developer";
      } else if (key == "content") {
        od::json_type t;
        if (const error_code e = v.type().get(t)) return e;
        const std::string_view token = trim_trailing_ws(v.raw_json_token());
        switch (t) {
          case od::json_type::string: {
            std::string_view s;
            if (const error_code e = v.get_string().get(s)) return e;
            content = kind::string;
            span = token;
            break;
          }
          case od::json_type::array: {
            od::array a;
            if (const error_code e = v.get_array().get(a)) return e;
            if (const error_code e = a.raw_json().get(span)) return e;
            span = trim_trailing_ws(span);
            content = kind::array;
            break;
          }
          case od::json_type::object: {
            od::object o;
            if (const error_code e = v.get_object().get(o)) return e;
            if (const error_code e = o.raw_json().get(span)) return e;
            span = trim_trailing_ws(span);
            content = kind::other;
            break;
          }
          case od::json_type::null:
            content = kind::null;
            span = token;
            break;
          default:
            content = kind::other;
            span = token;
            break;
        }
      }
    }
    if (!system_role) return simdjson::SUCCESS;
    found = true;
    const std::string& prompt = *edits_.system_prompt;
    const bool overwrite = edits_.mode == system_prompt_mode::overwrite;
    switch (content) {
      case kind::absent: {
        std::string text = R"("content":)" + json_string(prompt);
        if (has_fields) text += ',';
        insert(open + 1, std::move(text));
        break;
      }
      case kind::string:
        edit_string(span);
        break;
      case kind::array:
        if (overwrite) {
          replace(span, json_string(prompt));
        } else {
          append_to_array(span, text_block(prompt, true));
        }
        break;
      case kind::null:
        replace(span, json_string(prompt));
        break;
      case kind::other:
        if (!overwrite) {
          error = "the content of the system message must be a string or an array";
          return simdjson::INCORRECT_TYPE;
        }
        replace(span, json_string(prompt));
        break;
    }
    return simdjson::SUCCESS;
  }

  padded_input& in_;
  const body_edits& edits_;
  std::vector<splice> splices_;
};

bool is_system_key(wire_protocol p, std::string_view key) {
  switch (p) {
    case wire_protocol::claude:
      return key == "system";
    case wire_protocol::openai:
      return key == "messages";
    case wire_protocol::gemini:
      return key == "systemInstruction" || key == "system_instruction";
  }
  return false;
}

std::string absent_system_field(wire_protocol p, std::string_view prompt) {
  switch (p) {
    case wire_protocol::claude:
      return R"("system":)" + json_string(prompt);
    case wire_protocol::openai:
      return R"("messages":[{"role":"system","content":)" + json_string(prompt) + "}]";
    case wire_protocol::gemini:
      return R"("systemInstruction":)" + gemini_instruction(prompt);
  }
  return {};
}

}  // namespace

inspect_result inspect_body(wire_protocol p, std::string_view body) {
  return inspect_body(p, body, 0);
}

namespace {

// The summary of a document whose stage 1 ran: top-level "model", "stream", "stream_options".
inspect_result read_summary(od::document& doc) {
  inspect_result result;
  const auto fail = [&](std::string message) {
    result.error = std::move(message);
    return std::move(result);
  };
  od::object obj;
  if (std::string err = open_root_object(doc, obj); !err.empty()) return fail(std::move(err));

  body_summary summary;
  for (auto field_result : obj) {
    od::field field;
    if (const error_code e = std::move(field_result).get(field)) return fail(malformed(e));
    std::string_view key;
    if (const error_code e = field.unescaped_key().get(key)) return fail(malformed(e));
    if (key != "model" && key != "stream" && key != "stream_options")
      continue;  // skipped unread by the next iteration
    od::value v = field.value();
    od::json_type type;
    if (const error_code e = v.type().get(type)) return fail(malformed(e));
    if (key == "stream_options") {
      // OpenAI: {"include_usage": true}; anything else is left to the upstream to judge.
      if (type != od::json_type::object) continue;
      od::object opts;
      if (const error_code e = v.get_object().get(opts)) return fail(malformed(e));
      for (auto opt_result : opts) {
        od::field opt;
        if (const error_code e = std::move(opt_result).get(opt)) return fail(malformed(e));
        std::string_view opt_key;
        if (const error_code e = opt.unescaped_key().get(opt_key)) return fail(malformed(e));
        if (opt_key != "include_usage") continue;
        bool flag = false;
        if (!opt.value().get_bool().get(flag)) summary.include_usage = flag;
      }
      continue;
    }
    if (key == "model") {  // the last one wins, as in JSON.parse
      if (type != od::json_type::string) return fail(R"("model" must be a string)");
      std::string_view model;
      if (const error_code e = v.get_string().get(model)) return fail(malformed(e));
      summary.model.assign(model);
      summary.has_model = true;
    } else if (type == od::json_type::boolean) {
      if (const error_code e = v.get_bool().get(summary.stream)) return fail(malformed(e));
    } else if (type == od::json_type::null) {
      bool is_null = false;
      if (const error_code e = v.is_null().get(is_null)) return fail(malformed(e));
      if (!is_null) return fail(malformed(simdjson::N_ATOM_ERROR));
      summary.stream = false;
    } else {
      return fail(R"("stream" must be a boolean)");
    }
  }
  if (std::string err = check_end(doc); !err.empty()) return fail(std::move(err));
  result.summary = std::move(summary);
  return result;
}

}  // namespace

inspect_result inspect_body(wire_protocol /*p*/, std::string_view body, std::size_t allocated) {
  padded_input in(body, allocated);
  od::document doc;
  if (const error_code e = in.parser().iterate(in.view()).get(doc)) {
    inspect_result result;
    result.error = malformed(e);
    return result;
  }
  return read_summary(doc);
}

inspect_result inspect_body(wire_protocol /*p*/, std::string_view body, std::size_t allocated,
                            parsed_body& parsed) {
  parsed_body::impl& st = parsed.state();
  st.ready = false;
  if (!st.scratch) st.scratch = borrow_scratch();
  json_scratch& s = *st.scratch;
  st.base = s.padded(body, allocated);  // in place when the caller left the padding
  st.body = body.data();
  st.size = body.size();
  inspect_result result;
  if (const error_code e =
          s.parser.iterate(simdjson::padded_string_view(st.base, body.size(), allocated))
              .get(s.doc)) {
    result.error = malformed(e);
  } else {
    result = read_summary(s.doc);
  }
  if (result.summary) {
    st.ready = true;
  } else {
    parsed.release();
  }
  return result;
}

parsed_body::parsed_body() noexcept = default;
parsed_body::~parsed_body() {
  release();
}
parsed_body::parsed_body(parsed_body&&) noexcept = default;
parsed_body& parsed_body::operator=(parsed_body&& other) noexcept {
  if (this != &other) {
    release();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

bool parsed_body::ready() const noexcept {
  return impl_ && impl_->ready;
}

void parsed_body::release() noexcept {
  if (!impl_) return;
  impl_->ready = false;
  try {
    return_scratch(std::move(impl_->scratch));
  } catch (...) {  // std::bad_alloc growing the cache: the scratch is freed instead
  }
}

parsed_body::impl& parsed_body::state() {
  if (!impl_) impl_ = std::make_unique<impl>();
  return *impl_;
}

std::optional<std::string> apply_edits(wire_protocol p, std::string_view body,
                                       const body_edits& edits, std::string* error) {
  return apply_edits(p, body, 0, edits, error);
}

std::optional<std::string> apply_edits(wire_protocol p, std::string_view body,
                                       std::size_t allocated, const body_edits& edits,
                                       std::string* error) {
  const auto fail = [&](std::string message) -> std::optional<std::string> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  padded_input in(body, allocated);
  od::document doc;
  if (const error_code e = in.parser().iterate(in.view()).get(doc)) return fail(malformed(e));
  od::object obj;
  if (std::string err = open_root_object(doc, obj); !err.empty()) return fail(std::move(err));

  editor ed(in, edits);
  bool has_fields = false;
  bool model_seen = false;
  bool system_seen = false;
  std::string edit_error;
  for (auto field_result : obj) {
    od::field field;
    if (const error_code e = std::move(field_result).get(field)) return fail(malformed(e));
    has_fields = true;
    std::string_view key;
    if (const error_code e = field.unescaped_key().get(key)) return fail(malformed(e));
    // Every occurrence of a duplicated key is edited: whichever one the upstream keeps is right.
    if (edits.model && key == "model") {
      od::value v = field.value();
      od::json_type type;
      if (const error_code e = v.type().get(type)) return fail(malformed(e));
      if (type != od::json_type::string) return fail(R"("model" must be a string)");
      std::string_view old_model;
      if (const error_code e = v.get_string().get(old_model)) return fail(malformed(e));
      ed.replace(trim_trailing_ws(v.raw_json_token()), json_string(*edits.model));
      model_seen = true;
    } else if (edits.system_prompt && is_system_key(p, key)) {
      error_code e = simdjson::SUCCESS;
      switch (p) {
        case wire_protocol::claude:
          e = ed.claude_system(field.value(), edit_error);
          break;
        case wire_protocol::openai:
          e = ed.openai_messages(field.value(), edit_error);
          break;
        case wire_protocol::gemini:
          e = ed.gemini_instruction_field(field.value(), edit_error);
          break;
      }
      if (e) return fail(edit_error.empty() ? malformed(e) : std::move(edit_error));
      system_seen = true;
    }
  }
  if (std::string err = check_end(doc); !err.empty()) return fail(std::move(err));

  // New top-level fields go first, right after the opening brace.
  std::string inserted;
  // Gemini carries the model in the URL: a "model" field is only replaced, never added.
  if (edits.model && !model_seen && p != wire_protocol::gemini) {
    inserted += R"("model":)" + json_string(*edits.model);
  }
  if (edits.system_prompt && !system_seen) {
    if (!inserted.empty()) inserted += ',';
    inserted += absent_system_field(p, *edits.system_prompt);
  }
  std::vector<splice>& splices = ed.splices();
  if (!inserted.empty()) {
    if (has_fields) inserted += ',';
    const std::size_t open = body.find('{');  // the root is an object: its '{' comes first
    splices.push_back({open + 1, 0, std::move(inserted)});
  }

  std::stable_sort(splices.begin(), splices.end(),
                   [](const splice& a, const splice& b) { return a.offset < b.offset; });
  std::size_t out_size = body.size();
  for (const splice& s : splices) out_size += s.text.size();
  std::string out;
  // With the parser's padding: a conversion of the edited body can read it in place.
  out.reserve(out_size + json_padding);
  std::size_t cursor = 0;
  for (const splice& s : splices) {
    out.append(body.data() + cursor, s.offset - cursor);
    out += s.text;
    cursor = s.offset + s.remove;
  }
  out.append(body.data() + cursor, body.size() - cursor);
  return out;
}

}  // namespace aiclient::protocol
