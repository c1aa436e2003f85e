// Canonical request -> Kiro generateAssistantResponse body, model id mapping, request headers.
// The rules are listed at build_request (kiro.hpp); PROVIDERS.md 3.3 and 3.4 give the facts.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <random>
#include <set>

#include "aiclient/protocol/errors.hpp"
#include "aiclient/protocol/kiro.hpp"
#include "codec_util.hpp"

namespace aiclient::protocol::kiro {

namespace {

using codec::json_writer;

constexpr std::string_view system_ack = "I will follow these instructions.";
constexpr std::string_view results_placeholder = "Tool results provided.";
constexpr std::string_view continue_placeholder = "Continue";
constexpr std::string_view assistant_placeholder = "OK";
constexpr std::string_view placeholder_tool_description = "Tool used earlier in this conversation.";
constexpr std::string_view default_schema = R"({"type":"object","properties":{}})";
constexpr std::size_t max_tool_name = 64;
constexpr std::size_t max_description = 10000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// `s` cut to at most `n` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// True when a text value holds only JSON whitespace (escaped \n, \r, \t included).
bool blank(const text_value& t) {
  const std::string_view s = t.data;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (t.escaped && c == '\\' && i + 1 < s.size() &&
        (s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't')) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

// --- intermediate turns ---

struct text_item {
  std::string_view sep;  ///< written before the text when something precedes it
  text_value text;
};

struct image_item {
  std::string_view format;
  text_value data;
};

struct tool_use_item {
  std::string id;
  std::string name;   ///< as sent to Kiro (shortened)
  std::string input;  ///< a JSON object
};

struct tool_result_item {
  std::string id;
  std::vector<text_value> texts;
  bool error = false;
};

struct turn {
  bool user = true;
  std::vector<text_item> texts;
  std::vector<image_item> images;
  std::vector<tool_use_item> uses;
  std::vector<tool_result_item> results;

  bool has_text() const {
    return std::any_of(texts.begin(), texts.end(),
                       [](const text_item& t) { return !blank(t.text); });
  }
  bool empty() const { return !has_text() && images.empty() && uses.empty() && results.empty(); }
  void add_text(std::string_view sep, const text_value& t) {
    if (!t.empty()) texts.push_back({sep, t});
  }
};

std::string_view image_format(std::string_view media_type) {
  const std::string l = lower(media_type);
  if (l == "image/png") return "png";
  if (l == "image/jpeg" || l == "image/jpg") return "jpeg";
  if (l == "image/gif") return "gif";
  if (l == "image/webp") return "webp";
  return {};
}

// --- JSON rewriting (schemas, tool inputs) ---

namespace dom = simdjson::dom;

void write_string(std::string& out, std::string_view s) {
  append_json_string(out, s);
}

void write_schema(std::string& out, dom::element e, bool top);

// A map of name -> schema ("properties", "$defs"...).
void write_schema_map(std::string& out, dom::element e) {
  dom::object o;
  if (e.get_object().get(o)) {
    out += simdjson::minify(e);
    return;
  }
  out += '{';
  bool first = true;
  for (const auto field : o) {
    if (!first) out += ',';
    first = false;
    write_string(out, field.key);
    out += ':';
    write_schema(out, field.value, false);
  }
  out += '}';
}

bool is_data_key(std::string_view k) {
  return k == "enum" || k == "const" || k == "default" || k == "examples" || k == "example" ||
         k == "required" || k == "description" || k == "title" || k == "type";
}

bool is_map_key(std::string_view k) {
  return k == "properties" || k == "patternProperties" || k == "$defs" || k == "definitions" ||
         k == "dependentSchemas";
}

void write_schema(std::string& out, dom::element e, bool top) {
  if (e.is_array()) {
    out += '[';
    bool first = true;
    for (const dom::element x : dom::array(e)) {
      if (!first) out += ',';
      first = false;
      write_schema(out, x, false);
    }
    out += ']';
    return;
  }
  dom::object o;
  if (e.get_object().get(o)) {
    out += simdjson::minify(e);
    return;
  }
  out += '{';
  bool first = true;
  bool has_type = false;
  bool has_properties = false;
  for (const auto field : o) {
    if (field.key == "type") has_type = true;
    if (field.key == "properties") has_properties = true;
  }
  if (top && !has_type) {
    out += R"("type":"object")";
    first = false;
  }
  for (const auto field : o) {
    if (!first) out += ',';
    first = false;
    write_string(out, field.key);
    out += ':';
    if (field.value.is_null() && field.key == "required") {
      out += "[]";
    } else if (field.value.is_null() && field.key == "properties") {
      out += "{}";
    } else if (is_map_key(field.key)) {
      write_schema_map(out, field.value);
    } else if (is_data_key(field.key)) {
      out += simdjson::minify(field.value);
    } else {
      write_schema(out, field.value, false);
    }
  }
  if (top && !has_properties) {
    if (!first) out += ',';
    out += R"("properties":{})";
  }
  out += '}';
}

// The input schema of a tool, normalised for Kiro.
std::string normalize_schema(dom::parser& parser, std::string_view raw) {
  dom::element doc;
  if (raw.empty() || parser.parse(raw.data(), raw.size()).get(doc) || !doc.is_object()) {
    return std::string(default_schema);
  }
  std::string out;
  out.reserve(raw.size());
  write_schema(out, doc, true);
  return out;
}

// The arguments of a tool call as a JSON object for "input", empty-string keys dropped.
std::string tool_input(dom::parser& parser, decode_memory& mem, const text_value& args) {
  std::string_view raw;
  if (!codec::arguments_object(mem, args, raw)) return "{}";
  if (raw.find("\"\"") == std::string_view::npos) return std::string(raw);
  dom::element doc;
  dom::object o;
  if (parser.parse(raw.data(), raw.size()).get(doc) || doc.get_object().get(o)) return "{}";
  std::string out = "{";
  bool first = true;
  for (const auto field : o) {
    if (field.key.empty()) continue;
    if (!first) out += ',';
    first = false;
    write_string(out, field.key);
    out += ':';
    out += simdjson::minify(field.value);
  }
  out += '}';
  return out;
}

// --- writing ---

struct tool_spec {
  std::string name;
  std::string description;
  std::string schema;
};

class body_writer {
 public:
  body_writer(std::string& out, std::string_view model_id) : w_(out), model_id_(model_id) {}

  json_writer& w() { return w_; }

  void content(const turn& t, std::string_view placeholder) {
    w_.key("content");
    if (!t.has_text()) {
      w_.string(placeholder);
      return;
    }
    w_.begin_string();
    bool any = false;
    for (const text_item& x : t.texts) {
      if (x.text.empty()) continue;
      if (any) w_.piece_plain(x.sep);
      w_.piece(x.text);
      any = true;
    }
    w_.end_string();
  }

  void images(const turn& t) {
    if (t.images.empty()) return;
    w_.key("images");
    w_.begin_array();
    for (const image_item& i : t.images) {
      w_.begin_object();
      w_.key("format");
      w_.string(i.format);
      w_.key("source");
      w_.begin_object();
      w_.key("bytes");
      w_.text(i.data);
      w_.end_object();
      w_.end_object();
      image_bytes_ += i.data.data.size();
    }
    w_.end_array();
  }

  void results(const turn& t) {
    w_.key("toolResults");
    w_.begin_array();
    for (const tool_result_item& r : t.results) {
      w_.begin_object();
      w_.key("toolUseId");
      w_.string(r.id);
      w_.key("content");
      w_.begin_array();
      w_.begin_object();
      w_.key("text");
      w_.begin_string();
      bool any = false;
      for (const text_value& x : r.texts) {
        if (x.empty()) continue;
        if (any) w_.piece_plain("\n");
        w_.piece(x);
        any = true;
      }
      if (!any) w_.piece_plain(r.error ? "Error" : "(no output)");
      w_.end_string();
      w_.end_object();
      w_.end_array();
      w_.key("status");
      w_.string(r.error ? "error" : "success");
      w_.end_object();
    }
    w_.end_array();
  }

  void tools(const std::vector<tool_spec>& specs) {
    w_.key("tools");
    w_.begin_array();
    for (const tool_spec& s : specs) {
      w_.begin_object();
      w_.key("toolSpecification");
      w_.begin_object();
      w_.key("name");
      w_.string(s.name);
      w_.key("description");
      w_.string(s.description);
      w_.key("inputSchema");
      w_.begin_object();
      w_.key("json");
      w_.raw(s.schema);
      w_.end_object();
      w_.end_object();
      w_.end_object();
    }
    w_.end_array();
  }

  void user(const turn& t, const std::vector<tool_spec>* specs) {
    w_.begin_object();
    w_.key("userInputMessage");
    w_.begin_object();
    content(t, t.results.empty() ? continue_placeholder : results_placeholder);
    w_.key("modelId");
    w_.string(model_id_);
    w_.key("origin");
    w_.literal("AI_EDITOR");
    images(t);
    const bool has_tools = specs && !specs->empty();
    if (has_tools || !t.results.empty()) {
      w_.key("userInputMessageContext");
      w_.begin_object();
      if (has_tools) tools(*specs);
      if (!t.results.empty()) results(t);
      w_.end_object();
    }
    w_.end_object();
    w_.end_object();
  }

  void assistant(const turn& t) {
    w_.begin_object();
    w_.key("assistantResponseMessage");
    w_.begin_object();
    if (!t.has_text() && !t.uses.empty()) {
      w_.key("content");
      w_.literal("");
    } else {
      content(t, assistant_placeholder);
    }
    if (!t.uses.empty()) {
      w_.key("toolUses");
      w_.begin_array();
      for (const tool_use_item& u : t.uses) {
        w_.begin_object();
        w_.key("toolUseId");
        w_.string(u.id);
        w_.key("name");
        w_.string(u.name);
        w_.key("input");
        w_.raw(u.input);
        w_.end_object();
      }
      w_.end_array();
    }
    w_.end_object();
    w_.end_object();
  }

  std::size_t image_bytes() const { return image_bytes_; }

 private:
  json_writer w_;
  std::string_view model_id_;
  std::size_t image_bytes_ = 0;
};

// --- the builder ---

class builder {
 public:
  builder(const canonical_request& q, const build_options& opts, built_request& r)
      : q_(q), opts_(opts), r_(r) {}

  void run() {
    const std::string model = opts_.model.empty() ? std::string(mem_.plain(q_.model)) : opts_.model;
    r_.model_id = map_model(model, opts_.model_overrides);
    r_.conversation_id = opts_.conversation_id.empty() ? make_uuid_v4() : opts_.conversation_id;
    r_.thinking = thinking_on();

    std::vector<turn> turns = read_messages();
    drop_orphans(turns);
    turns.erase(std::remove_if(turns.begin(), turns.end(), [](const turn& t) { return t.empty(); }),
                turns.end());
    merge_neighbours(turns);

    turn current;
    if (!turns.empty() && turns.back().user) {
      current = std::move(turns.back());
      turns.pop_back();
    }
    std::vector<turn> history = with_system(std::move(turns));
    std::vector<tool_spec> specs = tool_specs(history);

    std::string& out = r_.body;
    body_writer b(out, r_.model_id);
    json_writer& w = b.w();
    w.begin_object();
    w.key("conversationState");
    w.begin_object();
    w.key("chatTriggerType");
    w.literal("MANUAL");
    w.key("agentTaskType");
    w.literal("vibe");
    w.key("conversationId");
    w.string(r_.conversation_id);
    if (!history.empty()) {
      w.key("history");
      w.begin_array();
      for (const turn& t : history) {
        if (t.user) {
          b.user(t, nullptr);
        } else {
          b.assistant(t);
        }
      }
      w.end_array();
    }
    w.key("currentMessage");
    b.user(current, &specs);
    w.end_object();
    if (!opts_.profile_arn.empty()) {
      w.key("profileArn");
      w.string(opts_.profile_arn);
    }
    w.end_object();
    r_.input_tokens_estimate =
        static_cast<std::int64_t>((out.size() - std::min(out.size(), b.image_bytes()) + 3) / 4);
  }

 private:
  bool thinking_on() const {
    const reasoning_config& c = q_.reasoning;
    if (c.enabled) return *c.enabled;
    if (c.budget_tokens && *c.budget_tokens > 0) return true;
    return !c.effort.empty() && c.effort != "none";
  }

  std::string_view keep(std::string s) { return mem_.keep(std::move(s)); }

  std::string tool_name(std::string_view original) {
    std::string short_name = shorten_tool_name(original);
    if (short_name != original) r_.tool_names.emplace(short_name, std::string(original));
    return short_name;
  }

  void add_media(turn& t, const part& p) {
    const std::string_view type = mem_.plain(p.media_type);
    const std::string_view format = image_format(type);
    if (!format.empty() && !p.data.empty()) {
      t.images.push_back({format, p.data});
      return;
    }
    std::string note;
    if (!p.url.empty()) {
      note = "[Image: " + std::string(mem_.plain(p.url)) + "]";
    } else {
      note = "[Attachment of type " + std::string(type.empty() ? "unknown" : type) +
             " omitted: not supported by this model endpoint]";
    }
    t.add_text("\n", plain_text(keep(std::move(note))));
  }

  std::vector<turn> read_messages() {
    std::vector<turn> turns;
    for (const message& m : q_.messages) {
      if (m.role == message_role::system || m.role == message_role::developer) {
        for (const part& p : m.parts) {
          if (p.kind == part_kind::text && !p.text.empty()) system_.push_back(p.text);
        }
        continue;
      }
      turn& t = turns.emplace_back();
      t.user = m.role == message_role::user;
      std::vector<text_value> thinking;
      for (const part& p : m.parts) {
        switch (p.kind) {
          case part_kind::text:
            t.add_text("\n", p.text);
            break;
          case part_kind::media:
            add_media(t, p);
            break;
          case part_kind::thinking:
            if (!t.user && !p.text.empty()) thinking.push_back(p.text);
            break;
          case part_kind::tool_call:
            if (!t.user) {
              tool_use_item& u = t.uses.emplace_back();
              u.id = mem_.plain(p.id);
              u.name = tool_name(mem_.plain(p.name));
              u.input = tool_input(json_, mem_, p.arguments);
            }
            break;
          case part_kind::tool_result: {
            tool_result_item& r = t.results.emplace_back();
            r.id = mem_.plain(p.id);
            r.error = p.is_error;
            for (const part& c : p.content) {
              if (c.kind == part_kind::text) {
                r.texts.push_back(c.text);
              } else if (c.kind == part_kind::media) {
                add_media(t, c);
              }
            }
            if (!p.result_json.empty()) r.texts.push_back(plain_text(p.result_json));
            break;
          }
          default:
            break;  // redacted thinking and provider-native blocks mean nothing to Kiro
        }
      }
      if (!thinking.empty()) {
        std::vector<text_item> texts;
        texts.push_back({"", plain_text("<thinking>")});
        for (const text_value& x : thinking) texts.push_back({"", x});
        texts.push_back({"", plain_text("</thinking>")});
        for (text_item& x : t.texts) {
          if (texts.size() == thinking.size() + 2) x.sep = "\n\n";
          texts.push_back(x);
        }
        t.texts = std::move(texts);
      }
    }
    return turns;
  }

  // Tool uses need a result and results need a use (ids unique): others are dropped.
  static void drop_orphans(std::vector<turn>& turns) {
    std::set<std::string, std::less<>> use_ids, result_ids;
    for (const turn& t : turns) {
      for (const tool_use_item& u : t.uses) use_ids.insert(u.id);
      for (const tool_result_item& r : t.results) result_ids.insert(r.id);
    }
    std::set<std::string, std::less<>> kept_uses, kept_results;
    for (turn& t : turns) {
      std::erase_if(t.uses, [&](const tool_use_item& u) {
        return u.id.empty() || !result_ids.count(u.id) || !kept_uses.insert(u.id).second;
      });
      std::erase_if(t.results, [&](const tool_result_item& r) {
        return r.id.empty() || !use_ids.count(r.id) || !kept_results.insert(r.id).second;
      });
    }
  }

  static void merge_neighbours(std::vector<turn>& turns) {
    std::vector<turn> merged;
    for (turn& t : turns) {
      if (merged.empty() || merged.back().user != t.user) {
        merged.push_back(std::move(t));
        continue;
      }
      turn& m = merged.back();
      bool first = true;
      for (text_item& x : t.texts) {
        if (first) x.sep = "\n\n";
        first = false;
        m.texts.push_back(x);
      }
      for (image_item& i : t.images) m.images.push_back(i);
      for (tool_use_item& u : t.uses) m.uses.push_back(std::move(u));
      for (tool_result_item& r : t.results) m.results.push_back(std::move(r));
    }
    turns = std::move(merged);
  }

  // The system pair first, then the turns, padded so that the history alternates from a user
  // turn and ends with an assistant turn.
  std::vector<turn> with_system(std::vector<turn> turns) {
    std::vector<turn> history;
    std::vector<text_item> system;
    if (r_.thinking) {
      const std::int64_t budget = q_.reasoning.budget_tokens && *q_.reasoning.budget_tokens > 0
                                      ? *q_.reasoning.budget_tokens
                                      : opts_.default_thinking_budget;
      system.push_back({"", plain_text(keep("<thinking_mode>enabled</thinking_mode>"
                                            "<max_thinking_length>" +
                                            std::to_string(budget) + "</max_thinking_length>"))});
    }
    for (const text_value& s : system_) system.push_back({"\n\n", s});
    turn sys;
    sys.texts = std::move(system);
    if (sys.has_text()) {
      sys.user = true;
      history.push_back(std::move(sys));
      turn ack;
      ack.user = false;
      ack.add_text("", plain_text(system_ack));
      history.push_back(std::move(ack));
    }
    for (turn& t : turns) {
      if (history.empty() ? !t.user : history.back().user == t.user) {
        turn pad;
        pad.user = !t.user;
        pad.add_text("", plain_text(pad.user ? continue_placeholder : assistant_placeholder));
        history.push_back(std::move(pad));
      }
      history.push_back(std::move(t));
    }
    if (!history.empty() && history.back().user) {
      turn pad;
      pad.user = false;
      pad.add_text("", plain_text(assistant_placeholder));
      history.push_back(std::move(pad));
    }
    return history;
  }

  std::vector<tool_spec> tool_specs(const std::vector<turn>& history) {
    std::vector<tool_spec> specs;
    std::set<std::string, std::less<>> declared;  // lower-case names
    for (const tool& t : q_.tools) {
      if (!t.raw.empty()) continue;  // provider-native tools: nothing Kiro can run
      const std::string_view original = mem_.plain(t.name);
      if (original.empty()) continue;
      std::string name = tool_name(original);
      if (!declared.insert(lower(name)).second) continue;
      tool_spec& s = specs.emplace_back();
      s.name = std::move(name);
      const std::string_view description = mem_.plain(t.description);
      s.description =
          std::string(utf8_prefix(description.empty() ? original : description, max_description));
      s.schema = normalize_schema(json_, t.parameters);
    }
    for (const turn& t : history) {
      for (const tool_use_item& u : t.uses) {
        if (!declared.insert(lower(u.name)).second) continue;
        tool_spec& s = specs.emplace_back();
        s.name = u.name;
        s.description = placeholder_tool_description;
        s.schema = default_schema;
      }
    }
    return specs;
  }

  const canonical_request& q_;
  const build_options& opts_;
  built_request& r_;
  decode_memory mem_;
  dom::parser json_;
  std::vector<text_value> system_;
};

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

decode_options built_request::decoding(std::string model) const {
  decode_options o;
  o.model = std::move(model);
  o.input_tokens_estimate = input_tokens_estimate;
  o.tool_names = tool_names;
  return o;
}

built_request build_request(const canonical_request& q, const build_options& opts) {
  built_request r;
  try {
    builder(q, opts, r).run();
  } catch (const std::exception& e) {
    r.body.clear();
    r.error = std::string("Kiro request building failed: ") + e.what();
  }
  return r;
}

std::string shorten_tool_name(std::string_view name) {
  if (name.size() <= max_tool_name) return std::string(name);
  static constexpr char digits[] = "0123456789abcdef";
  const auto h = static_cast<std::uint32_t>(fnv1a(name) ^ (fnv1a(name) >> 32));
  std::string out(utf8_prefix(name, max_tool_name - 9));
  out += '_';
  for (int shift = 28; shift >= 0; shift -= 4) out += digits[(h >> shift) & 0xf];
  return out;
}

// --- model mapping ---

std::string map_model(std::string_view model, const model_map* overrides) {
  if (overrides) {
    if (const auto it = overrides->find(model); it != overrides->end()) return it->second;
  }
  std::string m = lower(model);
  if (m.rfind("models/", 0) == 0) m.erase(0, 7);
  if (ends_with(m, "-thinking")) m.resize(m.size() - 9);
  if (overrides && m != model) {
    if (const auto it = overrides->find(m); it != overrides->end()) return it->second;
  }
  // Kiro ids as they are.
  if (m == "auto") return "auto";
  if (model.rfind("CLAUDE_", 0) == 0) return std::string(model);
  if (m.rfind("claude-", 0) == 0 && m.find('.') != std::string::npos) return m;
  // A -YYYYMMDD date suffix is ignored.
  if (m.size() > 9 && m[m.size() - 9] == '-' &&
      std::all_of(m.end() - 8, m.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (m.rfind("claude-3-7-sonnet", 0) == 0) return "CLAUDE_3_7_SONNET_20250219_V1_0";
    m.resize(m.size() - 9);
  }
  if (ends_with(m, "-latest")) m.resize(m.size() - 7);
  struct entry {
    std::string_view from;
    std::string_view to;
  };
  static constexpr entry table[] = {
      {"claude-sonnet-4-5", "claude-sonnet-4.5"},
      {"claude-sonnet-4", "claude-sonnet-4"},
      {"claude-sonnet-4-0", "claude-sonnet-4"},
      {"claude-3-7-sonnet", "CLAUDE_3_7_SONNET_20250219_V1_0"},
      {"claude-sonnet-4-6", "claude-sonnet-4.6"},
      {"claude-haiku-4-5", "claude-haiku-4.5"},
      {"claude-opus-4-5", "claude-opus-4.5"},
      {"claude-opus-4-6", "claude-opus-4.6"},
      {"claude-opus-4-7", "claude-opus-4.7"},
      {"claude-opus-4-8", "claude-opus-4.8"},
  };
  for (const entry& e : table) {
    if (m == e.from) return std::string(e.to);
  }
  if (m.find("opus") != std::string::npos) return "claude-opus-4.6";
  if (m.find("haiku") != std::string::npos) return "claude-haiku-4.5";
  return "claude-sonnet-4.5";
}

// --- uuid and headers ---

std::string make_uuid_v4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng();
  std::uint64_t lo = rng();
  hi = (hi & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // variant 10
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t word = i < 8 ? hi : lo;
    const int shift = 56 - 8 * (i % 8);
    const unsigned byte = static_cast<unsigned>((word >> shift) & 0xff);
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += digits[byte >> 4];
    out += digits[byte & 0xf];
  }
  return out;
}

header_list request_headers(std::string_view access_token, std::string_view machine_id,
                            std::string_view kiro_version, const header_options& opts) {
  std::string kiro_agent = "KiroIDE-" + std::string(kiro_version);
  if (!machine_id.empty()) kiro_agent += "-" + std::string(machine_id);
  header_list h;
  h.emplace_back("Authorization", "Bearer " + std::string(access_token));
  h.emplace_back("Content-Type", "application/json");
  h.emplace_back("Accept", "application/json");
  h.emplace_back("amz-sdk-invocation-id", make_uuid_v4());
  h.emplace_back("amz-sdk-request", "attempt=1; max=3");
  h.emplace_back("x-amz-user-agent", "aws-sdk-js/" + opts.sdk_version + " " + kiro_agent);
  h.emplace_back("user-agent", "aws-sdk-js/" + opts.sdk_version + " ua/2.1 os/" + opts.os +
                                   " lang/js md/nodejs#" + opts.node_version +
                                   " api/codewhispererstreaming#" + opts.sdk_version + " m/E " +
                                   kiro_agent);
  h.emplace_back("x-amzn-codewhisperer-optout", "true");
  h.emplace_back("x-amzn-kiro-agent-mode", "vibe");
  if (opts.api_key) h.emplace_back("tokentype", "API_KEY");
  h.emplace_back("Connection", "close");
  return h;
}

}  // namespace aiclient::protocol::kiro
