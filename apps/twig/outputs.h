// The outputs of one `twig` command, made all together or not at all.
//
// Every output is written to a temporary beside its target (a staging folder `.twig-tmp.PID.N`
// in the target's folder) and renamed into place only by commit(), after the whole command has
// succeeded. A command that fails (an exception: the destructor runs) or is interrupted (SIGINT,
// SIGTERM, SIGHUP: a handler removes the staging folders with async-signal-safe calls, then
// re-raises the signal with its default action) leaves every pre-existing path as it was and
// creates nothing.
//
// The checks that can be made before any work are made when an output is registered: the target
// is not a folder, its folder exists, and a staging folder and a probe file can really be created
// there (root ignores permission bits, so only trying tells).
#pragma once

#include <string>
#include <vector>

namespace twig::cli {

class Outputs {
 public:
  // Installs the signal handlers (once per process). One Outputs object at a time.
  Outputs();
  ~Outputs();
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  // Registers the output file `target` (`option` names it in errors, e.g. "--out") and returns the
  // path to write it to. RuntimeError when the target is a folder, or its folder does not exist
  // or cannot be written; UsageError when two outputs name the same file.
  std::string file(const std::string& target, const std::string& option);

  // Registers the output folder `target` and returns the folder to write its files into. A target
  // that does not exist yet is built as a temporary folder and renamed into place at commit. In a
  // target folder that exists already, commit replaces only the files written here (each one by
  // an atomic rename); nothing else in it is touched.
  std::string folder(const std::string& target, const std::string& option);

  // Renames every output into place. If one rename fails, the ones already made are undone (a
  // replaced file comes back from a hard link taken before) and RuntimeError is thrown.
  void commit();

 private:
  struct Entry {
    std::string temp, target;
    bool is_folder = false;
    bool existing_folder = false;  // folder(): the target exists; temp holds the files to move
  };
  // The staging folder in `dir` (made on first use; the writability probe).
  std::string staging_for(const std::string& dir, const std::string& target, const std::string& option);
  void remove_staging();

  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::string>> staging_;  // (folder it is in, staging folder)
  bool committed_ = false;
};

}  // namespace twig::cli
