#pragma once
// Private to src/config: the table of settings fields shared by the config.json reader, the
// command line (CLI11) and validate().
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "aiclient/config/settings.hpp"

namespace aiclient::config::detail {

/// What a field holds, as config.json and the command line spell it.
enum class field_kind { integer, text, boolean, choice };

/// A value before its range / choice check: from config.json or from the command line.
using raw_value = std::variant<std::int64_t, std::string, bool>;

/// One settings field: its config.json key, its flag, its bounds and how to read and write it.
struct field {
  std::string_view key;    ///< config.json key (the contract)
  std::string_view flag;   ///< long command-line flag, "--port"
  std::string_view group;  ///< help section
  std::string_view help;   ///< one line for --help
  field_kind kind;
  std::int64_t min = 0;  ///< integer: smallest accepted value
  std::int64_t max = 0;  ///< integer: largest accepted value
  /// choice: the accepted spellings; the index is the enum value.
  std::span<const std::string_view> choices;
  bool optional = false;  ///< text: empty means "not set"; JSON null is accepted as "not set"
  bool secret = false;    ///< the value never appears in a message
  /// Reads the field (integer as int64, choice as its spelling).
  raw_value (*get)(const settings&) = nullptr;
  /// Writes an already checked value.
  void (*set)(settings&, const raw_value&) = nullptr;
  /// text: returns what is wrong with a value ("" when fine). May be null.
  std::string (*check)(const std::string&) = nullptr;
};

/// Every settings field, in the order of settings.hpp.
std::span<const field> fields();

/// "" when `path` names a regular file this process can open for reading, else the reason
/// ("no such file", "is a directory", "Permission denied"...).
std::string unreadable_reason(const std::string& path);

/// Reads a whole file into `out`; returns "" or the reason it could not be read.
std::string read_whole_file(const std::string& path, std::string& out);

/// Checks `value` against the field's range / choices / text rule; returns "" or the problem
/// (never the value of a secret field).
std::string problem_with(const field& f, const raw_value& value);

/// What a config file holds: per field (same index as fields()) the value, when present.
struct file_values {
  std::vector<std::optional<raw_value>> values;  ///< one slot per field
  std::vector<std::string> unknown_keys;         ///< keys this build does not use, in file order
  /// providerFallbackChain, when present (an object of arrays of strings).
  std::optional<std::map<std::string, std::vector<std::string>>> fallback_chain;
};

/// Reads and type-checks a config.json. Throws config_error naming the path (and the key) when
/// the file cannot be read, is not a JSON object, or a known key has the wrong JSON type.
file_values read_config_file(const std::string& path);

/// The value as --help shows it as a default ("" for empty text).
std::string display(const raw_value& value);

}  // namespace aiclient::config::detail
