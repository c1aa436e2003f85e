#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "aiclient/config/settings.hpp"

namespace fs = std::filesystem;
using aiclient::config::cli_outcome;
using aiclient::config::config_error;
using aiclient::config::log_prompts_mode;
using aiclient::config::parse_command_line;
using aiclient::config::settings;
using aiclient::protocol::system_prompt_mode;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// Every test runs in its own empty temp directory (also the working directory, so the
// ./config.json lookup sees only what the test writes).
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    dir_ = fs::temp_directory_path() / ("aiclient-config-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(stamp) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `content` to `name` (relative to the temp dir); returns the absolute path.
  std::string write(const std::string& name, const std::string& content) {
    const auto p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  static cli_outcome parse(std::vector<std::string> args) {
    args.insert(args.begin(), "aiclient-server");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return parse_command_line(static_cast<int>(argv.size()), argv.data());
  }

  // Runs with arguments that must succeed and returns the settings.
  static settings run(std::vector<std::string> args) {
    auto outcome = parse(std::move(args));
    EXPECT_TRUE(outcome.run.has_value());
    return outcome.run.value_or(settings{});
  }

  // Returns the config_error message of a run that must fail ("" when it did not fail).
  static std::string error_of(std::vector<std::string> args) {
    try {
      parse(std::move(args));
    } catch (const config_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a config_error";
    return {};
  }

  // --config with a file holding `json`, expected to fail.
  std::string file_error(const std::string& json) {
    return error_of({"--config", write("bad.json", json)});
  }

  fs::path dir_;
  fs::path old_cwd_;
};

// --- defaults and precedence ---

TEST_F(ConfigTest, DefaultsWithoutArgumentsOrConfigFile) {
  const settings s = run({});
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 3000);
  EXPECT_EQ(s.required_api_key, "");
  EXPECT_EQ(s.model_provider, "mock");
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.request_max_retries, 3);
  EXPECT_EQ(s.request_base_delay_ms, 1000);
  EXPECT_TRUE(s.cron_refresh_token);
  EXPECT_EQ(s.system_prompt_mode, system_prompt_mode::overwrite);
  EXPECT_EQ(s.log_prompts, log_prompts_mode::none);
  EXPECT_EQ(s.max_body_bytes, 32u * 1024 * 1024);
  EXPECT_EQ(s.config_file, "");
}

TEST_F(ConfigTest, ConfigFileValuesOverrideDefaults) {
  write("pools.json", "{}");
  write("prompt.txt", "Be brief.");
  const auto path = write("my-config.json", R"({
    "HOST": "localhost", "SERVER_PORT": 4000, "MODEL_PROVIDER": "claude-custom",
    "PROVIDER_POOLS_FILE_PATH": "pools.json", "REQUEST_MAX_RETRIES": 5,
    "REQUEST_BASE_DELAY": 250, "MAX_ERROR_COUNT": 7, "CRON_NEAR_MINUTES": 30,
    "CRON_REFRESH_TOKEN": false, "SYSTEM_PROMPT_FILE_PATH": "prompt.txt",
    "SYSTEM_PROMPT_MODE": "append", "PROMPT_LOG_MODE": "file", "PROMPT_LOG_BASE_NAME": "prompts",
    "THREADS": 2, "LOG_LEVEL": "debug", "MAX_BODY_BYTES": 1048576, "MAX_CONNECTIONS": 10,
    "UPSTREAM_FIRST_BYTE_TIMEOUT_MS": 5000, "UPSTREAM_MAX_IDLE_CONNECTIONS": 0,
    "PROXY_URL": "http://127.0.0.1:8080"
  })");
  const settings s = run({"--config", path});
  EXPECT_EQ(s.host, "localhost");
  EXPECT_EQ(s.port, 4000);
  EXPECT_EQ(s.model_provider, "claude-custom");
  EXPECT_EQ(s.provider_pools_file, "pools.json");
  EXPECT_EQ(s.request_max_retries, 5);
  EXPECT_EQ(s.request_base_delay_ms, 250);
  EXPECT_EQ(s.max_error_count, 7);
  EXPECT_EQ(s.cron_near_minutes, 30);
  EXPECT_FALSE(s.cron_refresh_token);
  EXPECT_EQ(s.system_prompt_mode, system_prompt_mode::append);
  EXPECT_EQ(s.log_prompts, log_prompts_mode::file);
  EXPECT_EQ(s.prompt_log_base_name, "prompts");
  EXPECT_EQ(s.threads, 2);
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.max_body_bytes, 1048576u);
  EXPECT_EQ(s.max_connections, 10);
  EXPECT_EQ(s.upstream_first_byte_timeout_ms, 5000);
  EXPECT_EQ(s.upstream_max_idle_connections, 0);
  EXPECT_EQ(s.proxy_url, "http://127.0.0.1:8080");
  EXPECT_EQ(s.system_prompt, "Be brief.");
  EXPECT_EQ(s.config_file, path);
}

TEST_F(ConfigTest, CommandLineOverridesConfigFileWhichOverridesDefaults) {
  const auto path = write("config.json", R"({"SERVER_PORT": 4000, "THREADS": 2,
    "CRON_REFRESH_TOKEN": true, "LOG_LEVEL": "warn"})");
  const settings s = run({"--config", path, "--port", "5000", "--cron-refresh-token", "false",
                          "--log-level", "error"});
  EXPECT_EQ(s.port, 5000);              // CLI beats the file
  EXPECT_FALSE(s.cron_refresh_token);   // CLI beats the file
  EXPECT_EQ(s.log_level, "error");      // CLI beats the file
  EXPECT_EQ(s.threads, 2);              // file beats the default
  EXPECT_EQ(s.request_max_retries, 3);  // default
}

TEST_F(ConfigTest, ReadsConfigJsonInWorkingDirectoryWhenNoConfigFlag) {
  write("config.json", R"({"SERVER_PORT": 4321, "REQUIRED_API_KEY": "k-123456789"})");
  const settings s = run({});
  EXPECT_EQ(s.port, 4321);
  EXPECT_EQ(s.required_api_key, "k-123456789");
  EXPECT_EQ(s.config_file, "config.json");
}

TEST_F(ConfigTest, ConfigFlagWinsOverWorkingDirectoryConfigJson) {
  write("config.json", R"({"SERVER_PORT": 1111})");
  const auto other = write("other/config.json", R"({"SERVER_PORT": 2222})");
  const settings s = run({"--config", other});
  EXPECT_EQ(s.port, 2222);
  EXPECT_EQ(s.config_file, other);
}

TEST_F(ConfigTest, CommandLineValueIsCheckedInsteadOfTheOverriddenFileValue) {
  write("pools.json", "{}");
  const auto path = write("config.json", R"({"PROVIDER_POOLS_FILE_PATH": "missing.json"})");
  const settings s = run({"--config", path, "--provider-pools-file", "pools.json"});
  EXPECT_EQ(s.provider_pools_file, "pools.json");
}

TEST_F(ConfigTest, RelativePathsAreKeptAsWrittenAndResolvedFromWorkingDirectory) {
  // The pools file sits in the working directory, the config file in a subfolder: the path is
  // relative to the working directory (as AIClient-2-API does), not to the config file.
  write("provider_pools.json", "{}");
  const auto path = write("conf/config.json", R"({"PROVIDER_POOLS_FILE_PATH":
    "provider_pools.json"})");
  EXPECT_EQ(run({"--config", path}).provider_pools_file, "provider_pools.json");

  const auto beside = write("conf2/config.json", R"({"PROVIDER_POOLS_FILE_PATH": "p.json"})");
  write("conf2/p.json", "{}");  // only beside the config file, not in the working directory
  EXPECT_THAT(error_of({"--config", beside}), HasSubstr("'p.json'"));
}

TEST_F(ConfigTest, NullClearsOptionalPathsFromAiclient2ApiConfigs) {
  const auto path = write("config.json", R"({"PROVIDER_POOLS_FILE_PATH": null,
    "SYSTEM_PROMPT_FILE_PATH": null, "PROXY_URL": null, "REQUIRED_API_KEY": null})");
  const settings s = run({"--config", path});
  EXPECT_EQ(s.provider_pools_file, "");
  EXPECT_EQ(s.system_prompt_file, "");
  EXPECT_EQ(s.proxy_url, "");
  EXPECT_EQ(s.required_api_key, "");
}

TEST_F(ConfigTest, LongFlagsForLimitsAndTimeouts) {
  const settings s =
      run({"--max-body-bytes", "2048", "--max-header-bytes", "4096", "--header-timeout-ms", "1500",
           "--upstream-idle-timeout-ms", "9000", "--shutdown-grace-ms", "100", "--threads", "4"});
  EXPECT_EQ(s.max_body_bytes, 2048u);
  EXPECT_EQ(s.max_header_bytes, 4096u);
  EXPECT_EQ(s.header_timeout_ms, 1500);
  EXPECT_EQ(s.upstream_idle_timeout_ms, 9000);
  EXPECT_EQ(s.shutdown_grace_ms, 100);
  EXPECT_EQ(s.threads, 4);
}

// --- system prompt ---

TEST_F(ConfigTest, SystemPromptFileContentIsLoaded) {
  const std::string prompt = "You are a helpful assistant.\nAnswer in Français, briefly.\n";
  write("prompt.txt", prompt);
  const settings s = run({"--system-prompt-file", "prompt.txt", "--system-prompt-mode", "append"});
  EXPECT_EQ(s.system_prompt_file, "prompt.txt");
  EXPECT_EQ(s.system_prompt, prompt);
  EXPECT_EQ(s.system_prompt_mode, system_prompt_mode::append);
}

TEST_F(ConfigTest, MissingSystemPromptFileNamesPathAndFlag) {
  EXPECT_THAT(error_of({"--system-prompt-file", "nope/prompt.txt"}),
              AllOf(HasSubstr("--system-prompt-file"), HasSubstr("nope/prompt.txt")));
}

TEST_F(ConfigTest, SystemPromptPathThatIsADirectoryNamesKeyAndPath) {
  fs::create_directories(dir_ / "prompts");
  EXPECT_THAT(
      file_error(R"({"SYSTEM_PROMPT_FILE_PATH": "prompts"})"),
      AllOf(HasSubstr("SYSTEM_PROMPT_FILE_PATH"), HasSubstr("'prompts'"), HasSubstr("directory")));
}

// --- unreadable files ---

TEST_F(ConfigTest, MissingConfigFileNamesThePath) {
  const auto missing = (dir_ / "absent.json").string();
  EXPECT_THAT(error_of({"--config", missing}), HasSubstr(missing));
}

TEST_F(ConfigTest, ConfigPathThatIsADirectoryNamesThePath) {
  fs::create_directories(dir_ / "cfgdir");
  EXPECT_THAT(error_of({"--config", (dir_ / "cfgdir").string()}),
              AllOf(HasSubstr((dir_ / "cfgdir").string()), HasSubstr("directory")));
}

TEST_F(ConfigTest, MissingPoolsFileNamesKeyAndPath) {
  EXPECT_THAT(file_error(R"({"PROVIDER_POOLS_FILE_PATH": "gone/provider_pools.json"})"),
              AllOf(HasSubstr("PROVIDER_POOLS_FILE_PATH"), HasSubstr("gone/provider_pools.json")));
  EXPECT_THAT(error_of({"--provider-pools-file", "gone.json"}),
              AllOf(HasSubstr("--provider-pools-file"), HasSubstr("gone.json")));
}

TEST_F(ConfigTest, MissingUpstreamCaFileNamesKeyAndPath) {
  EXPECT_THAT(file_error(R"({"UPSTREAM_CA_FILE": "certs/ca.pem"})"),
              AllOf(HasSubstr("UPSTREAM_CA_FILE"), HasSubstr("certs/ca.pem")));
  write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(run({"--upstream-ca-file", "ca.pem"}).upstream_ca_file, "ca.pem");
}

TEST_F(ConfigTest, EmptyConfigFlagIsAnError) {
  EXPECT_THAT(error_of({"--config", ""}), HasSubstr("--config"));
}

// --- malformed config.json ---

TEST_F(ConfigTest, MalformedJsonNamesPathAndPositionButNoContent) {
  const auto path = write("config.json", "{\n  \"SERVER_PORT\": 3000,\n  \"HOST\": }\n");
  const auto message = error_of({"--config", path});
  EXPECT_THAT(message, AllOf(HasSubstr(path), HasSubstr("not valid JSON"), HasSubstr("line 3")));
}

TEST_F(ConfigTest, MalformedJsonDoesNotEchoASecret) {
  const auto path = write("config.json", "{\"REQUIRED_API_KEY\": \"sk-live-secret-value\n}");
  EXPECT_THAT(error_of({"--config", path}),
              AllOf(HasSubstr(path), Not(HasSubstr("sk-live-secret-value"))));
}

TEST_F(ConfigTest, MalformedWorkingDirectoryConfigJsonIsAnError) {
  write("config.json", "{ not json");
  EXPECT_THAT(error_of({}), HasSubstr("config.json"));
}

TEST_F(ConfigTest, TopLevelMustBeAnObject) {
  EXPECT_THAT(file_error(R"([{"SERVER_PORT": 3000}])"),
              AllOf(HasSubstr("bad.json"), HasSubstr("JSON object")));
}

// --- wrong JSON types ---

struct type_case {
  const char* json;
  const char* key;
  const char* expected;
};

class WrongJsonType : public ConfigTest, public ::testing::WithParamInterface<type_case> {};

TEST_P(WrongJsonType, NamesKeyAndExpectedType) {
  const auto& c = GetParam();
  EXPECT_THAT(file_error(c.json), AllOf(HasSubstr(c.key), HasSubstr(c.expected)));
}

INSTANTIATE_TEST_SUITE_P(
    Config, WrongJsonType,
    ::testing::Values(
        type_case{R"({"SERVER_PORT": "3000"})", "SERVER_PORT", "got a string"},
        type_case{R"({"THREADS": 2.5})", "THREADS", "expected an integer"},
        type_case{R"({"SERVER_PORT": null})", "SERVER_PORT", "got null"},
        type_case{R"({"CRON_REFRESH_TOKEN": "yes"})", "CRON_REFRESH_TOKEN", "expected a boolean"},
        type_case{R"({"HOST": 8080})", "HOST", "expected a string"},
        type_case{R"({"MODEL_PROVIDER": ["mock"]})", "MODEL_PROVIDER", "got an array"},
        type_case{R"({"SYSTEM_PROMPT_MODE": true})", "SYSTEM_PROMPT_MODE", "got a boolean"},
        type_case{R"({"MAX_BODY_BYTES": {"mb": 1}})", "MAX_BODY_BYTES", "got an object"}));

TEST_F(ConfigTest, WrongTypeOfApiKeyDoesNotEchoTheValue) {
  const auto message = file_error(R"({"REQUIRED_API_KEY": 987654321987})");
  EXPECT_THAT(message, AllOf(HasSubstr("REQUIRED_API_KEY"), Not(HasSubstr("987654321987"))));
}

// --- range and value validation: each error names its key and the bad value ---

struct value_case {
  const char* json;
  const char* key;
  const char* bad;
};

class BadConfigValue : public ConfigTest, public ::testing::WithParamInterface<value_case> {};

TEST_P(BadConfigValue, NamesKeyAndValue) {
  const auto& c = GetParam();
  EXPECT_THAT(file_error(c.json), AllOf(HasSubstr(c.key), HasSubstr(c.bad)));
}

INSTANTIATE_TEST_SUITE_P(
    Config, BadConfigValue,
    ::testing::Values(
        value_case{R"({"SERVER_PORT": 70000})", "SERVER_PORT", "70000"},
        value_case{R"({"SERVER_PORT": -1})", "SERVER_PORT", "-1"},
        value_case{R"({"SERVER_PORT": 18446744073709551615})", "SERVER_PORT", "out of range"},
        value_case{R"({"THREADS": 257})", "THREADS", "257"},
        value_case{R"({"REQUEST_MAX_RETRIES": 21})", "REQUEST_MAX_RETRIES", "21"},
        value_case{R"({"REQUEST_BASE_DELAY": 0})", "REQUEST_BASE_DELAY", "0 is out of range"},
        value_case{R"({"MAX_ERROR_COUNT": 0})", "MAX_ERROR_COUNT", "0 is out of range"},
        value_case{R"({"CRON_NEAR_MINUTES": -5})", "CRON_NEAR_MINUTES", "-5"},
        value_case{R"({"MAX_HEADER_BYTES": 0})", "MAX_HEADER_BYTES", "0 is out of range"},
        value_case{R"({"MAX_BODY_BYTES": -1})", "MAX_BODY_BYTES", "-1"},
        value_case{R"({"MAX_CONNECTIONS": 0})", "MAX_CONNECTIONS", "0 is out of range"},
        value_case{R"({"HEADER_TIMEOUT_MS": 0})", "HEADER_TIMEOUT_MS", "0 is out of range"},
        value_case{R"({"BODY_TIMEOUT_MS": 0})", "BODY_TIMEOUT_MS", "0 is out of range"},
        value_case{R"({"KEEP_ALIVE_TIMEOUT_MS": 0})", "KEEP_ALIVE_TIMEOUT_MS", "0 is out of range"},
        value_case{R"({"WRITE_TIMEOUT_MS": 0})", "WRITE_TIMEOUT_MS", "0 is out of range"},
        value_case{R"({"SHUTDOWN_GRACE_MS": 0})", "SHUTDOWN_GRACE_MS", "0 is out of range"},
        value_case{R"({"UPSTREAM_CONNECT_TIMEOUT_MS": 0})", "UPSTREAM_CONNECT_TIMEOUT_MS",
                   "0 is out of range"},
        value_case{R"({"UPSTREAM_FIRST_BYTE_TIMEOUT_MS": 86400000})",
                   "UPSTREAM_FIRST_BYTE_TIMEOUT_MS", "86400000"},
        value_case{R"({"UPSTREAM_IDLE_TIMEOUT_MS": 0})", "UPSTREAM_IDLE_TIMEOUT_MS",
                   "0 is out of range"},
        value_case{R"({"UPSTREAM_MAX_RESPONSE_BYTES": 0})", "UPSTREAM_MAX_RESPONSE_BYTES",
                   "0 is out of range"},
        value_case{R"({"MAX_SSE_EVENT_BYTES": 0})", "MAX_SSE_EVENT_BYTES", "0 is out of range"},
        value_case{R"({"UPSTREAM_MAX_IDLE_CONNECTIONS": -1})", "UPSTREAM_MAX_IDLE_CONNECTIONS",
                   "-1"},
        value_case{R"({"LOG_LEVEL": "verbose"})", "LOG_LEVEL", "\"verbose\""},
        value_case{R"({"SYSTEM_PROMPT_MODE": "replace"})", "SYSTEM_PROMPT_MODE", "\"replace\""},
        value_case{R"({"PROMPT_LOG_MODE": "syslog"})", "PROMPT_LOG_MODE", "\"syslog\""},
        value_case{R"({"PROMPT_LOG_BASE_NAME": ""})", "PROMPT_LOG_BASE_NAME", "empty"},
        value_case{R"({"HOST": ""})", "HOST", "empty"},
        value_case{R"({"PROXY_URL": "socks5://127.0.0.1:1080"})", "PROXY_URL",
                   "socks5://127.0.0.1:1080"},
        value_case{R"({"PROXY_URL": "http://proxy.local"})", "PROXY_URL", "http://proxy.local"},
        value_case{R"({"PROXY_URL": "http://proxy.local:99999"})", "PROXY_URL", "99999"}));

TEST_F(ConfigTest, UnknownProviderTypeIsRefusedWithTheKnownList) {
  const auto message = file_error(R"({"MODEL_PROVIDER": "gemini-antigravity"})");
  EXPECT_THAT(message, AllOf(HasSubstr("MODEL_PROVIDER"), HasSubstr("gemini-antigravity"),
                             HasSubstr("openai-custom"), HasSubstr("claude-kiro-oauth")));
  EXPECT_THAT(error_of({"--model-provider", "openai"}),
              AllOf(HasSubstr("--model-provider"), HasSubstr("\"openai\"")));
}

TEST_F(ConfigTest, EveryKnownProviderTypeIsAccepted) {
  const std::vector<std::string> expected = {"openai-custom",     "claude-custom",
                                             "gemini-cli-oauth",  "claude-kiro-oauth",
                                             "openai-qwen-oauth", "mock"};
  EXPECT_EQ(aiclient::config::known_provider_types(), expected);
  for (const auto& type : expected) EXPECT_EQ(run({"--model-provider", type}).model_provider, type);
}

TEST_F(ConfigTest, CommandLineValuesAreValidatedUnderTheirFlagName) {
  EXPECT_THAT(error_of({"--port", "70000"}), AllOf(HasSubstr("--port"), HasSubstr("70000")));
  EXPECT_THAT(error_of({"--threads", "300"}), AllOf(HasSubstr("--threads"), HasSubstr("300")));
  EXPECT_THAT(error_of({"--request-max-retries", "50"}),
              AllOf(HasSubstr("--request-max-retries"), HasSubstr("50")));
  EXPECT_THAT(error_of({"--log-level", "loud"}),
              AllOf(HasSubstr("--log-level"), HasSubstr("loud")));
  EXPECT_THAT(error_of({"--system-prompt-mode", "prepend"}),
              AllOf(HasSubstr("--system-prompt-mode"), HasSubstr("overwrite|append")));
  EXPECT_THAT(error_of({"--log-prompts", "all"}),
              AllOf(HasSubstr("--log-prompts"), HasSubstr("none|console|file")));
  EXPECT_THAT(error_of({"--proxy-url", "https://proxy:443"}), HasSubstr("--proxy-url"));
}

TEST_F(ConfigTest, AcceptedProxyUrls) {
  EXPECT_EQ(run({"--proxy-url", "http://127.0.0.1:8080"}).proxy_url, "http://127.0.0.1:8080");
  EXPECT_EQ(run({"--proxy-url", "http://proxy.corp:3128/"}).proxy_url, "http://proxy.corp:3128/");
  EXPECT_EQ(run({"--proxy-url", "http://[::1]:3128"}).proxy_url, "http://[::1]:3128");
}

TEST_F(ConfigTest, ProxyUrlWithCredentialsIsRefusedWithoutEchoingThem) {
  const auto message = error_of({"--proxy-url", "http://user:hunter2pass@proxy:3128"});
  EXPECT_THAT(message, AllOf(HasSubstr("--proxy-url"), Not(HasSubstr("hunter2pass"))));
}

TEST_F(ConfigTest, ApiKeyWithSurroundingWhitespaceIsRefusedWithoutEchoingIt) {
  const auto message = error_of({"--api-key", " sk-padded-key-0001 "});
  EXPECT_THAT(message, AllOf(HasSubstr("--api-key"), Not(HasSubstr("sk-padded-key-0001"))));
}

// --- loopback rule ---

TEST_F(ConfigTest, NonLoopbackHostWithoutKeyIsRefused) {
  EXPECT_EQ(error_of({"--host", "0.0.0.0"}),
            "refusing to listen on 0.0.0.0 without REQUIRED_API_KEY (set --api-key or "
            "REQUIRED_API_KEY, or bind 127.0.0.1)");
  const auto path = write("config.json", R"({"HOST": "192.168.1.20"})");
  EXPECT_THAT(error_of({"--config", path}), HasSubstr("192.168.1.20"));
}

TEST_F(ConfigTest, NonLoopbackHostWithKeyIsAllowed) {
  const settings s = run({"--host", "0.0.0.0", "--api-key", "sk-gateway-123456"});
  EXPECT_EQ(s.host, "0.0.0.0");
  EXPECT_EQ(s.required_api_key, "sk-gateway-123456");
  const auto path = write("config.json", R"({"HOST": "::", "REQUIRED_API_KEY": "123456"})");
  EXPECT_EQ(run({"--config", path}).host, "::");
}

TEST_F(ConfigTest, LoopbackHostsNeedNoKey) {
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"}) {
    settings s;
    s.host = host;
    EXPECT_NO_THROW(aiclient::config::validate(s)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com",
                           "localhost.example.com", "::ffff:10.0.0.1"}) {
    settings s;
    s.host = host;
    EXPECT_THROW(aiclient::config::validate(s), config_error) << host;
  }
}

TEST_F(ConfigTest, ValidateNamesKeyAndFlag) {
  settings s;
  s.threads = 1000;
  try {
    aiclient::config::validate(s);
    ADD_FAILURE() << "expected a config_error";
  } catch (const config_error& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr("THREADS"), HasSubstr("--threads"), HasSubstr("1000")));
  }
  EXPECT_NO_THROW(aiclient::config::validate(settings{}));
}

// --- help, version, parse errors ---

TEST_F(ConfigTest, HelpPrintsUsageAndExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    const auto outcome = parse({flag});
    EXPECT_FALSE(outcome.run.has_value());
    EXPECT_EQ(outcome.exit_code, 0);
    EXPECT_THAT(outcome.print,
                AllOf(HasSubstr("--config"), HasSubstr("--port"), HasSubstr("--model-provider"),
                      HasSubstr("SERVER_PORT"), HasSubstr("--cron-refresh-token")));
  }
}

TEST_F(ConfigTest, VersionPrintsNameAndVersionAndExitsZero) {
  const auto outcome = parse({"--version"});
  EXPECT_FALSE(outcome.run.has_value());
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.print, std::string("aiclient-server ") + AICLIENT_VERSION + "\n");
}

TEST_F(ConfigTest, UnknownFlagIsAConfigError) {
  EXPECT_THAT(error_of({"--no-such-flag"}), HasSubstr("--no-such-flag"));
}

TEST_F(ConfigTest, BadNumberIsAConfigError) {
  EXPECT_THAT(error_of({"--port", "http"}), AllOf(HasSubstr("--port"), HasSubstr("http")));
  EXPECT_THAT(error_of({"--cron-refresh-token", "maybe"}),
              AllOf(HasSubstr("--cron-refresh-token"), HasSubstr("maybe")));
}

TEST_F(ConfigTest, ParseErrorsDoNotEchoAMistypedKeyFlagsValue) {
  const auto message = error_of({"--apikey", "sk-very-secret-key"});
  EXPECT_THAT(message, AllOf(HasSubstr("--apikey"), Not(HasSubstr("sk-very-secret-key"))));
  const auto token = error_of({"--auth-token=tok-very-secret", "--port", "3000"});
  EXPECT_THAT(token, AllOf(HasSubstr("--auth-token"), Not(HasSubstr("tok-very-secret"))));
  // Other unexpected values are still shown, so the user sees what was wrong.
  EXPECT_THAT(error_of({"--api-key", "sk-very-secret-key", "stray-positional"}),
              AllOf(HasSubstr("stray-positional"), Not(HasSubstr("sk-very-secret-key"))));
}

// --- unknown keys ---

TEST_F(ConfigTest, UnknownKeysAreAcceptedAndListedInOneWarning) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("config-test", sink));

  const auto path = write("config.json", R"({"SERVER_PORT": 3456, "PROJECT_ID": "my-project",
    "GEMINI_OAUTH_CREDS_FILE_PATH": "~/.gemini/oauth_creds.json",
    "OPENAI_API_KEY": "sk-upstream-secret-1", "CRON_SOMETHING": 1})");
  const auto outcome = parse({"--config", path});
  spdlog::set_default_logger(previous);

  ASSERT_TRUE(outcome.run.has_value());
  EXPECT_EQ(outcome.run->port, 3456);
  const auto lines = sink->last_formatted();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(
      lines[0],
      AllOf(HasSubstr("warn"), HasSubstr("PROJECT_ID"), HasSubstr("GEMINI_OAUTH_CREDS_FILE_PATH"),
            HasSubstr("OPENAI_API_KEY"), HasSubstr("CRON_SOMETHING"),
            Not(HasSubstr("sk-upstream-secret-1")), Not(HasSubstr("SERVER_PORT"))));
}

TEST_F(ConfigTest, NoWarningWhenAllKeysAreKnown) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("config-test", sink));
  const auto path = write("config.json", R"({"SERVER_PORT": 3456})");
  const auto outcome = parse({"--config", path});
  spdlog::set_default_logger(previous);
  EXPECT_TRUE(outcome.run.has_value());
  EXPECT_TRUE(sink->last_formatted().empty());
}

// --- the shipped example ---

TEST_F(ConfigTest, ShippedExampleConfigIsValid) {
  // config/config.json.example names provider_pools.json relative to the working directory.
  write("provider_pools.json", "{}");
  const std::string example = std::string(AICLIENT_SOURCE_DIR) + "/config/config.json.example";
  const settings s = run({"--config", example});
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 3000);
  EXPECT_EQ(s.model_provider, "openai-custom");
  EXPECT_EQ(s.provider_pools_file, "provider_pools.json");
  EXPECT_FALSE(s.required_api_key.empty());
}

// --- pools: health checks, persistence, admin, fallback chain ---

TEST_F(ConfigTest, PoolKeysFromFileAndCommandLine) {
  const auto path = write("c.json", R"({
    "ADMIN_API_KEY": "admin-key-0123456789", "HEALTH_CHECK_ENABLED": false,
    "HEALTH_CHECK_INTERVAL_MS": 30000, "HEALTH_CHECK_CONCURRENCY": 2,
    "POOL_SAVE_DEBOUNCE_MS": 200, "POOL_SAVE_MAX_WAIT_MS": 800,
    "providerFallbackChain": {"openai-custom": ["claude-custom", "mock"]}
  })");
  const settings s = run({"--config", path, "--health-check-timeout-ms", "2500"});
  EXPECT_EQ(s.admin_api_key, "admin-key-0123456789");
  EXPECT_FALSE(s.health_check_enabled);
  EXPECT_EQ(s.health_check_interval_ms, 30000);
  EXPECT_EQ(s.health_check_concurrency, 2);
  EXPECT_EQ(s.health_check_timeout_ms, 2500);
  EXPECT_EQ(s.pool_save_debounce_ms, 200);
  EXPECT_EQ(s.pool_save_max_wait_ms, 800);
  ASSERT_EQ(s.provider_fallback_chain.count("openai-custom"), 1u);
  EXPECT_EQ(s.provider_fallback_chain.at("openai-custom"),
            (std::vector<std::string>{"claude-custom", "mock"}));
}

TEST_F(ConfigTest, FallbackChainIsValidated) {
  EXPECT_THAT(file_error(R"({"providerFallbackChain": ["x"]})"),
              HasSubstr("providerFallbackChain"));
  EXPECT_THAT(file_error(R"({"providerFallbackChain": {"openai-custom": "claude-custom"}})"),
              HasSubstr("expected an object of arrays"));
  EXPECT_THAT(file_error(R"({"providerFallbackChain": {"openai-custom": ["nope"]}})"),
              HasSubstr("unknown provider type \"nope\""));
  EXPECT_THAT(file_error(R"({"providerFallbackChain": {"nope": ["mock"]}})"),
              HasSubstr("unknown provider type \"nope\""));
  EXPECT_THAT(file_error(R"({"providerFallbackChain": {"mock": ["mock"]}})"),
              HasSubstr("names itself"));
}

TEST_F(ConfigTest, OAuthEndpointsFromFile) {
  const auto path = write("c.json", R"({"GEMINI_OAUTH_CLIENT_SECRET": "public-secret-value",
    "QWEN_TOKEN_URL": "http://127.0.0.1:9/token", "KIRO_BASE_URL": "https://q.{region}.example"})");
  const settings s = run({"--config", path});
  EXPECT_EQ(s.gemini_oauth_client_secret, "public-secret-value");
  EXPECT_EQ(s.qwen_token_url, "http://127.0.0.1:9/token");
  EXPECT_EQ(s.kiro_base_url, "https://q.{region}.example");
  EXPECT_EQ(run({}).gemini_token_url, "") << "empty: the real service";
}

TEST_F(ConfigTest, PoolSaveTimingsMustBeConsistent) {
  EXPECT_THAT(error_of({"--pool-save-debounce-ms", "5000", "--pool-save-max-wait-ms", "1000"}),
              HasSubstr("POOL_SAVE_MAX_WAIT_MS"));
  EXPECT_THAT(error_of({"--health-check-interval-ms", "5"}),
              HasSubstr("--health-check-interval-ms: 5 is out of range"));
}

}  // namespace
