#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace aiclient::util {

/// Writes `content` to `path` so that readers see either the old or the new file, never a
/// mix or a truncated one, even after a crash or power loss: a temporary file in the same
/// folder, write, fsync, rename over `path`, fsync the folder. The existing file's permission
/// bits (and owner, when allowed) are kept; a new file gets 0600. Returns an empty string on
/// success, else a one-line error naming the path (the temporary file is removed).
std::string atomic_write_file(const std::string& path, std::string_view content);

/// Removes the temporary files (".<file>.tmp-<pid>-<random>", next to `path`, or next to the
/// file a symlinked `path` points to) that atomic_write_file left behind when its process was
/// killed mid-write: those whose process no longer exists, and any older than an hour. Never
/// touches `path` itself. Returns how many were removed. debounced_saver calls it at start.
std::size_t remove_stale_temp_files(const std::string& path);

/// What identifies one version of a file on disk (to notice edits made by someone else).
struct file_identity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const file_identity&) const = default;
};

/// The identity of `path` now, or std::nullopt when it cannot be stat'ed.
std::optional<file_identity> identify_file(const std::string& path);

/// Saves a file in the background, debounced: schedule() marks it dirty (cheap, any thread);
/// the saver thread writes `debounce` after the last schedule(), but never later than
/// `max_wait` after the first unsaved schedule(), so continuous changes cannot postpone a save
/// forever. Writes use atomic_write_file. File I/O never runs on the caller's thread, except
/// in flush().
class debounced_saver {
 public:
  /// Timing of the saves.
  struct options {
    std::chrono::milliseconds debounce{1000};
    std::chrono::milliseconds max_wait{5000};
  };
  /// `produce` returns the text to write (called on the saver thread, or in flush()).
  /// `on_external_change` is called first when the file's identity differs from the one our
  /// last write (or `adopt()`) left, i.e. someone else edited it; it may reload the file into
  /// the state `produce` serialises (or may be null). Errors are logged (spdlog) and retried
  /// at the next schedule() or after `max_wait`.
  debounced_saver(std::string path, std::function<std::string()> produce,
                  std::function<void()> on_external_change, options opts);
  /// Flushes pending changes, then stops the thread.
  ~debounced_saver();
  debounced_saver(const debounced_saver&) = delete;
  debounced_saver& operator=(const debounced_saver&) = delete;

  /// Marks the file dirty.
  void schedule();
  /// Writes now when dirty (blocking; for shutdown, reload and tests). Returns the error of
  /// the write ("" on success or when nothing was pending).
  std::string flush();
  /// Records the file's current identity as ours (after loading it, so that the first save
  /// does not take our own start-up state for an external edit).
  void adopt();
  /// Number of successful writes so far.
  std::uint64_t writes() const;
  /// The last write error ("" when the last write succeeded).
  std::string last_error() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aiclient::util
