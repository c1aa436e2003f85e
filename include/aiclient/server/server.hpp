#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_file.hpp"

namespace aiclient::server {

/// The gateway: one io_context, acceptor (SO_REUSEPORT) and upstream client per worker thread.
class server {
 public:
  /// Takes the validated settings and pools. Nothing is bound until start().
  server(config::settings s, pool::pools p);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds HOST:SERVER_PORT on every worker and starts the worker threads.
  /// Throws std::runtime_error naming the address when it cannot bind.
  void start();
  /// The bound port (useful with port 0).
  std::uint16_t port() const noexcept;
  /// Graceful stop: stop accepting, close idle keep-alive connections, let in-flight requests
  /// finish up to SHUTDOWN_GRACE_MS, then stop the workers. Thread-safe; returns at once.
  void request_stop();
  /// Blocks until the workers have stopped.
  void wait();
  /// Reloads config.json (through the loader, when set) and provider_pools.json, carrying
  /// runtime state over by uuid. Returns "" on success; on any error nothing changes and the
  /// reason is returned (and logged). Blocking (file I/O): call it off the I/O threads.
  std::string reload();
  /// How reload() re-reads the configuration (main: the command line and config.json again).
  void set_config_loader(std::function<config::settings()> loader);
  /// Connections open right now (all workers).
  int open_connections() const noexcept;
  /// Requests being handled right now (all workers).
  int active_requests() const noexcept;

  /// Implementation (opaque; public so the session code in server.cpp can name it).
  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace aiclient::server
