#include "apps/twig/outputs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "apps/twig/args.h"
#include "twig/tensor/error.h"

namespace fs = std::filesystem;

namespace twig::cli {

namespace {

// ---- what the signal handler sees ----------------------------------------------------------------
//
// The staging folders live in fixed buffers so the handler reads them without allocating. The
// state decides who cleans up: the handler wins the race from kActive to kInterrupted and wipes
// the staging folders itself; while the main thread commits or cleans up, the handler only notes
// the signal, and the main thread raises it again when it is done.

enum State : int { kIdle, kActive, kInterrupted, kBusy };
std::atomic<int> g_state{kIdle};
std::atomic<int> g_pending_signal{0};

constexpr int kMaxStaging = 16;
constexpr size_t kPathMax = 4096;
char g_staging[kMaxStaging][kPathMax];
std::atomic<int> g_staging_count{0};

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Removes the files in `dir` and then `dir` (async-signal-safe: open, getdents64, unlinkat, rmdir).
void wipe_folder(const char* dir) {
  int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buf[8192];
    for (;;) {
      long n = ::syscall(SYS_getdents64, fd, buf, sizeof(buf));
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
        unsigned short reclen;
        std::memcpy(&reclen, buf + off + 16, sizeof(reclen));
        const char* name = buf + off + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(fd, name, 0);
        off += reclen;
      }
    }
    ::close(fd);
  }
  ::rmdir(dir);
}

extern "C" void on_signal(int sig) {
  int expected = kActive;
  if (g_state.compare_exchange_strong(expected, kInterrupted)) {
    const int n = g_staging_count.load();
    for (int i = 0; i < n; ++i) wipe_folder(g_staging[i]);
  } else if (expected == kBusy) {
    g_pending_signal.store(sig);  // commit or cleanup in progress: re-raised when it ends
    return;
  }
  // Die of the signal, so the exit status says so (130 for Ctrl-C in a shell).
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_handlers() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : kSignals) sigaddset(&sa.sa_mask, s);  // one handler at a time
  sa.sa_flags = SA_RESTART;
  for (int s : kSignals) {
    struct sigaction old {};
    // A signal the caller ignores (nohup, `trap '' INT`) stays ignored.
    if (::sigaction(s, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(s, &sa, nullptr);
  }
}

// kActive -> kBusy for commit and cleanup. false when a signal handler got there first (it is
// wiping the staging folders and the process is about to die).
bool begin_busy() {
  int expected = kActive;
  return g_state.compare_exchange_strong(expected, kBusy);
}

// Back to idle; a signal that came meanwhile is raised now.
void end_busy() {
  g_staging_count.store(0);
  g_state.store(kIdle);
  if (int sig = g_pending_signal.exchange(0)) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

std::string os_error(int err) { return std::strerror(err); }

std::string parent_of(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// A path that names a file, as the user meant it: a symlink is followed, so the file it points
// to is replaced and the link stays.
std::string resolve_target(const std::string& target) {
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    fs::path resolved = fs::weakly_canonical(target, ec);
    if (!ec) return resolved.string();
  }
  return target;
}

std::string same_file_key(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? path : p.string();
}

bool exists_no_follow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

Outputs::Outputs() {
  install_handlers();
  int expected = kIdle;
  TWIG_CHECK(g_state.compare_exchange_strong(expected, kActive), RuntimeError, "internal: two Outputs at once");
  g_staging_count.store(0);
}

Outputs::~Outputs() {
  if (committed_) return;
  if (!begin_busy()) return;  // the signal handler is cleaning up
  remove_staging();
  end_busy();
}

void Outputs::remove_staging() {
  for (auto it = staging_.rbegin(); it != staging_.rend(); ++it) {
    std::error_code ec;
    fs::remove_all(it->second, ec);  // our own folder: only what this run wrote
  }
  staging_.clear();
}

std::string Outputs::staging_for(const std::string& dir, const std::string& target, const std::string& option) {
  static int counter = 0;
  TWIG_CHECK(static_cast<int>(staging_.size()) < kMaxStaging, RuntimeError, "internal: too many outputs");
  std::string staging =
      (fs::path(dir) / (".twig-tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++))).string();
  TWIG_CHECK(staging.size() < kPathMax, ValueError, "the path '", target, "' (", option, ") is too long");
  // Registered before it exists, so an interrupt between mkdir and the bookkeeping still removes it.
  const int slot = g_staging_count.load();
  std::memcpy(g_staging[slot], staging.c_str(), staging.size() + 1);
  g_staging_count.store(slot + 1);
  staging_.emplace_back(dir, staging);
  if (::mkdir(staging.c_str(), 0755) != 0) {
    const int err = errno;
    staging_.pop_back();
    g_staging_count.store(slot);
    TWIG_THROW(RuntimeError, "cannot write ", option, " '", target, "': cannot create a file in the folder '", dir,
               "': ", os_error(err));
  }
  // The probe: a file really created and removed (a folder can take a new entry on a disk that
  // has no room for data, and permission bits do not stop root; only trying tells).
  std::string probe = staging + "/.probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  const int err = errno;
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
  } else {
    TWIG_THROW(RuntimeError, "cannot write ", option, " '", target, "': cannot create a file in the folder '", dir,
               "': ", os_error(err));
  }
  return staging;
}

std::string Outputs::file(const std::string& target_arg, const std::string& option) {
  TWIG_CHECK(!target_arg.empty(), ValueError, option, " is empty; name a file");
  const std::string target = resolve_target(target_arg);
  std::error_code ec;
  TWIG_CHECK(!fs::is_directory(target, ec), RuntimeError, option, " '", target_arg,
             "' is a folder; name a file to write");
  TWIG_CHECK(fs::path(target).filename() != "." && fs::path(target).filename() != "..", RuntimeError, option, " '",
             target_arg, "' is a folder; name a file to write");
  const std::string dir = parent_of(target);
  TWIG_CHECK(fs::is_directory(dir, ec), RuntimeError, "cannot write ", option, " '", target_arg, "': the folder '", dir,
             "' ", fs::exists(dir, ec) ? "is not a folder" : "does not exist");
  const std::string key = same_file_key(target);
  for (const Entry& e : entries_)
    if (!e.is_folder && same_file_key(e.target) == key)
      throw UsageError(option + " '" + target_arg + "' names the same file as another output");
  std::string staging = staging_for(dir, target_arg, option);
  entries_.push_back({staging + "/" + fs::path(target).filename().string(), target, false, false});
  return entries_.back().temp;
}

std::string Outputs::folder(const std::string& target, const std::string& option) {
  TWIG_CHECK(!target.empty(), ValueError, option, " is empty; name a folder");
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    // Staged inside the folder itself: the renames at commit stay on one file system.
    std::string staging = staging_for(target, target, option);
    entries_.push_back({staging, target, true, true});
    return staging;
  }
  TWIG_CHECK(!exists_no_follow(target), RuntimeError, option, " '", target, "' exists and is not a folder");
  std::string trimmed = fs::path(target).lexically_normal().string();
  if (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const std::string dir = parent_of(trimmed);
  TWIG_CHECK(fs::is_directory(dir, ec), RuntimeError, "cannot create ", option, " '", target, "': the folder '", dir,
             "' ", fs::exists(dir, ec) ? "is not a folder" : "does not exist");
  std::string staging = staging_for(dir, target, option);
  entries_.push_back({staging, trimmed, true, false});
  return staging;
}

void Outputs::commit() {
  TWIG_CHECK(!committed_, RuntimeError, "internal: Outputs committed twice");
  if (!begin_busy()) {
    for (;;) ::pause();  // interrupted: the handler is removing the temporaries and will end us
  }
  // Each step done so far, to undo if a later one fails: (temp, target, backup or "").
  struct Done {
    std::string temp, target, backup;
    bool folder;
  };
  std::vector<Done> done;
  auto undo = [&] {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      if (it->folder) {
        ::rename(it->target.c_str(), it->temp.c_str());
      } else if (!it->backup.empty()) {
        ::rename(it->backup.c_str(), it->target.c_str());
      } else {
        ::unlink(it->target.c_str());
      }
    }
  };
  // Replaces target with temp; a file that was there stays reachable through a hard link in the
  // staging folder until the whole commit has succeeded.
  auto move_file = [&](const std::string& temp, const std::string& target, const std::string& backup) -> int {
    std::string kept;
    if (exists_no_follow(target)) {
      ::unlink(backup.c_str());
      if (::link(target.c_str(), backup.c_str()) == 0) kept = backup;
    }
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      if (!kept.empty()) ::unlink(kept.c_str());
      return err;
    }
    done.push_back({temp, target, kept, false});
    return 0;
  };
  auto fail = [&](const std::string& target, int err) {
    undo();
    remove_staging();
    end_busy();
    committed_ = true;  // nothing left for the destructor
    TWIG_THROW(RuntimeError, "cannot put '", target, "' in place: ", os_error(err),
               " (every earlier file is unchanged)");
  };

  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const std::string staging = e.is_folder ? e.temp : parent_of(e.temp);
    if (!e.is_folder) {
      if (int err = move_file(e.temp, e.target, staging + "/.backup")) fail(e.target, err);
    } else if (!e.existing_folder) {
      // The folder did not exist when the command started; if something made it since, leave it be.
      int rc = ::renameat2(AT_FDCWD, e.temp.c_str(), AT_FDCWD, e.target.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {  // a file system without RENAME_NOREPLACE
        errno = EEXIST;
        rc = exists_no_follow(e.target) ? -1 : ::rename(e.temp.c_str(), e.target.c_str());
      }
      if (rc != 0) fail(e.target, errno);
      done.push_back({e.temp, e.target, "", true});
    } else {
      std::error_code ec;
      std::vector<std::string> names;
      for (const auto& f : fs::directory_iterator(e.temp, ec)) names.push_back(f.path().filename().string());
      if (ec) fail(e.target, ec.value());
      fs::create_directory(e.temp + "/.backup", ec);
      for (const std::string& name : names) {
        if (name == ".backup") continue;
        if (int err = move_file(e.temp + "/" + name, e.target + "/" + name, e.temp + "/.backup/" + name))
          fail(e.target + "/" + name, err);
      }
    }
  }
  committed_ = true;
  remove_staging();  // only the hard links to the replaced files are left there
  end_busy();
}

}  // namespace twig::cli
