// The command line (CLI11) and the merge: CLI > config file > defaults.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string_view>

#include "aiclient/config/settings.hpp"
#include "aiclient/util/strings.hpp"
#include "fields.hpp"

#ifndef AICLIENT_VERSION
#define AICLIENT_VERSION "dev"
#endif

namespace aiclient::config {
namespace {

/// Storage CLI11 writes a flag's value into; `opt->count()` tells whether the flag was given.
struct cli_slot {
  std::int64_t integer = 0;
  std::string text;
  bool boolean = false;
  CLI::Option* opt = nullptr;
};

/// Values in argv that may be secrets: the value of --api-key, and of any option whose name
/// says key, token, secret or password (a mistyped "--apikey sk-..." ends up quoted verbatim in
/// CLI11's "argument was not expected" message).
std::vector<std::string> secrets_in(int argc, const char* const* argv) {
  const auto secret_name = [](std::string_view name) {
    for (const auto& f : detail::fields())
      if (f.flag == name) return f.secret;  // a known flag: --cron-refresh-token is no secret
    const auto lower = util::to_lower(name);
    for (const std::string_view word : {"key", "token", "secret", "password"})
      if (lower.find(word) != std::string::npos) return true;
    return false;
  };
  std::vector<std::string> found;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i] ? argv[i] : "";
    if (a.size() < 2 || a[0] != '-') continue;
    const auto eq = a.find('=');
    if (!secret_name(a.substr(0, eq))) continue;
    if (eq != std::string_view::npos) {
      if (eq + 1 < a.size()) found.emplace_back(a.substr(eq + 1));
    } else if (i + 1 < argc && argv[i + 1] && *argv[i + 1] && argv[i + 1][0] != '-') {
      found.emplace_back(argv[i + 1]);
    }
  }
  return found;
}

std::string scrub(std::string message, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    for (auto at = message.find(s); at != std::string::npos; at = message.find(s, at + 3))
      message.replace(at, s.size(), "***");
  }
  return message;
}

void warn_unknown_keys(const std::string& path, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::string list;
  for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
  spdlog::warn("config file '{}': ignoring {} key(s) this server does not use: {}", path,
               keys.size(), list);
}

}  // namespace

cli_outcome parse_command_line(int argc, const char* const* argv) {
  const auto table = detail::fields();
  const settings defaults;

  CLI::App app{
      "aiclient-server: an LLM API gateway (OpenAI, Anthropic and Gemini APIs in front "
      "of pools of upstream accounts).\nPrecedence: command line > config file > "
      "defaults.",
      "aiclient-server"};
  app.get_formatter()->column_width(42);
  app.set_version_flag("--version", "aiclient-server " AICLIENT_VERSION,
                       "Print the version and exit");

  std::string config_path;
  CLI::Option* config_opt = app.add_option(
      "--config", config_path, "config.json to read (default: ./config.json when it exists)");
  config_opt->type_name("FILE");

  std::vector<cli_slot> slots(table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    auto& slot = slots[i];
    const std::string name(f.flag);
    const std::string help = std::string(f.help) + "  [" + std::string(f.key) + "]";
    switch (f.kind) {
      case detail::field_kind::integer:
        slot.opt = app.add_option(name, slot.integer, help)->type_name("INT");
        break;
      case detail::field_kind::boolean:
        slot.opt = app.add_option(name, slot.boolean, help)->type_name("BOOL");
        break;
      case detail::field_kind::text:
      case detail::field_kind::choice:
        slot.opt = app.add_option(name, slot.text, help)->type_name("TEXT");
        break;
    }
    slot.opt->group(std::string(f.group));
    if (!f.secret) {
      const auto shown = detail::display(f.get(defaults));
      if (!shown.empty()) slot.opt->default_str(shown);
    }
  }

  cli_outcome outcome;
  try {
    if (argc > 0)
      app.parse(argc, argv);
    else
      app.parse(std::vector<std::string>{});
  } catch (const CLI::CallForHelp&) {
    outcome.print = app.help();
    return outcome;
  } catch (const CLI::CallForAllHelp&) {
    outcome.print = app.help("", CLI::AppFormatMode::All);
    return outcome;
  } catch (const CLI::CallForVersion& e) {
    outcome.print = std::string(e.what()) + "\n";
    return outcome;
  } catch (const CLI::ParseError& e) {
    throw config_error(scrub(e.what(), secrets_in(argc, argv)));
  }

  // The config file: --config must be readable; ./config.json only when it exists.
  std::string file;
  if (config_opt->count() > 0) {
    if (config_path.empty()) throw config_error("--config: empty path");
    file = config_path;
  } else {
    std::error_code ec;
    if (std::filesystem::exists("config.json", ec)) file = "config.json";
  }
  detail::file_values from_file;
  if (!file.empty()) {
    from_file = detail::read_config_file(file);
    warn_unknown_keys(file, from_file.unknown_keys);
  }

  // Merge, each value checked under the name of where it came from.
  settings s;
  if (from_file.fallback_chain) s.provider_fallback_chain = *from_file.fallback_chain;
  std::vector<std::string> source(table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    std::optional<detail::raw_value> value;
    if (slots[i].opt->count() > 0) {
      source[i] = std::string(f.flag);
      switch (f.kind) {
        case detail::field_kind::integer:
          value = slots[i].integer;
          break;
        case detail::field_kind::boolean:
          value = slots[i].boolean;
          break;
        default:
          value = slots[i].text;
      }
    } else if (from_file.values.size() == table.size() && from_file.values[i]) {
      source[i] = std::string(f.key) + " in config file '" + file + "'";
      value = from_file.values[i];
    } else {
      continue;
    }
    if (auto problem = detail::problem_with(f, *value); !problem.empty())
      throw config_error(source[i] + ": " + problem);
    f.set(s, *value);
  }

  if (!s.system_prompt_file.empty()) {
    std::string who = "--system-prompt-file";
    for (std::size_t i = 0; i < table.size(); ++i)
      if (table[i].key == "SYSTEM_PROMPT_FILE_PATH" && !source[i].empty()) who = source[i];
    if (auto why = detail::read_whole_file(s.system_prompt_file, s.system_prompt); !why.empty())
      throw config_error(who + ": cannot read '" + s.system_prompt_file + "': " + why);
  }

  validate(s);
  s.config_file = file;
  outcome.run = std::move(s);
  return outcome;
}

}  // namespace aiclient::config
