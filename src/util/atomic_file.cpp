#include "aiclient/util/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

#include <spdlog/spdlog.h>

#include "aiclient/util/strings.hpp"

namespace aiclient::util {
namespace {

constexpr int max_link_hops = 40;
// A temporary file older than this is stale whoever made it: a write takes milliseconds.
constexpr std::chrono::hours stale_temp_age{1};

struct split_path {
  std::string dir;   // never empty ("." when the path has no '/')
  std::string base;  // empty when the path ends with '/'
};

split_path split(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Follows symbolic links (relative ones against the link's folder) to the path that must be
// replaced, so that a link stays a link. A dangling link resolves to the missing target (the
// write creates it). Stops at the first path that cannot be lstat'ed: the later steps report
// the real error for it.
bool resolve_links(const std::string& path, std::string& resolved, std::string& error) {
  resolved = path;
  for (int hop = 0; hop < max_link_hops; ++hop) {
    struct stat st {};
    if (::lstat(resolved.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return true;
    std::vector<char> buffer(std::max<std::size_t>(std::size_t(st.st_size), 255) + 1);
    for (;;) {
      const ssize_t n = ::readlink(resolved.c_str(), buffer.data(), buffer.size());
      if (n < 0) {
        error = "cannot write '" + path + "': readlink '" + resolved + "': " + errno_text(errno);
        return false;
      }
      if (std::size_t(n) < buffer.size()) {
        std::string target(buffer.data(), std::size_t(n));
        if (target.empty() || target[0] != '/') {
          const std::string dir = split(resolved).dir;
          target = (dir == "/" ? "" : dir) + "/" + target;
        }
        resolved = std::move(target);
        break;
      }
      buffer.resize(buffer.size() * 2);
    }
  }
  error = "cannot write '" + path + "': resolve symbolic link: " + errno_text(ELOOP);
  return false;
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device device;
    return (std::uint64_t(device()) << 32) ^ device() ^ std::uint64_t(::getpid());
  }()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(12, '0');
  std::uint64_t value = rng();
  for (auto& c : out) {
    c = digits[value & 15];
    value >>= 4;
  }
  return out;
}

std::string temp_prefix(const std::string& base) {
  return "." + base + ".tmp-";
}

}  // namespace

std::string atomic_write_file(const std::string& path, std::string_view content) {
  std::string target;
  std::string error;
  if (!resolve_links(path, target, error)) return error;
  const auto [dir, base] = split(target);
  const auto fail = [&](const std::string& step, int e) {
    return "cannot write '" + path + "': " + step + ": " + errno_text(e);
  };
  if (base.empty() || base == "." || base == "..") return fail("not a file name", EISDIR);

  // The mode (and owner) to give the new version: the existing file's, else 0600.
  mode_t mode = 0600;
  bool existing = false;
  struct stat old {};
  if (::stat(target.c_str(), &old) == 0) {
    if (S_ISREG(old.st_mode)) {
      existing = true;
      mode = old.st_mode & 07777;
    }
  } else if (errno != ENOENT) {
    return fail("stat", errno);
  }

  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = dir + "/" + temp_prefix(base) + std::to_string(::getpid()) + "-" + random_suffix();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST && errno != EINTR) break;
  }
  if (fd < 0) return fail("create temporary file '" + temp + "'", errno);

  // From here on, every failure removes the temporary file.
  const auto abandon = [&](const std::string& step, int e) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    return fail(step, e);
  };

  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, std::min<std::size_t>(left, std::size_t(1) << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return abandon("write temporary file '" + temp + "'", errno);
    }
    if (n == 0) return abandon("write temporary file '" + temp + "'", EIO);
    data += n;
    left -= std::size_t(n);
  }
  // Owner first: fchown may clear set-id bits, which fchmod then restores. Both come before
  // fsync so that the metadata is durable together with the data.
  if (existing && (old.st_uid != ::geteuid() || old.st_gid != ::getegid()) &&
      ::fchown(fd, old.st_uid, old.st_gid) != 0 && errno != EPERM) {
    return abandon("fchown temporary file", errno);
  }
  if (::fchmod(fd, mode) != 0) return abandon("fchmod temporary file", errno);
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return abandon("fsync temporary file", errno);
  }
  const int closed = ::close(fd);
  fd = -1;
  // On Linux the descriptor is released even on EINTR, and the data is already synced.
  if (closed != 0 && errno != EINTR) return abandon("close temporary file", errno);

  if (::rename(temp.c_str(), target.c_str()) != 0) {
    return abandon("rename '" + temp + "' over '" + target + "'", errno);
  }

  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return fail("open folder '" + dir + "' to fsync it", errno);
  int synced = 0;
  while ((synced = ::fsync(dir_fd)) != 0 && errno == EINTR) {
  }
  const int sync_errno = errno;
  ::close(dir_fd);
  // Some file systems cannot fsync a folder (EINVAL): nothing more can be done there.
  if (synced != 0 && sync_errno != EINVAL) return fail("fsync folder '" + dir + "'", sync_errno);
  return {};
}

std::optional<file_identity> identify_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  file_identity id;
  id.device = std::uint64_t(st.st_dev);
  id.inode = std::uint64_t(st.st_ino);
  id.size = std::uint64_t(st.st_size);
  id.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return id;
}

std::size_t remove_stale_temp_files(const std::string& path) {
  std::string target;
  std::string error;
  if (!resolve_links(path, target, error)) return 0;
  const auto [dir, base] = split(target);
  if (base.empty()) return 0;
  const std::string prefix = temp_prefix(base);
  DIR* folder = ::opendir(dir.c_str());
  if (folder == nullptr) return 0;
  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(folder)) {
    const std::string_view name = entry->d_name;
    if (name.substr(0, prefix.size()) != prefix) continue;
    // ".<file>.tmp-<pid>-<random>"
    const std::string_view rest = name.substr(prefix.size());
    const auto dash = rest.find('-');
    if (dash == 0 || dash == std::string_view::npos || dash > 9) continue;
    if (!std::all_of(rest.begin(), rest.begin() + dash,
                     [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const pid_t pid = pid_t(std::stol(std::string(rest.substr(0, dash))));
    const std::string full = dir + "/" + std::string(name);
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const bool dead = pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
    const auto modified = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    if (dead || now - modified > stale_temp_age) stale.push_back(full);
  }
  ::closedir(folder);
  std::size_t removed = 0;
  for (const auto& file : stale)
    if (::unlink(file.c_str()) == 0) ++removed;
  return removed;
}

// ---------------------------------------------------------------------------------------------

struct debounced_saver::impl {
  using clock = std::chrono::steady_clock;

  impl(std::string path, std::function<std::string()> produce,
       std::function<void()> on_external_change, options opts)
      : path_(std::move(path)),
        produce_(std::move(produce)),
        on_external_change_(std::move(on_external_change)),
        opts_(opts) {}

  const std::string path_;
  const std::function<std::string()> produce_;
  const std::function<void()> on_external_change_;
  const options opts_;

  // State shared with schedule(); never held during file I/O or callbacks.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;
  bool failed_ = false;  // the last write failed: wait for schedule() or max_wait
  bool stopping_ = false;
  clock::time_point first_dirty_{};
  clock::time_point last_schedule_{};
  std::uint64_t writes_ = 0;
  std::string last_error_;

  // Serialises writes (saver thread, flush(), adopt()); guards the members below.
  std::mutex write_mu_;
  std::optional<file_identity> ours_;
  std::string logged_error_;

  std::thread thread_;

  void schedule() {
    const auto now = clock::now();
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (!dirty_) {
        dirty_ = true;
        first_dirty_ = now;
        wake = true;
      }
      if (failed_) {
        failed_ = false;
        wake = true;
      }
      last_schedule_ = now;
    }
    // While dirty, the saver sleeps until a deadline and recomputes it when it wakes up, so
    // only a change that moves the deadline earlier needs a wake-up.
    if (wake) cv_.notify_one();
  }

  // Writes when dirty; the caller holds write_mu_ (and not mu_).
  std::string write_if_dirty() {
    {
      std::lock_guard lock(mu_);
      if (!dirty_) return {};
      dirty_ = false;  // a schedule() during the write makes it dirty again
    }
    std::string error;
    try {
      const auto now = identify_file(path_);
      if (now && now != ours_ && on_external_change_) {
        spdlog::info("{} was changed by another writer; reloading it before saving", path_);
        on_external_change_();
      }
      const std::string content = produce_();
      error = atomic_write_file(path_, content);
    } catch (const std::exception& e) {
      error = "cannot write '" + path_ + "': " + e.what();
    } catch (...) {
      error = "cannot write '" + path_ + "': unknown exception";
    }
    if (error.empty()) {
      ours_ = identify_file(path_);
      if (!logged_error_.empty()) spdlog::info("{} saved again", path_);
      logged_error_.clear();
    } else if (error != logged_error_) {
      spdlog::error("{}", error);
      logged_error_ = error;
    }
    std::lock_guard lock(mu_);
    if (error.empty()) {
      ++writes_;
    } else {
      if (!dirty_) first_dirty_ = clock::now();
      dirty_ = true;
      failed_ = true;
    }
    last_error_ = error;
    return error;
  }

  void run() {
    const std::size_t removed = remove_stale_temp_files(path_);
    if (removed > 0)
      spdlog::info("removed {} temporary file(s) left by interrupted writes of {}", removed, path_);
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (!dirty_) {
        cv_.wait(lock);
        continue;
      }
      auto deadline = first_dirty_ + opts_.max_wait;
      if (!failed_) deadline = std::min(deadline, last_schedule_ + opts_.debounce);
      if (clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
        continue;
      }
      lock.unlock();
      {
        std::lock_guard write_lock(write_mu_);
        write_if_dirty();
      }
      lock.lock();
    }
  }
};

debounced_saver::debounced_saver(std::string path, std::function<std::string()> produce,
                                 std::function<void()> on_external_change, options opts)
    : impl_(std::make_unique<impl>(std::move(path), std::move(produce),
                                   std::move(on_external_change), opts)) {
  impl_->thread_ = std::thread([this] { impl_->run(); });
}

debounced_saver::~debounced_saver() {
  {
    std::lock_guard lock(impl_->mu_);
    impl_->stopping_ = true;
  }
  impl_->cv_.notify_one();
  impl_->thread_.join();
  flush();
}

void debounced_saver::schedule() {
  impl_->schedule();
}

std::string debounced_saver::flush() {
  std::lock_guard write_lock(impl_->write_mu_);
  return impl_->write_if_dirty();
}

void debounced_saver::adopt() {
  std::lock_guard write_lock(impl_->write_mu_);
  impl_->ours_ = identify_file(impl_->path_);
}

std::uint64_t debounced_saver::writes() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->writes_;
}

std::string debounced_saver::last_error() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->last_error_;
}

}  // namespace aiclient::util
