#include "aiclient/protocol/code_assist.hpp"

#include <simdjson.h>

#include "aiclient/protocol/errors.hpp"

namespace aiclient::protocol {

std::string code_assist_wrap(std::string_view model, std::string_view project,
                             std::string_view gemini_body) {
  std::string out;
  out.reserve(gemini_body.size() + model.size() + project.size() + 48);
  out += R"({"model":)";
  append_json_string(out, model);
  if (!project.empty()) {
    out += R"(,"project":)";
    append_json_string(out, project);
  }
  out += R"(,"request":)";
  out += gemini_body;
  out += '}';
  return out;
}

std::optional<std::string> code_assist_unwrap(std::string_view body) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  for (auto field_result : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key != "response") continue;
    simdjson::ondemand::object inner;
    if (field.value().get_object().get(inner)) return std::nullopt;
    std::string_view raw;
    if (inner.raw_json().get(raw)) return std::nullopt;
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
      raw.remove_suffix(1);
    return std::string(raw);
  }
  return std::string(body);
}

}  // namespace aiclient::protocol
