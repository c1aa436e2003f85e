// OpenAI Chat Completions <-> canonical model.
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/errors.hpp"
#include "codec_util.hpp"

namespace aiclient::protocol::openai_codec {

namespace {

using namespace codec;

// The "tool_calls" array of an assistant message (OpenAI form) from its tool-call parts.
void write_tool_calls(json_writer& w, const std::vector<part>& parts) {
  w.begin_array();
  for (const part& p : parts) {
    if (p.kind != part_kind::tool_call) continue;
    w.begin_object();
    w.key("id");
    w.text(p.id);
    w.key("type");
    w.literal("function");
    w.key("function");
    w.begin_object();
    w.key("name");
    w.text(p.name);
    w.key("arguments");
    write_arguments_string(w, p.arguments);
    w.end_object();
    w.end_object();
  }
  w.end_array();
}

// ---------------------------------------------------------------------------------------------
// Shared

// What a content part of an OpenAI message holds, read field by field (keys come in any order).
struct raw_content_part {
  std::string_view type;
  text_value text;
  text_value url;     // image_url.url
  text_value detail;  // image_url.detail
  text_value audio_data;
  std::string_view audio_format;
  text_value file_data;
  text_value filename;
  text_value file_id;
  text_value refusal;
  std::string_view cache_control;
};

// "data:<type>;base64,<data>" or an URL into a media part.
void set_media_url(decode_memory& m, part& p, const text_value& url) {
  text_value u = url;
  if (u.escaped && u.data.find('\\') != std::string_view::npos) u = plain_text(m.plain(url));
  if (!split_data_url(u, p.media_type, p.data)) p.url = u;
}

// media_type of an OpenAI input_audio format ("wav", "mp3").
std::string_view audio_media_type(std::string_view format) {
  if (format == "mp3") return "audio/mpeg";
  if (format == "wav") return "audio/wav";
  if (format == "flac") return "audio/flac";
  if (format == "ogg") return "audio/ogg";
  if (format == "aac") return "audio/aac";
  if (format == "pcm16") return "audio/pcm";
  return {};
}

// OpenAI input_audio format of a media type, empty when none.
std::string_view audio_format(std::string_view media_type) {
  if (media_type == "audio/mpeg" || media_type == "audio/mp3") return "mp3";
  if (media_type == "audio/wav" || media_type == "audio/x-wav" || media_type == "audio/wave")
    return "wav";
  if (media_type == "audio/flac") return "flac";
  if (media_type == "audio/ogg") return "ogg";
  if (media_type == "audio/aac") return "aac";
  if (media_type == "audio/pcm") return "pcm16";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Request decoding

class request_decoder {
 public:
  request_decoder(reader& r, canonical_request& q) : r_(r), q_(q) {}

  bool field(std::string_view key, od::value& v) {
    if (is(key, "model")) return r_.text(v, q_.model, R"("model")");
    if (is(key, "messages")) return messages(v);
    if (is(key, "tools")) return tools(v);
    if (is(key, "tool_choice")) return tool_choice(v);
    if (is(key, "parallel_tool_calls")) return r_.boolean(v, q_.parallel_tool_calls, key_name(key));
    if (is(key, "max_tokens")) {
      if (q_.max_completion_tokens && q_.max_tokens) return true;  // max_completion_tokens wins
      return r_.integer(v, q_.max_tokens, R"("max_tokens")");
    }
    if (is(key, "max_completion_tokens")) {
      std::optional<std::int64_t> n;
      if (!r_.integer(v, n, R"("max_completion_tokens")")) return false;
      if (n) {
        q_.max_tokens = n;
        q_.max_completion_tokens = true;
      }
      return true;
    }
    if (is(key, "temperature")) return r_.number(v, q_.temperature, R"("temperature")");
    if (is(key, "top_p")) return r_.number(v, q_.top_p, R"("top_p")");
    if (is(key, "presence_penalty")) return r_.number(v, q_.presence_penalty, key_name(key));
    if (is(key, "frequency_penalty")) return r_.number(v, q_.frequency_penalty, key_name(key));
    if (is(key, "seed")) return r_.integer(v, q_.seed, R"("seed")");
    if (is(key, "n")) return r_.integer(v, q_.candidates, R"("n")");
    if (is(key, "stop")) return stop(v);
    if (is(key, "response_format")) return response_format(v);
    if (is(key, "reasoning_effort")) return reasoning_effort(v);
    if (is(key, "stream")) {
      std::optional<bool> b;
      if (!r_.boolean(v, b, R"("stream")")) return false;
      q_.stream = b.value_or(false);
      return true;
    }
    if (is(key, "stream_options")) {
      return r_.fields(v, R"("stream_options")", [&](std::string_view k, od::value& x) {
        if (is(k, "include_usage")) return r_.boolean(x, q_.include_usage, R"("include_usage")");
        return true;
      });
    }
    if (is(key, "user")) return r_.text(v, q_.user, R"("user")");
    extra_field e;
    e.protocol = wire_protocol::openai;
    e.key = key;
    if (!r_.raw(v, e.value, key_name(key))) return false;
    q_.extras.push_back(e);
    return true;
  }

  bool finish() {
    if (!saw_messages_) return r_.fail(R"("messages" is required)");
    return true;
  }

 private:
  std::string key_name(std::string_view key) {
    std::string s = "\"";
    s += key;
    s += '"';
    return s;
  }

  bool stop(od::value& v) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t == od::json_type::null) return true;
    if (t == od::json_type::string) {
      text_value s;
      if (!r_.text(v, s, R"("stop")")) return false;
      q_.stop.push_back(s);
      q_.stop_string = true;
      return true;
    }
    if (t != od::json_type::array) return r_.type_error(R"("stop")", "a string or an array");
    return r_.elements(v, t, R"("stop")", [&](std::size_t, od::value& x) {
      text_value s;
      if (!r_.text(x, s, R"("stop" items)")) return false;
      q_.stop.push_back(s);
      return true;
    });
  }

  bool reasoning_effort(od::value& v) {
    std::string_view effort;
    if (!r_.plain(v, effort, R"("reasoning_effort")")) return false;
    q_.reasoning.effort = effort;
    if (effort == "none") q_.reasoning.enabled = false;
    return true;
  }

  bool response_format(od::value& v) {
    std::string_view type;
    return r_.fields(v, R"("response_format")", [&](std::string_view k, od::value& x) {
      if (is(k, "type")) return r_.plain(x, type, R"("response_format.type")");
      if (is(k, "json_schema")) {
        return r_.fields(x, R"("response_format.json_schema")",
                         [&](std::string_view k2, od::value& y) {
                           if (is(k2, "name")) return r_.text(y, q_.format.name, R"("name")");
                           if (is(k2, "description"))
                             return r_.text(y, q_.format.description, R"("description")");
                           if (is(k2, "schema"))
                             return r_.raw_object(y, q_.format.schema, R"("json_schema.schema")");
                           if (is(k2, "strict"))
                             return r_.boolean(y, q_.format.strict, R"("strict")");
                           return true;
                         });
      }
      return true;
    }) && set_format(type);
  }

  bool set_format(std::string_view type) {
    if (type.empty()) return true;
    if (is(type, "text")) {
      q_.format.kind = response_format_kind::text;
    } else if (is(type, "json_object")) {
      q_.format.kind = response_format_kind::json_object;
    } else if (is(type, "json_schema")) {
      q_.format.kind = response_format_kind::json_schema;
      if (q_.format.schema.empty())
        return r_.fail(R"("response_format.json_schema.schema" is required)");
    } else {
      return r_.fail("unsupported response_format type \"" + std::string(type) + "\"");
    }
    return true;
  }

  bool tool_choice(od::value& v) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t == od::json_type::null) return true;
    if (t == od::json_type::string) {
      std::string_view s;
      if (!r_.plain(v, s, R"("tool_choice")")) return false;
      if (s == "auto") {
        q_.choice.mode = tool_choice_mode::automatic;
      } else if (s == "none") {
        q_.choice.mode = tool_choice_mode::none;
      } else if (s == "required") {
        q_.choice.mode = tool_choice_mode::required;
      } else {
        return r_.fail("unsupported tool_choice \"" + std::string(s) + "\"");
      }
      return true;
    }
    if (t != od::json_type::object)
      return r_.type_error(R"("tool_choice")", "a string or an object");
    std::string_view type;
    text_value name;
    if (!r_.fields(v, R"("tool_choice")", [&](std::string_view k, od::value& x) {
          if (is(k, "type")) return r_.plain(x, type, R"("tool_choice.type")");
          if (is(k, "function")) {
            return r_.fields(x, R"("tool_choice.function")",
                             [&](std::string_view k2, od::value& y) {
                               if (is(k2, "name"))
                                 return r_.text(y, name, R"("tool_choice.function.name")");
                               return true;
                             });
          }
          return true;
        }))
      return false;
    if (!is(type, "function") || name.empty())
      return r_.fail(
          R"(tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}})");
    q_.choice.mode = tool_choice_mode::named;
    q_.choice.names.push_back(name);
    return true;
  }

  bool tools(od::value& v) {
    return r_.elements(v, R"("tools")", [&](std::size_t i, od::value& x) {
      std::string_view type;
      tool t;
      bool has_function = false;
      if (!r_.fields(x, R"("tools" items)", [&](std::string_view k, od::value& y) {
            if (is(k, "type")) return r_.plain(y, type, R"("tools[].type")");
            if (is(k, "function")) {
              has_function = true;
              return r_.fields(y, R"("tools[].function")", [&](std::string_view k2, od::value& z) {
                if (is(k2, "name")) return r_.text(z, t.name, R"("tools[].function.name")");
                if (is(k2, "description"))
                  return r_.text(z, t.description, R"("tools[].function.description")");
                if (is(k2, "parameters"))
                  return r_.raw_object(z, t.parameters, R"("tools[].function.parameters")");
                if (is(k2, "strict"))
                  return r_.boolean(z, t.strict, R"("tools[].function.strict")");
                return true;
              });
            }
            return true;
          }))
        return false;
      if (!type.empty() && !is(type, "function"))
        return r_.fail("tool type \"" + std::string(type) +
                       "\" is not supported (only \"function\")");
      if (!has_function || t.name.empty())
        return r_.fail("tools[" + std::to_string(i) + "] needs a function with a name");
      q_.tools.push_back(t);
      return true;
    });
  }

  bool content_part(od::value& v, raw_content_part& c) {
    return r_.fields(v, "a content part", [&](std::string_view k, od::value& x) {
      if (is(k, "type")) return r_.plain(x, c.type, "a content part type");
      if (is(k, "text")) return r_.text(x, c.text, R"("text")");
      if (is(k, "refusal")) return r_.text(x, c.refusal, R"("refusal")");
      if (is(k, "cache_control")) return r_.raw_object(x, c.cache_control, R"("cache_control")");
      if (is(k, "image_url")) {
        od::json_type t{};
        if (!r_.type(x, t)) return false;
        if (t == od::json_type::string) return r_.text(x, c.url, R"("image_url")");
        return r_.fields(x, t, R"("image_url")", [&](std::string_view k2, od::value& y) {
          if (is(k2, "url")) return r_.text(y, c.url, R"("image_url.url")");
          if (is(k2, "detail")) return r_.text(y, c.detail, R"("image_url.detail")");
          return true;
        });
      }
      if (is(k, "input_audio")) {
        return r_.fields(x, R"("input_audio")", [&](std::string_view k2, od::value& y) {
          if (is(k2, "data")) return r_.text(y, c.audio_data, R"("input_audio.data")");
          if (is(k2, "format")) return r_.plain(y, c.audio_format, R"("input_audio.format")");
          return true;
        });
      }
      if (is(k, "file")) {
        return r_.fields(x, R"("file")", [&](std::string_view k2, od::value& y) {
          if (is(k2, "file_data")) return r_.text(y, c.file_data, R"("file.file_data")");
          if (is(k2, "filename")) return r_.text(y, c.filename, R"("file.filename")");
          if (is(k2, "file_id")) return r_.text(y, c.file_id, R"("file.file_id")");
          return true;
        });
      }
      return true;
    });
  }

  // Reads "content": a string, null or an array of parts.
  bool content(od::value& v, std::vector<part>& parts, bool& as_string) {
    od::json_type t{};
    if (!r_.type(v, t)) return false;
    if (t == od::json_type::null) return true;
    if (t == od::json_type::string) {
      part& p = add_part(parts, part_kind::text);
      as_string = true;
      return r_.text(v, p.text, R"("content")");
    }
    if (t != od::json_type::array)
      return r_.type_error(R"(message "content")", "a string or an array of parts");
    return r_.elements(v, t, R"("content")", [&](std::size_t, od::value& x) {
      raw_content_part c;
      if (!content_part(x, c)) return false;
      if (is(c.type, "text")) {
        part& p = add_part(parts, part_kind::text);
        p.text = c.text;
        p.cache_control = c.cache_control;
      } else if (is(c.type, "refusal")) {
        add_part(parts, part_kind::text).text = c.refusal;
      } else if (is(c.type, "image_url")) {
        if (c.url.empty()) return r_.fail(R"(an image_url part needs "image_url.url")");
        part& p = add_part(parts, part_kind::media);
        set_media_url(r_.memory(), p, c.url);
        p.detail = c.detail;
        p.cache_control = c.cache_control;
      } else if (is(c.type, "input_audio")) {
        const std::string_view media = audio_media_type(c.audio_format);
        if (media.empty() || c.audio_data.empty())
          return r_.fail(R"(an input_audio part needs "data" and a known "format")");
        part& p = add_part(parts, part_kind::media);
        p.media_type = plain_text(media);
        p.data = c.audio_data;
      } else if (is(c.type, "file")) {
        if (!c.file_id.empty() && c.file_data.empty())
          return r_.fail("file parts with a file_id cannot be converted; send file_data");
        part& p = add_part(parts, part_kind::media);
        set_media_url(r_.memory(), p, c.file_data);
        if (p.data.empty()) return r_.fail(R"("file.file_data" must be a base64 data URL)");
        p.filename = c.filename;
      } else {
        return r_.fail("unsupported content part type \"" + std::string(c.type) + "\"");
      }
      return true;
    });
  }

  bool tool_calls(od::value& v, std::vector<part>& calls) {
    return r_.elements(v, R"("tool_calls")", [&](std::size_t, od::value& x) {
      part p;
      p.kind = part_kind::tool_call;
      std::string_view type;
      if (!r_.fields(x, R"("tool_calls" items)", [&](std::string_view k, od::value& y) {
            if (is(k, "id")) return r_.text(y, p.id, R"("tool_calls[].id")");
            if (is(k, "type")) return r_.plain(y, type, R"("tool_calls[].type")");
            if (is(k, "function")) {
              return r_.fields(
                  y, R"("tool_calls[].function")", [&](std::string_view k2, od::value& z) {
                    if (is(k2, "name"))
                      return r_.text(z, p.name, R"("tool_calls[].function.name")");
                    if (is(k2, "arguments")) {
                      od::json_type t{};
                      if (!r_.type(z, t)) return false;
                      if (t == od::json_type::object) {  // lenient: an object instead of a string
                        std::string_view raw;
                        if (!r_.raw(z, raw, R"("arguments")")) return false;
                        p.arguments = plain_text(raw);
                        return true;
                      }
                      return r_.text(z, p.arguments, R"("tool_calls[].function.arguments")");
                    }
                    return true;
                  });
            }
            return true;
          }))
        return false;
      if (!type.empty() && !is(type, "function"))
        return r_.fail("tool call type \"" + std::string(type) + "\" is not supported");
      if (p.id.empty() || p.name.empty())
        return r_.fail("every tool call needs an id and a function name");
      add_part(calls, std::move(p));
      return true;
    });
  }

  bool messages(od::value& v) {
    saw_messages_ = true;
    bool last_tool = false;  // the previous message was a tool message
    return r_.elements(v, R"("messages")", [&](std::size_t i, od::value& x) {
      std::string_view role;
      std::vector<part> parts;
      bool as_string = false;
      text_value reasoning;
      bool has_reasoning = false;
      std::vector<part> calls;
      text_value tool_call_id;
      od::json_type t{};
      if (!r_.type(x, t)) return false;
      if (t != od::json_type::object) return r_.type_error(R"("messages" items)", "objects");
      if (!r_.fields(x, t, R"("messages" items)", [&](std::string_view k, od::value& y) {
            if (is(k, "role")) return r_.plain(y, role, R"(message "role")");
            if (is(k, "content")) return content(y, parts, as_string);
            if (is(k, "reasoning_content") || is(k, "reasoning")) {
              od::json_type rt{};
              if (!r_.type(y, rt)) return false;
              if (rt != od::json_type::string) return true;  // other shapes are not ours
              has_reasoning = true;
              return r_.text(y, reasoning, R"("reasoning_content")");
            }
            if (is(k, "tool_calls")) return tool_calls(y, calls);
            if (is(k, "tool_call_id")) return r_.text(y, tool_call_id, R"("tool_call_id")");
            return true;
          }))
        return false;
      const auto where = [i] { return "messages[" + std::to_string(i) + "]"; };
      if (role == "tool") {
        if (tool_call_id.empty())
          return r_.fail(where() + R"(: a tool message needs "tool_call_id")");
        for (const part& p : parts) {
          if (p.kind != part_kind::text && p.kind != part_kind::media)
            return r_.fail(where() + ": tool message content must be text");
        }
        if (!last_tool) {
          q_.messages.emplace_back();
          q_.messages.back().role = message_role::user;
        }
        part& result = add_part(q_.messages.back().parts, part_kind::tool_result);
        result.id = tool_call_id;
        result.content_string = as_string;
        result.content = std::move(parts);
        last_tool = true;
        return true;
      }
      last_tool = false;
      message m;
      m.content_string = as_string;
      if (role == "system" || role == "developer") {
        m.role = role == "system" ? message_role::system : message_role::developer;
        for (const part& p : parts)
          if (p.kind != part_kind::text)
            return r_.fail(where() + ": system message content must be text");
        m.parts = std::move(parts);
      } else if (role == "user") {
        m.role = message_role::user;
        m.parts = std::move(parts);
      } else if (role == "assistant") {
        m.role = message_role::assistant;
        if (has_reasoning) add_part(m.parts, part_kind::thinking).text = reasoning;
        for (part& p : parts) {
          if (p.kind != part_kind::text)
            return r_.fail(where() + ": assistant content must be text");
          add_part(m.parts, std::move(p));
        }
        for (part& p : calls) add_part(m.parts, std::move(p));
        recycle_parts(parts);
        recycle_parts(calls);
      } else if (role.empty()) {
        return r_.fail(where() + R"(: "role" is required)");
      } else {
        return r_.fail(where() + ": unsupported role \"" + std::string(role) + "\"");
      }
      q_.messages.push_back(std::move(m));
      return true;
    });
  }

  reader& r_;
  canonical_request& q_;
  bool saw_messages_ = false;
};

// ---------------------------------------------------------------------------------------------
// Request encoding

class request_encoder {
 public:
  request_encoder(const canonical_request& q, std::string& out) : q_(q), w_(out) {}

  std::string run() {
    w_.begin_object();
    if (!q_.model.empty()) {
      w_.key("model");
      w_.text(q_.model);
    }
    w_.key("messages");
    w_.begin_array();
    for (const message& m : q_.messages) {
      if (!message_out(m)) return error_;
    }
    w_.end_array();
    if (!tools()) return error_;
    sampling();
    if (q_.stream) {
      w_.key("stream");
      w_.boolean(true);
      const bool include = q_.source == wire_protocol::openai ? q_.include_usage.value_or(false)
                                                              : q_.include_usage.value_or(true);
      if (include || q_.include_usage) {
        w_.key("stream_options");
        w_.begin_object();
        w_.key("include_usage");
        w_.boolean(include);
        w_.end_object();
      }
    }
    if (!q_.user.empty()) {
      w_.key("user");
      w_.text(q_.user);
    }
    for (const extra_field& e : q_.extras) {
      if (e.protocol != wire_protocol::openai) continue;
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

  // Content as a string when the source did so or when only text is left for another source.
  bool as_string(const message& m, const std::vector<part>& parts) const {
    if (!all_text(parts)) return false;
    if (q_.source == wire_protocol::openai) return m.content_string;
    return true;
  }

  void data_url(const part& p) {
    w_.begin_string();
    w_.piece_plain("data:");
    w_.piece(p.media_type);
    w_.piece_plain(";base64,");
    w_.piece(p.data);
    w_.end_string();
  }

  bool media_part(const part& p) {
    const std::string_view type = tmp_.plain(p.media_type);
    const bool image = type.starts_with("image/") || (type.empty() && !p.url.empty());
    if (!p.url.empty()) {
      const std::string_view url = tmp_.plain(p.url);
      if (!url.starts_with("https://") && !url.starts_with("http://"))
        return fail("file URI \"" + std::string(url) +
                    "\" cannot be sent to an OpenAI upstream (only http(s) URLs)");
    }
    if (image) {
      w_.begin_object();
      w_.key("type");
      w_.literal("image_url");
      w_.key("image_url");
      w_.begin_object();
      w_.key("url");
      if (!p.url.empty()) {
        w_.text(p.url);
      } else {
        data_url(p);
      }
      if (!p.detail.empty()) {
        w_.key("detail");
        w_.text(p.detail);
      }
      w_.end_object();
      w_.end_object();
      return true;
    }
    if (!p.url.empty())
      return fail("a file given by URL (" + std::string(type) +
                  ") cannot be sent to an OpenAI upstream, only images");
    if (const std::string_view format = audio_format(type); !format.empty()) {
      w_.begin_object();
      w_.key("type");
      w_.literal("input_audio");
      w_.key("input_audio");
      w_.begin_object();
      w_.key("data");
      w_.text(p.data);
      w_.key("format");
      w_.string(format);
      w_.end_object();
      w_.end_object();
      return true;
    }
    w_.begin_object();
    w_.key("type");
    w_.literal("file");
    w_.key("file");
    w_.begin_object();
    w_.key("filename");
    if (!p.filename.empty()) {
      w_.text(p.filename);
    } else {
      const std::string_view sub = type.substr(type.find('/') + 1);
      w_.string("file." + std::string(sub.empty() ? "bin" : sub));
    }
    w_.key("file_data");
    data_url(p);
    w_.end_object();
    w_.end_object();
    return true;
  }

  bool user_parts(const message& m, const std::vector<part>& parts) {
    if (as_string(m, parts)) {
      write_joined_text(w_, parts, "\n\n");
      return true;
    }
    w_.begin_array();
    for (const part& p : parts) {
      if (p.kind == part_kind::text) {
        w_.begin_object();
        w_.key("type");
        w_.literal("text");
        w_.key("text");
        w_.text(p.text);
        w_.end_object();
      } else if (p.kind == part_kind::media) {
        if (!media_part(p)) return false;
      }
    }
    w_.end_array();
    return true;
  }

  bool native_error(const part& p) {
    return fail("a " + std::string(to_string(p.native_protocol)) + " \"" +
                std::string(tmp_.plain(p.name)) + "\" block has no OpenAI equivalent");
  }

  bool message_out(const message& m) {
    switch (m.role) {
      case message_role::system:
      case message_role::developer: {
        if (m.parts.empty()) return true;
        w_.begin_object();
        w_.key("role");
        w_.string(m.role == message_role::developer && q_.source == wire_protocol::openai
                      ? "developer"
                      : "system");
        w_.key("content");
        if (!user_parts(m, m.parts)) return false;
        w_.end_object();
        return true;
      }
      case message_role::user:
        return user_message(m);
      case message_role::assistant:
        return assistant_message(m);
    }
    return true;
  }

  // Tool results first (one tool message each), then the rest as a user message; images of
  // tool results follow in a user message of their own (tool messages carry text only).
  bool user_message(const message& m) {
    std::vector<part> rest;  // from the part pool, and back to it (pooled_parts)
    const pooled_parts rest_back(rest);
    std::vector<const part*> result_media;
    for (const part& p : m.parts) {
      if (p.kind == part_kind::native && p.native_protocol != wire_protocol::openai)
        return native_error(p);
      if (p.kind != part_kind::tool_result) {
        if (p.kind == part_kind::text || p.kind == part_kind::media) add_part(rest, part(p));
        continue;
      }
      w_.begin_object();
      w_.key("role");
      w_.literal("tool");
      w_.key("tool_call_id");
      w_.text(p.id);
      w_.key("content");
      bool texts_only = true;
      for (const part& c : p.content) {
        if (c.kind == part_kind::media) {
          result_media.push_back(&c);
          texts_only = false;
        }
      }
      if (!p.result_json.empty()) {
        w_.begin_string();
        w_.piece_json(p.result_json);
        w_.end_string();
      } else if (q_.source == wire_protocol::openai && !p.content_string && texts_only &&
                 !p.content.empty()) {
        w_.begin_array();
        for (const part& c : p.content) {
          w_.begin_object();
          w_.key("type");
          w_.literal("text");
          w_.key("text");
          w_.text(c.text);
          w_.end_object();
        }
        w_.end_array();
      } else {
        write_joined_text(w_, p.content, "\n");
      }
      w_.end_object();
    }
    if (!result_media.empty()) {
      w_.begin_object();
      w_.key("role");
      w_.literal("user");
      w_.key("content");
      w_.begin_array();
      for (const part* c : result_media)
        if (!media_part(*c)) return false;
      w_.end_array();
      w_.end_object();
    }
    const bool had_results = rest.size() != m.parts.size();
    if (rest.empty() && had_results) return true;
    w_.begin_object();
    w_.key("role");
    w_.literal("user");
    w_.key("content");
    if (rest.empty()) {
      w_.literal("");
    } else if (!user_parts(m, rest)) {
      return false;
    }
    w_.end_object();
    return true;
  }

  bool assistant_message(const message& m) {
    std::vector<part> texts;  // from the part pool, and back to it (pooled_parts)
    const pooled_parts texts_back(texts);
    bool has_calls = false;
    bool has_reasoning = false;
    for (const part& p : m.parts) {
      if (p.kind == part_kind::text) add_part(texts, part(p));
      if (p.kind == part_kind::tool_call) has_calls = true;
      // Signed reasoning belongs to the upstream that signed it (Claude, Gemini): an OpenAI
      // upstream gets only unsigned reasoning back (its own, as reasoning_content).
      if (p.kind == part_kind::thinking && p.signature.empty()) has_reasoning = true;
      if (p.kind == part_kind::native && p.native_protocol != wire_protocol::openai)
        return native_error(p);
    }
    w_.begin_object();
    w_.key("role");
    w_.literal("assistant");
    w_.key("content");
    if (texts.empty()) {
      if (has_calls) {
        w_.null();
      } else {
        w_.literal("");
      }
    } else if (q_.source == wire_protocol::openai && !m.content_string) {
      w_.begin_array();
      for (const part& p : texts) {
        w_.begin_object();
        w_.key("type");
        w_.literal("text");
        w_.key("text");
        w_.text(p.text);
        w_.end_object();
      }
      w_.end_array();
    } else {
      write_joined_text(w_, texts, "\n\n");
    }
    if (has_reasoning) {
      w_.key("reasoning_content");
      w_.begin_string();
      for (const part& p : m.parts)
        if (p.kind == part_kind::thinking && p.signature.empty()) w_.piece(p.text);
      w_.end_string();
    }
    if (has_calls) {
      w_.key("tool_calls");
      write_tool_calls(w_, m.parts);
    }
    w_.end_object();
    return true;
  }

  bool tools() {
    bool any = false;
    for (const tool& t : q_.tools) {
      if (!t.raw.empty()) {
        return fail("tool \"" + std::string(tmp_.plain(t.name)) + "\" is a " +
                    std::string(to_string(t.native_protocol)) +
                    " built-in tool with no OpenAI equivalent");
      }
      if (!any) {
        w_.key("tools");
        w_.begin_array();
        any = true;
      }
      w_.begin_object();
      w_.key("type");
      w_.literal("function");
      w_.key("function");
      w_.begin_object();
      w_.key("name");
      w_.text(t.name);
      if (!t.description.empty()) {
        w_.key("description");
        w_.text(t.description);
      }
      if (!t.parameters.empty()) {
        w_.key("parameters");
        w_.raw(t.parameters);
      }
      if (t.strict) {
        w_.key("strict");
        w_.boolean(*t.strict);
      }
      w_.end_object();
      w_.end_object();
    }
    if (any) w_.end_array();
    const tool_choice& c = q_.choice;
    switch (c.mode) {
      case tool_choice_mode::unset:
        break;
      case tool_choice_mode::automatic:
        w_.key("tool_choice");
        w_.literal("auto");
        break;
      case tool_choice_mode::none:
        w_.key("tool_choice");
        w_.literal("none");
        break;
      case tool_choice_mode::required:
        w_.key("tool_choice");
        w_.literal("required");
        break;
      case tool_choice_mode::named:
        w_.key("tool_choice");
        if (c.names.size() == 1) {
          w_.begin_object();
          w_.key("type");
          w_.literal("function");
          w_.key("function");
          w_.begin_object();
          w_.key("name");
          w_.text(c.names.front());
          w_.end_object();
          w_.end_object();
        } else {
          w_.literal("required");
        }
        break;
    }
    if (q_.parallel_tool_calls && any) {
      w_.key("parallel_tool_calls");
      w_.boolean(*q_.parallel_tool_calls);
    }
    return true;
  }

  // The reasoning_effort to send, empty for none.
  std::string_view effort() const {
    const reasoning_config& r = q_.reasoning;
    if (!r.effort.empty()) {
      if (q_.source == wire_protocol::openai) return r.effort;
      if (r.effort == "minimal" || r.effort == "low" || r.effort == "medium" || r.effort == "high")
        return r.effort;
    }
    if (r.enabled == false) return {};
    if (r.budget_tokens) {
      const std::int64_t b = *r.budget_tokens;
      if (b == 0) return {};
      if (b < 0) return "medium";
      if (b <= 1024) return "low";
      if (b <= 8192) return "medium";
      return "high";
    }
    if (r.enabled == true) return "medium";
    return {};
  }

  void sampling() {
    const std::string_view eff = effort();
    if (q_.max_tokens) {
      // Reasoning models (o-series, gpt-5) reject max_tokens; older OpenAI-compatible servers
      // only know max_tokens: keep the client's choice, else pick by whether reasoning is asked.
      const bool completion =
          q_.source == wire_protocol::openai ? q_.max_completion_tokens : !eff.empty();
      w_.key(completion ? "max_completion_tokens" : "max_tokens");
      w_.integer(*q_.max_tokens);
    }
    if (q_.temperature) {
      w_.key("temperature");
      w_.number(*q_.temperature);
    }
    if (q_.top_p) {
      w_.key("top_p");
      w_.number(*q_.top_p);
    }
    if (q_.presence_penalty) {
      w_.key("presence_penalty");
      w_.number(*q_.presence_penalty);
    }
    if (q_.frequency_penalty) {
      w_.key("frequency_penalty");
      w_.number(*q_.frequency_penalty);
    }
    if (q_.seed) {
      w_.key("seed");
      w_.integer(*q_.seed);
    }
    if (q_.candidates) {
      w_.key("n");
      w_.integer(*q_.candidates);
    }
    if (!q_.stop.empty()) {
      w_.key("stop");
      if (q_.stop_string && q_.stop.size() == 1) {
        w_.text(q_.stop.front());
      } else {
        w_.begin_array();
        for (const text_value& s : q_.stop) w_.text(s);
        w_.end_array();
      }
    }
    const response_format& f = q_.format;
    switch (f.kind) {
      case response_format_kind::unset:
        break;
      case response_format_kind::text:
        w_.key("response_format");
        w_.raw(R"({"type":"text"})");
        break;
      case response_format_kind::json_object:
        w_.key("response_format");
        w_.raw(R"({"type":"json_object"})");
        break;
      case response_format_kind::json_schema:
        w_.key("response_format");
        w_.begin_object();
        w_.key("type");
        w_.literal("json_schema");
        w_.key("json_schema");
        w_.begin_object();
        w_.key("name");
        if (f.name.empty()) {
          w_.literal("response");
        } else {
          w_.text(f.name);
        }
        if (!f.description.empty()) {
          w_.key("description");
          w_.text(f.description);
        }
        w_.key("schema");
        w_.raw(f.schema);
        if (f.strict) {
          w_.key("strict");
          w_.boolean(*f.strict);
        }
        w_.end_object();
        w_.end_object();
        break;
    }
    if (!eff.empty()) {
      w_.key("reasoning_effort");
      w_.string(eff);
    }
  }

  const canonical_request& q_;
  json_writer w_;
  decode_memory tmp_;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Responses

bool read_usage(reader& r, od::value& v, usage& u) {
  std::optional<std::int64_t> prompt, completion, cached, reasoning, cache_hit;
  if (!r.fields(v, R"("usage")", [&](std::string_view k, od::value& x) {
        if (is(k, "prompt_tokens")) return r.integer(x, prompt, R"("prompt_tokens")");
        if (is(k, "completion_tokens")) return r.integer(x, completion, R"("completion_tokens")");
        if (is(k, "prompt_cache_hit_tokens"))  // DeepSeek
          return r.integer(x, cache_hit, R"("prompt_cache_hit_tokens")");
        if (is(k, "prompt_tokens_details")) {
          return r.fields(x, R"("prompt_tokens_details")", [&](std::string_view k2, od::value& y) {
            if (is(k2, "cached_tokens")) return r.integer(y, cached, R"("cached_tokens")");
            return true;
          });
        }
        if (is(k, "completion_tokens_details")) {
          return r.fields(x, R"("completion_tokens_details")",
                          [&](std::string_view k2, od::value& y) {
                            if (is(k2, "reasoning_tokens"))
                              return r.integer(y, reasoning, R"("reasoning_tokens")");
                            return true;
                          });
        }
        return true;
      }))
    return false;
  u.input_tokens = prompt.value_or(0);
  u.output_tokens = completion.value_or(0);
  u.cache_read_tokens = cached ? *cached : cache_hit.value_or(0);
  u.reasoning_tokens = reasoning.value_or(0);
  u.has_input = prompt.has_value();
  u.has_output = completion.has_value();
  return true;
}

class response_decoder {
 public:
  response_decoder(reader& r, canonical_response& s) : r_(r), s_(s) {}

  bool field(std::string_view key, od::value& v) {
    if (is(key, "id")) return r_.text(v, s_.id, R"("id")");
    if (is(key, "model")) return r_.text(v, s_.model, R"("model")");
    if (is(key, "created")) return r_.integer(v, s_.created, R"("created")");
    if (is(key, "usage")) return read_usage(r_, v, s_.tokens);
    if (is(key, "choices")) {
      return r_.elements(v, R"("choices")", [&](std::size_t i, od::value& x) {
        if (i > 0) return true;  // one answer: the first choice
        saw_choice_ = true;
        return choice(x);
      });
    }
    return true;
  }

  bool finish() {
    if (!saw_choice_) return r_.fail(R"(the response has no "choices")");
    bool calls = false;
    for (const part& p : s_.parts) calls |= p.kind == part_kind::tool_call;
    s_.stop = finish_reason_.empty() ? stop_reason::end_turn
                                     : stop_reason_from(wire_protocol::openai, finish_reason_);
    // Some servers say "stop" after tool calls: the client must still run them.
    if (calls && s_.stop == stop_reason::end_turn) s_.stop = stop_reason::tool_use;
    return true;
  }

 private:
  bool choice(od::value& v) {
    return r_.fields(v, R"("choices" items)", [&](std::string_view k, od::value& x) {
      if (is(k, "finish_reason")) return r_.plain(x, finish_reason_, R"("finish_reason")");
      if (is(k, "message")) return message(x);
      return true;
    });
  }

  bool message(od::value& v) {
    text_value reasoning;
    std::vector<part> texts;
    std::vector<part> calls;
    text_value refusal;
    if (!r_.fields(v, R"("message")", [&](std::string_view k, od::value& x) {
          if (is(k, "content")) {
            od::json_type t{};
            if (!r_.type(x, t)) return false;
            if (t == od::json_type::string) {
              text_value s;
              if (!r_.text(x, s, R"("content")")) return false;
              if (!s.empty()) add_part(texts, part_kind::text).text = s;
              return true;
            }
            return r_.elements(x, R"("content")", [&](std::size_t, od::value& y) {
              return r_.fields(y, "a content part", [&](std::string_view k2, od::value& z) {
                if (!is(k2, "text")) return true;
                text_value s;
                if (!r_.text(z, s, R"("text")")) return false;
                if (!s.empty()) add_part(texts, part_kind::text).text = s;
                return true;
              });
            });
          }
          if (is(k, "reasoning_content") || is(k, "reasoning")) {
            od::json_type t{};
            if (!r_.type(x, t)) return false;
            if (t != od::json_type::string) return true;
            return r_.text(x, reasoning, R"("reasoning_content")");
          }
          if (is(k, "refusal")) return r_.text(x, refusal, R"("refusal")");
          if (is(k, "tool_calls")) {
            return r_.elements(x, R"("tool_calls")", [&](std::size_t, od::value& y) {
              part p;
              p.kind = part_kind::tool_call;
              if (!r_.fields(y, R"("tool_calls" items)", [&](std::string_view k2, od::value& z) {
                    if (is(k2, "id")) return r_.text(z, p.id, R"("tool_calls[].id")");
                    if (!is(k2, "function")) return true;
                    return r_.fields(z, R"("function")", [&](std::string_view k3, od::value& a) {
                      if (is(k3, "name")) return r_.text(a, p.name, R"("function.name")");
                      if (is(k3, "arguments")) return r_.text(a, p.arguments, R"("arguments")");
                      return true;
                    });
                  }))
                return false;
              if (p.id.empty()) {
                p.id = plain_text(r_.keep(random_id("call_")));
                p.synthetic_id = true;
              }
              calls.push_back(std::move(p));
              return true;
            });
          }
          return true;
        }))
      return false;
    if (!reasoning.empty()) add_part(s_.parts, part_kind::thinking).text = reasoning;
    for (part& p : texts) s_.parts.push_back(std::move(p));
    if (!refusal.empty()) add_part(s_.parts, part_kind::text).text = refusal;
    for (part& p : calls) s_.parts.push_back(std::move(p));
    return true;
  }

  reader& r_;
  canonical_response& s_;
  std::string_view finish_reason_;
  bool saw_choice_ = false;
};

}  // namespace

std::string decode_request(std::string_view body, canonical_request& out, std::size_t allocated) {
  return codec::decode_request_with<request_decoder>(body, out, wire_protocol::openai, allocated);
}

std::string encode_request(const canonical_request& in, std::string& out) {
  return request_encoder(in, out).run();
}

std::string decode_response(std::string_view body, canonical_response& out) {
  std::string error;
  out.source = wire_protocol::openai;
  reader r(error, out.memory, "response body");
  od::object root;
  if (!r.open(body, root)) return error;
  response_decoder d(r, out);
  if (r.object_fields(root, [&](std::string_view k, od::value& v) { return d.field(k, v); }) &&
      r.close())
    d.finish();
  return error;
}

std::string encode_response(const canonical_response& in, std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("id");
  if (in.id.empty()) {
    w.string(random_id("chatcmpl-"));
  } else {
    w.text(in.id);
  }
  w.key("object");
  w.literal("chat.completion");
  w.key("created");
  w.integer(in.created.value_or(unix_now()));
  w.key("model");
  w.text(in.model);
  w.key("choices");
  w.begin_array();
  w.begin_object();
  w.key("index");
  w.integer(0);
  w.key("message");
  w.begin_object();
  w.key("role");
  w.literal("assistant");
  bool has_text = false;
  bool has_calls = false;
  bool has_reasoning = false;
  for (const part& p : in.parts) {
    has_text |= p.kind == part_kind::text;
    has_calls |= p.kind == part_kind::tool_call;
    has_reasoning |= p.kind == part_kind::thinking && !p.text.empty();
  }
  w.key("content");
  if (has_text) {
    write_joined_text(w, in.parts, "");
  } else {
    w.null();
  }
  if (has_reasoning) {
    w.key("reasoning_content");
    w.begin_string();
    for (const part& p : in.parts)
      if (p.kind == part_kind::thinking) w.piece(p.text);
    w.end_string();
  }
  if (has_calls) {
    w.key("tool_calls");
    write_tool_calls(w, in.parts);
  }
  w.end_object();
  w.key("logprobs");
  w.null();
  w.key("finish_reason");
  w.string(stop_reason_to(wire_protocol::openai, in.stop));
  w.end_object();
  w.end_array();
  w.key("usage");
  std::string usage_json;
  append_usage_json(usage_json, wire_protocol::openai, in.tokens);
  w.raw(usage_json);
  w.end_object();
  return {};
}

std::string decode_models(std::string_view body, canonical_model_list& out) {
  std::string error;
  out.source = wire_protocol::openai;
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
                            if (is(k2, "created")) return r.integer(y, m.created, R"("created")");
                            if (is(k2, "owned_by")) return r.text(y, m.owned_by, R"("owned_by")");
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
  w.key("object");
  w.literal("list");
  w.key("data");
  w.begin_array();
  for (const model_info& m : in.models) {
    w.begin_object();
    w.key("id");
    w.text(m.id);
    w.key("object");
    w.literal("model");
    w.key("created");
    w.integer(m.created.value_or(0));
    w.key("owned_by");
    if (!m.owned_by.empty()) {
      w.text(m.owned_by);
    } else {
      w.string(in.source == wire_protocol::claude   ? "anthropic"
               : in.source == wire_protocol::gemini ? "google"
                                                    : "openai");
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace aiclient::protocol::openai_codec
