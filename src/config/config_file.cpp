// Reading config.json: JSON syntax, the top-level object and the JSON type of every known key.
// Ranges and cross-field rules are checked after the command line is merged in.
#include <limits>

#include <nlohmann/json.hpp>

#include "fields.hpp"

namespace aiclient::config::detail {
namespace {

using json = nlohmann::ordered_json;

std::string json_type(const json& j) {
  if (j.is_number_float()) return "a fractional number";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  if (j.is_array()) return "an array";
  return "an object";
}

std::string expected_type(field_kind k, bool optional) {
  switch (k) {
    case field_kind::integer:
      return "an integer";
    case field_kind::boolean:
      return "a boolean (true or false)";
    case field_kind::text:
    case field_kind::choice:
      return optional ? "a string (or null)" : "a string";
  }
  return "a value";
}

// Line and column of a 1-based byte position, for a syntax error that names no content (the
// text around it may be a secret).
std::string position_of(const std::string& text, std::size_t byte) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

file_values read_config_file(const std::string& path) {
  const std::string where = "config file '" + path + "'";
  std::string text;
  if (auto why = read_whole_file(path, text); !why.empty())
    throw config_error("cannot read " + where + ": " + why);

  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann's own message quotes the bytes it last read: they may be an API key.
    throw config_error(where + " is not valid JSON (syntax error at " + position_of(text, e.byte) +
                       ")");
  }
  if (!root.is_object())
    throw config_error(where + " must hold a JSON object, not " + json_type(root));

  const auto table = fields();
  file_values out;
  out.values.resize(table.size());
  for (const auto& [key, value] : root.items()) {
    std::size_t index = table.size();
    for (std::size_t i = 0; i < table.size(); ++i)
      if (table[i].key == key) index = i;
    if (key == "providerFallbackChain") {
      const auto bad = [&] {
        return config_error("providerFallbackChain in " + where +
                            ": expected an object of arrays of provider types");
      };
      if (!value.is_object()) throw bad();
      std::map<std::string, std::vector<std::string>> chain;
      for (const auto& [from, list] : value.items()) {
        if (!list.is_array()) throw bad();
        auto& to = chain[from];
        for (const auto& t : list) {
          if (!t.is_string()) throw bad();
          to.push_back(t.get<std::string>());
        }
      }
      out.fallback_chain = std::move(chain);
      continue;
    }
    if (index == table.size()) {
      out.unknown_keys.push_back(key);
      continue;
    }
    const field& f = table[index];
    const auto wrong_type = [&] {
      return config_error(std::string(f.key) + " in " + where + ": expected " +
                          expected_type(f.kind, f.optional) + ", got " + json_type(value));
    };
    switch (f.kind) {
      case field_kind::integer:
        if (value.is_number_unsigned()) {
          const auto u = value.get<std::uint64_t>();
          // Larger than any bound: let the range check report it.
          out.values[index] = u > std::uint64_t(std::numeric_limits<std::int64_t>::max())
                                  ? std::numeric_limits<std::int64_t>::max()
                                  : std::int64_t(u);
        } else if (value.is_number_integer()) {
          out.values[index] = value.get<std::int64_t>();
        } else {
          throw wrong_type();
        }
        break;
      case field_kind::boolean:
        if (!value.is_boolean()) throw wrong_type();
        out.values[index] = value.get<bool>();
        break;
      case field_kind::text:
      case field_kind::choice:
        if (value.is_null() && f.optional)
          out.values[index] = std::string();
        else if (value.is_string())
          out.values[index] = value.get<std::string>();
        else
          throw wrong_type();
        break;
    }
  }
  return out;
}

}  // namespace aiclient::config::detail
