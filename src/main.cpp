// aiclient-server: command line entry point.
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_file.hpp"
#include "aiclient/provider/provider.hpp"
#include "aiclient/server/server.hpp"

namespace {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stdout_color_mt("aiclient");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aiclient;
  std::signal(SIGPIPE, SIG_IGN);
  config::settings settings;
  pool::pools pools;
  try {
    auto outcome = config::parse_command_line(argc, argv);
    if (!outcome.run) {
      std::cout << outcome.print;
      return outcome.exit_code;
    }
    settings = std::move(*outcome.run);
    setup_logging(settings.log_level);
    if (!settings.provider_pools_file.empty()) {
      pools = pool::load_pools_file(settings.provider_pools_file);
      provider::validate_instances(pools);
    }
  } catch (const config::config_error& e) {
    std::fprintf(stderr, "aiclient-server: configuration error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aiclient-server: %s\n", e.what());
    return 2;
  }
  if (!settings.config_file.empty()) spdlog::info("config file: {}", settings.config_file);
  if (!settings.provider_pools_file.empty()) {
    std::size_t total = 0;
    for (const auto& [type, list] : pools.by_type) total += list.size();
    spdlog::info("provider pools: {} ({} instance(s))", settings.provider_pools_file, total);
  }
  if (settings.model_provider != "mock" && pools.count(settings.model_provider) == 0)
    spdlog::warn(
        "MODEL_PROVIDER {} has no instance in the provider pools: its requests will get 503",
        settings.model_provider);

  try {
    server::server srv(settings, std::move(pools));
    // SIGHUP reloads config.json (the same command line and files again) and
    // provider_pools.json; SIGINT/SIGTERM drain and stop.
    srv.set_config_loader([argc, argv] {
      auto outcome = config::parse_command_line(argc, argv);
      if (!outcome.run) throw config::config_error("the command line no longer starts the server");
      return std::move(*outcome.run);
    });
    boost::asio::io_context signals_ctx;
    boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
          if (ec) return;
          if (sig == SIGHUP) {
            spdlog::info("received SIGHUP, reloading");
            srv.reload();  // logs its own outcome; a bad file keeps the old state
            signals.async_wait(on_signal);
            return;
          }
          spdlog::info("received {}, draining (up to {} ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                       settings.shutdown_grace_ms);
          srv.request_stop();
        };
    signals.async_wait(on_signal);
    // Signals are caught from here on; only now bind and announce the address.
    srv.start();
    spdlog::info(
        "aiclient-server {} listening on http://{}:{} (provider {}, {} thread(s)){}",
        AICLIENT_VERSION, settings.host, srv.port(), settings.model_provider,
        settings.threads > 0 ? settings.threads : std::max(1u, std::thread::hardware_concurrency()),
        settings.required_api_key.empty() ? ", no API key required (loopback only)" : "");

    std::thread signal_thread([&] { signals_ctx.run(); });
    srv.wait();
    signals_ctx.stop();
    signal_thread.join();
    spdlog::info("stopped");
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
