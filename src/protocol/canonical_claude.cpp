// Anthropic Messages API <-> canonical model.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/errors.hpp"
#include "codec_util.hpp"

namespace aiclient::protocol::claude_codec {

namespace {

using namespace codec;

/// max_tokens sent to Claude when the client gave none (Claude requires it). Large enough for
/// most answers, small enough for every current Claude model's output limit.
constexpr std::int64_t default_max_tokens = 8192;
/// Thinking budgets for effort levels (and for "on" without a budget).
constexpr std::int64_t budget_low = 1024;
constexpr std::int64_t budget_medium = 8192;
constexpr std::int64_t budget_high = 24576;
/// Claude's smallest thinking budget.
constexpr std::int64_t budget_min = 1024;

// ---------------------------------------------------------------------------------------------
// Content blocks (requests and responses)

// Reads one content block into `out`. Blocks without a canonical type become native parts.
class block_reader {
 public:
  explicit block_reader(reader& r) : r_(r) {}

  bool blocks(od::value& v, std::vector<part>& out, bool& as_string, std::string_view what) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    return blocks(v, t, out, as_string, what);
  }
  // The same for a value whose type `t` was read already.
  bool blocks(od::value& v, od::json_type t, std::vector<part>& out, bool& as_string,
              std::string_view what) {
    if (t == od::json_type::null) return true;
    if (t == od::json_type::string) {
      as_string = true;
      return r_.text(v, add_part(out, part_kind::text).text, what);
    }
    if (t != od::json_type::array) return r_.type_error(what, "a string or an array of blocks");
    if (!r_.elements(v, t, what, [&](std::size_t, od::value& x) { return block(x, out); }))
      return false;
    move_carried_signatures(out);
    return true;
  }

 private:
  // An empty thinking block that only carries a signature for the block after it (how Gemini
  // signatures on function calls and text travel through Claude clients): the signature goes
  // back onto that block.
  static void move_carried_signatures(std::vector<part>& parts) {
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      part& p = parts[i];
      part& next = parts[i + 1];
      if (p.kind == part_kind::thinking && p.text.empty() && !p.signature.empty() &&
          (next.kind == part_kind::tool_call || next.kind == part_kind::text) &&
          next.signature.empty()) {
        next.signature = p.signature;
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
      }
    }
  }

  bool block(od::value& v, std::vector<part>& out) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t != od::json_type::object) return r_.type_error("content blocks", "objects");
    const char* start = v.raw_json_token().data();
    std::string_view type;
    text_value text, thinking, signature, data, id, name, tool_use_id, title;
    std::string_view input;
    bool has_input = false;
    std::optional<bool> is_error;
    std::string_view cache_control;
    std::string_view source_type;
    text_value media_type, source_data, source_url;
    std::vector<part> content;
    bool content_string = false;
    if (!r_.fields(v, t, "a content block", [&](std::string_view k, od::value& x) {
          if (is(k, "type")) return r_.plain(x, type, R"(block "type")");
          if (is(k, "text")) return r_.text(x, text, R"("text")");
          if (is(k, "thinking")) return r_.text(x, thinking, R"("thinking")");
          if (is(k, "signature")) return r_.text(x, signature, R"("signature")");
          if (is(k, "data")) return r_.text(x, data, R"("data")");
          if (is(k, "id")) return r_.text(x, id, R"("id")");
          if (is(k, "name")) return r_.text(x, name, R"("name")");
          if (is(k, "tool_use_id")) return r_.text(x, tool_use_id, R"("tool_use_id")");
          if (is(k, "title")) {
            od::json_type tt{};
            if (!r_.type(x, tt)) return false;
            if (tt != od::json_type::string) return true;
            return r_.text(x, title, R"("title")");
          }
          if (is(k, "input")) {
            has_input = true;
            return r_.raw(x, input, R"(tool_use "input")");
          }
          if (is(k, "is_error")) return r_.boolean(x, is_error, R"("is_error")");
          if (is(k, "cache_control")) return r_.raw_object(x, cache_control, R"("cache_control")");
          if (is(k, "source")) {
            return r_.fields(x, R"("source")", [&](std::string_view k2, od::value& y) {
              if (is(k2, "type")) return r_.plain(y, source_type, R"("source.type")");
              if (is(k2, "media_type")) return r_.text(y, media_type, R"("source.media_type")");
              if (is(k2, "data")) {
                od::json_type st{};
                if (!r_.type(y, st)) return false;
                if (st != od::json_type::string) return true;  // "content" sources: native
                return r_.text(y, source_data, R"("source.data")");
              }
              if (is(k2, "url")) return r_.text(y, source_url, R"("source.url")");
              return true;
            });
          }
          if (is(k, "content")) {
            od::json_type ct{};
            if (!r_.type(x, ct)) return false;
            if (ct != od::json_type::string && ct != od::json_type::array) return true;
            return blocks(x, ct, content, content_string, R"(tool_result "content")");
          }
          return true;
        }))
      return false;
    const auto native = [&]() {
      part& p = add_part(out, part_kind::native);
      p.native_protocol = wire_protocol::claude;
      p.name = plain_text(type);
      return r_.span_since(start, p.raw, "a content block");
    };
    if (is(type, "text")) {
      part& p = add_part(out, part_kind::text);
      p.text = text;
      p.cache_control = cache_control;
      return true;
    }
    if (is(type, "image") || is(type, "document")) {
      if (source_type == "base64" && !source_data.empty()) {
        part& p = add_part(out, part_kind::media);
        p.media_type = media_type;
        p.data = source_data;
        p.filename = title;
        p.cache_control = cache_control;
        return true;
      }
      if (source_type == "url" && !source_url.empty()) {
        part& p = add_part(out, part_kind::media);
        p.url = source_url;
        p.media_type = media_type;
        if (is(type, "document") && media_type.empty())
          p.media_type = plain_text("application/pdf");
        p.filename = title;
        p.cache_control = cache_control;
        return true;
      }
      return native();
    }
    if (is(type, "tool_use")) {
      if (id.empty() || name.empty()) return r_.fail(R"(a tool_use block needs "id" and "name")");
      part& p = add_part(out, part_kind::tool_call);
      p.id = id;
      p.name = name;
      p.arguments = plain_text(has_input ? input : std::string_view("{}"));
      p.cache_control = cache_control;
      return true;
    }
    if (is(type, "tool_result")) {
      if (tool_use_id.empty()) return r_.fail(R"(a tool_result block needs "tool_use_id")");
      part& p = add_part(out, part_kind::tool_result);
      p.id = tool_use_id;
      p.content = std::move(content);
      p.content_string = content_string;
      p.is_error = is_error.value_or(false);
      p.cache_control = cache_control;
      return true;
    }
    if (is(type, "thinking")) {
      part& p = add_part(out, part_kind::thinking);
      p.text = thinking;
      p.signature = signature;
      return true;
    }
    if (is(type, "redacted_thinking")) {
      add_part(out, part_kind::redacted_thinking).text = data;
      return true;
    }
    if (type.empty()) return r_.fail(R"(every content block needs a "type")");
    return native();
  }

  reader& r_;
};

// Writes a tool id with the characters Claude accepts ([A-Za-z0-9_-]); others become '_'.
void write_id(json_writer& w, decode_memory& m, const text_value& id) {
  static constexpr auto accepted = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    return t;
  }();
  const auto ok = [](char c) { return accepted[static_cast<unsigned char>(c)]; };
  const std::string_view s = m.plain(id);
  if (!s.empty() && std::all_of(s.begin(), s.end(), ok)) {
    w.safe_string(s);  // nothing to escape in these characters
    return;
  }
  std::string fixed(s);
  for (char& c : fixed)
    if (!ok(c)) c = '_';
  if (fixed.empty()) fixed = "toolu_unknown";
  w.safe_string(fixed);
}

// Writes the canonical parts as Claude content blocks. Returns false (with `error`) when a part
// cannot be expressed. `request`: thinking blocks without a signature are left out (Claude
// rejects them); in responses they are kept with an empty signature.
class block_writer {
 public:
  block_writer(json_writer& w, decode_memory& m, std::string& error)
      : w_(w), m_(m), error_(error) {}

  bool media(const part& p) {
    std::string_view type = m_.plain(p.media_type);
    const bool image = type.starts_with("image/") || (type.empty() && !p.url.empty());
    if (!image && !is(type, "application/pdf") && !is(type, "text/plain"))
      return fail("media type \"" + std::string(type) + "\" cannot be sent to Claude");
    if (!p.url.empty()) {
      const std::string_view url = m_.plain(p.url);
      if (!url.starts_with("https://") && !url.starts_with("http://"))
        return fail("file URI \"" + std::string(url) +
                    "\" cannot be sent to Claude (only http(s) URLs)");
    }
    w_.begin_object();
    w_.key("type");
    w_.string(image ? "image" : "document");
    w_.key("source");
    w_.begin_object();
    if (!p.url.empty()) {
      w_.key("type");
      w_.literal("url");
      w_.key("url");
      w_.text(p.url);
    } else {
      w_.key("type");
      w_.literal("base64");
      w_.key("media_type");
      w_.text(p.media_type);
      w_.key("data");
      w_.text(p.data);
    }
    w_.end_object();
    if (!image && !p.filename.empty()) {
      w_.key("title");
      w_.text(p.filename);
    }
    cache_control(p);
    w_.end_object();
    return true;
  }

  void text(const part& p) {
    w_.begin_object();
    w_.key("type");
    w_.literal("text");
    w_.key("text");
    w_.text(p.text);
    cache_control(p);
    w_.end_object();
  }

  // A thinking block that carries the Gemini signature of the block after it.
  void carrier(const text_value& signature) {
    w_.begin_object();
    w_.key("type");
    w_.literal("thinking");
    w_.key("thinking");
    w_.literal("");
    w_.key("signature");
    w_.text(signature);
    w_.end_object();
  }

  bool tool_call(const part& p, bool request) {
    std::string_view input;
    if (!arguments_object(m_, p.arguments, input))
      return fail("the arguments of tool call \"" + std::string(m_.plain(p.id)) +
                  "\" are not a JSON object");
    if (!request && !p.signature.empty()) carrier(p.signature);
    w_.begin_object();
    w_.key("type");
    w_.literal("tool_use");
    w_.key("id");
    write_id(w_, m_, p.id);
    w_.key("name");
    w_.text(p.name);
    w_.key("input");
    w_.raw(input);
    cache_control(p);
    w_.end_object();
    return true;
  }

  bool tool_result(const part& p) {
    w_.begin_object();
    w_.key("type");
    w_.literal("tool_result");
    w_.key("tool_use_id");
    write_id(w_, m_, p.id);
    if (!p.result_json.empty()) {
      w_.key("content");
      w_.begin_string();
      w_.piece_json(p.result_json);
      w_.end_string();
    } else if (p.content_string && all_text(p.content)) {
      w_.key("content");
      write_joined_text(w_, p.content, "\n");
    } else if (!p.content.empty()) {
      w_.key("content");
      w_.begin_array();
      for (const part& c : p.content) {
        if (c.kind == part_kind::text) {
          text(c);
        } else if (c.kind == part_kind::media) {
          if (!media(c)) return false;
        } else if (c.kind == part_kind::native && c.native_protocol == wire_protocol::claude) {
          w_.raw(c.raw);
        }
      }
      w_.end_array();
    }
    if (p.is_error) {
      w_.key("is_error");
      w_.boolean(true);
    }
    cache_control(p);
    w_.end_object();
    return true;
  }

  // Writes one part (not a tool result); false on error. `request`: see the class comment.
  // Gemini signatures of text and tool calls travel to Claude clients on empty thinking blocks
  // ("carriers") so that they come back; Claude upstreams never get them (they are not Claude
  // signatures).
  bool part_out(const part& p, bool request) {
    switch (p.kind) {
      case part_kind::text:
        if (!request && !p.signature.empty()) carrier(p.signature);
        if (!p.text.empty()) text(p);
        return true;
      case part_kind::media:
        return media(p);
      case part_kind::tool_call:
        return tool_call(p, request);
      case part_kind::tool_result:
        return tool_result(p);
      case part_kind::thinking:
        if (request && p.signature.empty()) return true;
        w_.begin_object();
        w_.key("type");
        w_.literal("thinking");
        w_.key("thinking");
        w_.text(p.text);
        w_.key("signature");
        w_.text(p.signature);
        w_.end_object();
        return true;
      case part_kind::redacted_thinking:
        w_.begin_object();
        w_.key("type");
        w_.literal("redacted_thinking");
        w_.key("data");
        w_.text(p.text);
        w_.end_object();
        return true;
      case part_kind::native:
        if (p.native_protocol == wire_protocol::claude) {
          w_.raw(p.raw);
          return true;
        }
        if (!request) return true;  // informational blocks of other protocols: left out
        return fail("a " + std::string(to_string(p.native_protocol)) + " \"" +
                    std::string(m_.plain(p.name)) + "\" block has no Claude equivalent");
    }
    return true;
  }

 private:
  void cache_control(const part& p) {
    if (p.cache_control.empty()) return;
    w_.key("cache_control");
    w_.raw(p.cache_control);
  }
  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }

  json_writer& w_;
  decode_memory& m_;
  std::string& error_;
};

// ---------------------------------------------------------------------------------------------
// Request decoding

class request_decoder {
 public:
  request_decoder(reader& r, canonical_request& q) : r_(r), q_(q), blocks_(r) {}

  bool field(std::string_view key, od::value& v) {
    if (is(key, "model")) return r_.text(v, q_.model, R"("model")");
    if (is(key, "messages")) return messages(v);
    if (is(key, "system")) return system(v);
    if (is(key, "max_tokens")) return r_.integer(v, q_.max_tokens, R"("max_tokens")");
    if (is(key, "temperature")) return r_.number(v, q_.temperature, R"("temperature")");
    if (is(key, "top_p")) return r_.number(v, q_.top_p, R"("top_p")");
    if (is(key, "top_k")) return r_.integer(v, q_.top_k, R"("top_k")");
    if (is(key, "stop_sequences")) {
      return r_.elements(v, R"("stop_sequences")", [&](std::size_t, od::value& x) {
        text_value s;
        if (!r_.text(x, s, R"("stop_sequences" items)")) return false;
        q_.stop.push_back(s);
        return true;
      });
    }
    if (is(key, "stream")) {
      std::optional<bool> b;
      if (!r_.boolean(v, b, R"("stream")")) return false;
      q_.stream = b.value_or(false);
      return true;
    }
    if (is(key, "tools")) return tools(v);
    if (is(key, "tool_choice")) return tool_choice(v);
    if (is(key, "thinking")) return thinking(v);
    if (is(key, "metadata")) {
      return r_.fields(v, R"("metadata")", [&](std::string_view k, od::value& x) {
        if (is(k, "user_id")) return r_.text(x, q_.user, R"("metadata.user_id")");
        return true;
      });
    }
    extra_field e;
    e.protocol = wire_protocol::claude;
    e.key = key;
    if (!r_.raw(v, e.value, "a top-level field")) return false;
    q_.extras.push_back(e);
    return true;
  }

  bool finish() {
    if (!saw_messages_) return r_.fail(R"("messages" is required)");
    return true;
  }

 private:
  bool system(od::value& v) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t == od::json_type::null) return true;
    message m;
    m.role = message_role::system;
    if (!blocks_.blocks(v, m.parts, m.content_string, R"("system")")) return false;
    for (const part& p : m.parts)
      if (p.kind != part_kind::text) return r_.fail(R"("system" blocks must be text blocks)");
    // The system prompt comes first, whatever the key order of the body.
    q_.messages.insert(q_.messages.begin(), std::move(m));
    return true;
  }

  bool messages(od::value& v) {
    saw_messages_ = true;
    return r_.elements(v, R"("messages")", [&](std::size_t i, od::value& x) {
      std::string_view role;
      message m;
      od::json_type t{};
      if (!r_.type(x, t)) return false;
      if (t != od::json_type::object) return r_.type_error(R"("messages" items)", "objects");
      if (!r_.fields(x, t, R"("messages" items)", [&](std::string_view k, od::value& y) {
            if (is(k, "role")) return r_.plain(y, role, R"(message "role")");
            if (is(k, "content"))
              return blocks_.blocks(y, m.parts, m.content_string, R"(message "content")");
            return true;
          }))
        return false;
      if (role == "user") {
        m.role = message_role::user;
      } else if (role == "assistant") {
        m.role = message_role::assistant;
      } else {
        return r_.fail("messages[" + std::to_string(i) +
                       "]: role must be \"user\" or \"assistant\"");
      }
      q_.messages.push_back(std::move(m));
      return true;
    });
  }

  bool tools(od::value& v) {
    return r_.elements(v, R"("tools")", [&](std::size_t i, od::value& x) {
      od::json_type t{};
      if (!r_.type(x, t)) return false;
      if (t != od::json_type::object) return r_.type_error(R"("tools" items)", "objects");
      const char* start = x.raw_json_token().data();
      tool tl;
      std::string_view type;
      if (!r_.fields(x, t, R"("tools" items)", [&](std::string_view k, od::value& y) {
            if (is(k, "name")) return r_.text(y, tl.name, R"(tool "name")");
            if (is(k, "description")) return r_.text(y, tl.description, R"(tool "description")");
            if (is(k, "input_schema"))
              return r_.raw_object(y, tl.parameters, R"(tool "input_schema")");
            if (is(k, "cache_control"))
              return r_.raw_object(y, tl.cache_control, R"("cache_control")");
            if (is(k, "type")) return r_.plain(y, type, R"(tool "type")");
            return true;
          }))
        return false;
      if (!type.empty() && !is(type, "custom")) {
        tl.native_protocol = wire_protocol::claude;
        if (tl.name.empty()) tl.name = plain_text(type);
        if (!r_.span_since(start, tl.raw, "a tool")) return false;
      } else if (tl.name.empty()) {
        return r_.fail("tools[" + std::to_string(i) + "] needs a name");
      }
      q_.tools.push_back(tl);
      return true;
    });
  }

  bool tool_choice(od::value& v) {
    std::string_view type;
    text_value name;
    std::optional<bool> disable_parallel;
    if (!r_.fields(v, R"("tool_choice")", [&](std::string_view k, od::value& x) {
          if (is(k, "type")) return r_.plain(x, type, R"("tool_choice.type")");
          if (is(k, "name")) return r_.text(x, name, R"("tool_choice.name")");
          if (is(k, "disable_parallel_tool_use"))
            return r_.boolean(x, disable_parallel, R"("disable_parallel_tool_use")");
          return true;
        }))
      return false;
    if (is(type, "auto")) {
      q_.choice.mode = tool_choice_mode::automatic;
    } else if (is(type, "any")) {
      q_.choice.mode = tool_choice_mode::required;
    } else if (is(type, "none")) {
      q_.choice.mode = tool_choice_mode::none;
    } else if (is(type, "tool")) {
      if (name.empty()) return r_.fail(R"(tool_choice of type "tool" needs a "name")");
      q_.choice.mode = tool_choice_mode::named;
      q_.choice.names.push_back(name);
    } else if (!type.empty()) {
      return r_.fail("unsupported tool_choice type \"" + std::string(type) + "\"");
    }
    if (disable_parallel) q_.parallel_tool_calls = !*disable_parallel;
    return true;
  }

  bool thinking(od::value& v) {
    std::string_view type;
    if (!r_.fields(v, R"("thinking")", [&](std::string_view k, od::value& x) {
          if (is(k, "type")) return r_.plain(x, type, R"("thinking.type")");
          if (is(k, "budget_tokens"))
            return r_.integer(x, q_.reasoning.budget_tokens, R"("thinking.budget_tokens")");
          return true;
        }))
      return false;
    if (is(type, "enabled") || is(type, "adaptive")) {
      q_.reasoning.enabled = true;
    } else if (is(type, "disabled")) {
      q_.reasoning.enabled = false;
    } else if (!type.empty()) {
      return r_.fail("unsupported thinking type \"" + std::string(type) + "\"");
    }
    return true;
  }

  reader& r_;
  canonical_request& q_;
  block_reader blocks_;
  bool saw_messages_ = false;
};

// ---------------------------------------------------------------------------------------------
// Request encoding

class request_encoder {
 public:
  request_encoder(const canonical_request& q, std::string& out)
      : q_(q), w_(out), blocks_(w_, tmp_, error_) {}

  std::string run() {
    if (q_.candidates && *q_.candidates > 1)
      return "several candidates (n > 1) cannot be requested from Claude";
    plan_thinking();
    w_.begin_object();
    if (!q_.model.empty()) {
      w_.key("model");
      w_.text(q_.model);
    }
    w_.key("max_tokens");
    w_.integer(max_tokens_);
    system();
    if (!messages()) return error_;
    if (!tools()) return error_;
    if (thinking_) {
      w_.key("thinking");
      w_.begin_object();
      w_.key("type");
      w_.literal("enabled");
      w_.key("budget_tokens");
      w_.integer(*thinking_);
      w_.end_object();
    } else if (q_.reasoning.enabled == false && q_.source == wire_protocol::claude) {
      w_.key("thinking");
      w_.raw(R"({"type":"disabled"})");
    }
    sampling();
    if (!q_.user.empty()) {
      w_.key("metadata");
      w_.begin_object();
      w_.key("user_id");
      w_.text(q_.user);
      w_.end_object();
    }
    if (q_.stream) {
      w_.key("stream");
      w_.boolean(true);
    }
    for (const extra_field& e : q_.extras) {
      if (e.protocol != wire_protocol::claude) continue;
      w_.key_plain(e.key);
      w_.raw(e.value);
    }
    w_.end_object();
    return error_;
  }

 private:
  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }

  // Thinking budget, max_tokens and the constraints Claude puts on them: budget >= 1024 and
  // < max_tokens; no thinking with a forced tool choice; in a tool loop the last assistant turn
  // must start with a signed thinking block, else thinking is left off for this request.
  void plan_thinking() {
    const reasoning_config& r = q_.reasoning;
    std::optional<std::int64_t> b;
    if (r.enabled != false) {
      if (r.budget_tokens) {
        if (*r.budget_tokens != 0) b = *r.budget_tokens < 0 ? budget_medium : *r.budget_tokens;
      } else if (!r.effort.empty()) {
        if (r.effort == "minimal" || r.effort == "low") {
          b = budget_low;
        } else if (r.effort == "high" || r.effort == "xhigh") {
          b = budget_high;
        } else if (r.effort != "none") {
          b = budget_medium;
        }
      } else if (r.enabled == true) {
        b = budget_medium;
      }
    }
    if (b) b = std::max(*b, budget_min);
    const bool forced = (q_.choice.mode == tool_choice_mode::required ||
                         q_.choice.mode == tool_choice_mode::named) &&
                        !q_.tools.empty();
    if (b && forced) b.reset();
    if (b) {
      for (auto it = q_.messages.rbegin(); it != q_.messages.rend(); ++it) {
        if (it->role != message_role::assistant) continue;
        bool calls = false;
        bool signed_thinking = false;
        for (const part& p : it->parts) {
          calls |= p.kind == part_kind::tool_call;
          signed_thinking |= (p.kind == part_kind::thinking && !p.signature.empty()) ||
                             p.kind == part_kind::redacted_thinking;
        }
        if (calls && !signed_thinking) b.reset();
        break;
      }
    }
    if (q_.max_tokens) {
      max_tokens_ = *q_.max_tokens;
      if (b && *b >= max_tokens_) {
        b = std::max(budget_min, max_tokens_ / 2);
        if (*b >= max_tokens_) b.reset();
      }
    } else {
      max_tokens_ = b ? std::max(default_max_tokens, *b + 4096) : default_max_tokens;
    }
    thinking_ = b;
  }

  void format_instruction(bool as_piece) {
    const response_format& f = q_.format;
    constexpr std::string_view base =
        "Respond only with a single valid JSON value, without any other text or code fences.";
    if (as_piece) {
      w_.piece_plain(base);
    } else {
      w_.begin_object();
      w_.key("type");
      w_.literal("text");
      w_.key("text");
      w_.begin_string();
      w_.piece_plain(base);
    }
    if (f.kind == response_format_kind::json_schema) {
      w_.piece_plain(" It must conform to this JSON schema: ");
      w_.piece_json(f.schema);
    }
    if (!as_piece) {
      w_.end_string();
      w_.end_object();
    }
  }

  void system() {
    std::vector<const part*> texts;
    std::size_t count = 0;
    bool from_string = false;
    bool cached = false;
    for (const message& m : q_.messages) {
      if (m.role != message_role::system && m.role != message_role::developer) continue;
      ++count;
      from_string = m.content_string;
      for (const part& p : m.parts) {
        if (p.kind != part_kind::text) continue;
        texts.push_back(&p);
        cached |= !p.cache_control.empty();
      }
    }
    const bool json_hint = q_.format.kind == response_format_kind::json_object ||
                           q_.format.kind == response_format_kind::json_schema;
    if (texts.empty() && !json_hint) return;
    // A string unless blocks carry cache_control, or a Claude client sent blocks.
    const bool string_form = !cached && (q_.source != wire_protocol::claude ||
                                         (count <= 1 && (count == 0 || from_string)));
    w_.key("system");
    if (string_form) {
      w_.begin_string();
      bool first = true;
      for (const part* p : texts) {
        if (!first) w_.piece_plain("\n\n");
        first = false;
        w_.piece(p->text);
      }
      if (json_hint) {
        if (!first) w_.piece_plain("\n\n");
        format_instruction(true);
      }
      w_.end_string();
      return;
    }
    w_.begin_array();
    for (const part* p : texts) blocks_.text(*p);
    if (json_hint) format_instruction(false);
    w_.end_array();
  }

  // True when the message gives Claude at least one block.
  bool emits(const message& m) const {
    for (const part& p : m.parts) {
      switch (p.kind) {
        case part_kind::text:
          if (!p.text.empty()) return true;
          break;
        case part_kind::thinking:
          if (m.role == message_role::assistant && !p.signature.empty()) return true;
          break;
        case part_kind::redacted_thinking:
          if (m.role == message_role::assistant) return true;
          break;
        default:
          return true;
      }
    }
    return false;
  }

  bool messages() {
    w_.key("messages");
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
      if (!group.empty() && group.front()->role != m.role && !flush()) return false;
      group.push_back(&m);
    }
    if (!flush()) return false;
    w_.end_array();
    return true;
  }

  // The one text block of a message written as a plain string (as the client did, or always
  // for clients of other protocols), or nullptr.
  const part* single_text(const std::vector<const message*>& group) const {
    if (group.size() != 1) return nullptr;
    const message& m = *group.front();
    if (q_.source == wire_protocol::claude && !m.content_string) return nullptr;
    const part* only = nullptr;
    const bool user = m.role == message_role::user;
    for (const part& p : m.parts) {
      const bool emitted = p.kind == part_kind::text ? !p.text.empty()
                           : p.kind == part_kind::thinking
                               ? !user && !p.signature.empty()
                               : !(user && p.kind == part_kind::redacted_thinking);
      if (!emitted) continue;
      if (only || p.kind != part_kind::text || !p.cache_control.empty()) return nullptr;
      only = &p;
    }
    return only;
  }

  // One Claude message from consecutive canonical messages of the same role (Claude wants
  // alternation; tool results of several OpenAI tool messages become one user message).
  bool group_out(const std::vector<const message*>& group) {
    const bool user = group.front()->role == message_role::user;
    w_.begin_object();
    w_.key("role");
    w_.string(user ? "user" : "assistant");
    w_.key("content");
    if (const part* only = single_text(group)) {
      w_.text(only->text);
      w_.end_object();
      return true;
    }
    w_.begin_array();
    if (user) {
      // Claude wants tool results before any other block of the message.
      for (const message* m : group)
        for (const part& p : m->parts)
          if (p.kind == part_kind::tool_result && !blocks_.tool_result(p)) return false;
    }
    for (const message* m : group) {
      for (const part& p : m->parts) {
        if (p.kind == part_kind::tool_result) {
          if (!user && !blocks_.tool_result(p)) return false;
          continue;
        }
        if (user && (p.kind == part_kind::thinking || p.kind == part_kind::redacted_thinking))
          continue;
        if (!blocks_.part_out(p, true)) return false;
      }
    }
    w_.end_array();
    w_.end_object();
    return true;
  }

  bool tools() {
    bool any = false;
    for (const tool& t : q_.tools) {
      if (!t.raw.empty() && t.native_protocol != wire_protocol::claude) {
        return fail("tool \"" + std::string(tmp_.plain(t.name)) + "\" is a " +
                    std::string(to_string(t.native_protocol)) +
                    " built-in tool with no Claude equivalent");
      }
      if (!any) {
        w_.key("tools");
        w_.begin_array();
        any = true;
      }
      if (!t.raw.empty()) {
        w_.raw(t.raw);
        continue;
      }
      w_.begin_object();
      w_.key("name");
      w_.text(t.name);
      if (!t.description.empty()) {
        w_.key("description");
        w_.text(t.description);
      }
      w_.key("input_schema");
      if (t.parameters.empty()) {
        w_.raw(R"({"type":"object","properties":{}})");
      } else {
        w_.raw(t.parameters);
      }
      if (!t.cache_control.empty()) {
        w_.key("cache_control");
        w_.raw(t.cache_control);
      }
      w_.end_object();
    }
    if (any) w_.end_array();
    const tool_choice& c = q_.choice;
    const bool no_parallel = q_.parallel_tool_calls == false;
    if (!any) return true;
    std::string_view type;
    switch (c.mode) {
      case tool_choice_mode::unset:
        if (!no_parallel) return true;
        type = "auto";
        break;
      case tool_choice_mode::automatic:
        type = "auto";
        break;
      case tool_choice_mode::none:
        type = "none";
        break;
      case tool_choice_mode::required:
        type = "any";
        break;
      case tool_choice_mode::named:
        type = c.names.size() == 1 ? "tool" : "any";
        break;
    }
    w_.key("tool_choice");
    w_.begin_object();
    w_.key("type");
    w_.string(type);
    if (is(type, "tool")) {
      w_.key("name");
      w_.text(c.names.front());
    }
    if (q_.parallel_tool_calls && !is(type, "none")) {
      w_.key("disable_parallel_tool_use");
      w_.boolean(!*q_.parallel_tool_calls);
    }
    w_.end_object();
    return true;
  }

  void sampling() {
    if (q_.temperature && (!thinking_ || *q_.temperature == 1.0)) {
      w_.key("temperature");
      w_.number(std::clamp(*q_.temperature, 0.0, 1.0));
    }
    if (q_.top_p && (!thinking_ || *q_.top_p >= 0.95)) {
      w_.key("top_p");
      w_.number(*q_.top_p);
    }
    if (q_.top_k && !thinking_) {
      w_.key("top_k");
      w_.integer(*q_.top_k);
    }
    if (!q_.stop.empty()) {
      w_.key("stop_sequences");
      w_.begin_array();
      for (const text_value& s : q_.stop) w_.text(s);
      w_.end_array();
    }
  }

  const canonical_request& q_;
  json_writer w_;
  decode_memory tmp_;
  std::string error_;
  block_writer blocks_;
  std::optional<std::int64_t> thinking_;
  std::int64_t max_tokens_ = default_max_tokens;
};

// ---------------------------------------------------------------------------------------------
// Responses

bool read_usage(reader& r, od::value& v, usage& u) {
  std::optional<std::int64_t> input, output, cache_read, cache_creation;
  if (!r.fields(v, R"("usage")", [&](std::string_view k, od::value& x) {
        if (is(k, "input_tokens")) return r.integer(x, input, R"("input_tokens")");
        if (is(k, "output_tokens")) return r.integer(x, output, R"("output_tokens")");
        if (is(k, "cache_read_input_tokens"))
          return r.integer(x, cache_read, R"("cache_read_input_tokens")");
        if (is(k, "cache_creation_input_tokens"))
          return r.integer(x, cache_creation, R"("cache_creation_input_tokens")");
        return true;
      }))
    return false;
  u.cache_read_tokens = cache_read.value_or(0);
  u.cache_creation_tokens = cache_creation.value_or(0);
  u.input_tokens = input.value_or(0) + u.cache_read_tokens + u.cache_creation_tokens;
  u.output_tokens = output.value_or(0);
  u.has_input = input.has_value();
  u.has_output = output.has_value();
  return true;
}

}  // namespace

std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated) {
  return codec::decode_request_with<request_decoder>(body, out, wire_protocol::claude, allocated);
}

std::string encode_request(const canonical_request& in, std::string& out) {
  return request_encoder(in, out).run();
}

std::string decode_response(std::string_view body, canonical_response& out) {
  std::string error;
  out.source = wire_protocol::claude;
  reader r(error, out.memory, "response body");
  od::object root;
  if (!r.open(body, root)) return error;
  block_reader blocks(r);
  std::string_view type;
  std::string_view stop;
  bool saw_content = false;
  const bool ok = r.object_fields(root, [&](std::string_view k, od::value& v) {
    if (is(k, "id")) return r.text(v, out.id, R"("id")");
    if (is(k, "type")) return r.plain(v, type, R"("type")");
    if (is(k, "model")) return r.text(v, out.model, R"("model")");
    if (is(k, "stop_reason")) return r.plain(v, stop, R"("stop_reason")");
    if (is(k, "stop_sequence")) return r.text(v, out.stop_sequence, R"("stop_sequence")");
    if (is(k, "usage")) return read_usage(r, v, out.tokens);
    if (is(k, "content")) {
      saw_content = true;
      bool as_string = false;
      return blocks.blocks(v, out.parts, as_string, R"("content")");
    }
    return true;
  }) && r.close();
  if (!ok) return error;
  if (is(type, "error")) return "the upstream answered with an error";
  if (!saw_content) return R"(the response has no "content")";
  out.stop = stop.empty() ? stop_reason::end_turn : stop_reason_from(wire_protocol::claude, stop);
  return error;
}

std::string encode_response(const canonical_response& in, std::string& out) {
  json_writer w(out);
  decode_memory tmp;
  std::string error;
  block_writer blocks(w, tmp, error);
  w.begin_object();
  w.key("id");
  if (in.id.empty()) {
    w.string(random_id("msg_"));
  } else {
    w.text(in.id);
  }
  w.key("type");
  w.literal("message");
  w.key("role");
  w.literal("assistant");
  w.key("model");
  w.text(in.model);
  w.key("content");
  w.begin_array();
  for (const part& p : in.parts) {
    if (p.kind == part_kind::tool_result) continue;
    if (!blocks.part_out(p, false)) return error;
  }
  w.end_array();
  w.key("stop_reason");
  w.string(stop_reason_to(wire_protocol::claude, in.stop));
  w.key("stop_sequence");
  if (in.stop_sequence.empty()) {
    w.null();
  } else {
    w.text(in.stop_sequence);
  }
  w.key("usage");
  std::string usage_json;
  append_usage_json(usage_json, wire_protocol::claude, in.tokens);
  w.raw(usage_json);
  w.end_object();
  return error;
}

std::string decode_models(std::string_view body, canonical_model_list& out) {
  std::string error;
  out.source = wire_protocol::claude;
  reader r(error, out.memory, "model list");
  od::object root;
  if (!r.open(body, root)) return error;
  r.object_fields(root,
                  [&](std::string_view k, od::value& v) {
                    if (!is(k, "data")) return true;
                    return r.elements(v, R"("data")", [&](std::size_t, od::value& x) {
                      model_info m;
                      if (!r.fields(x, R"("data" items)", [&](std::string_view k2, od::value& y) {
                            if (is(k2, "id")) return r.text(y, m.id, R"("id")");
                            if (is(k2, "display_name"))
                              return r.text(y, m.display_name, R"("display_name")");
                            if (is(k2, "created_at")) {
                              std::string_view s;
                              if (!r.plain(y, s, R"("created_at")")) return false;
                              m.created = parse_rfc3339(s);
                              return true;
                            }
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
  w.key("data");
  w.begin_array();
  for (const model_info& m : in.models) {
    w.begin_object();
    w.key("type");
    w.literal("model");
    w.key("id");
    w.text(m.id);
    w.key("display_name");
    w.text(m.display_name.empty() ? m.id : m.display_name);
    w.key("created_at");
    w.string(format_rfc3339(m.created.value_or(0)));
    w.end_object();
  }
  w.end_array();
  w.key("has_more");
  w.boolean(false);
  w.key("first_id");
  if (in.models.empty()) {
    w.null();
  } else {
    w.text(in.models.front().id);
  }
  w.key("last_id");
  if (in.models.empty()) {
    w.null();
  } else {
    w.text(in.models.back().id);
  }
  w.end_object();
}

}  // namespace aiclient::protocol::claude_codec
