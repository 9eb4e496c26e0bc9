#include "torch_program.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace aimc::cli {

namespace {

bool IsOwnCommand(CLI::App& app, std::string_view name) {
  if (name == "help") return false;
  const std::string n(name);
  return !app.get_subcommands([&n](CLI::App* sub) { return sub->check_name(n); }).empty();
}

}  // namespace

bool RunsHere(CLI::App& app, int argc, char** argv) {
  for (int k = 1; k < argc; ++k) {
    const std::string_view arg = argv[k];
    if (arg == "-q" || arg == "--quiet") continue;
    if (arg == "--version") return true;
    // --help lists every command; any other flag is left to the program that knows them all.
    if (arg.starts_with('-')) return false;
    if (arg == "help") return k + 1 < argc && IsOwnCommand(app, argv[k + 1]);
    return IsOwnCommand(app, arg);
  }
  return false;  // no command: the help, which lists every command
}

int RunBesideProgram(const CLI::App& app, const char* name, char** argv) {
  // The executable's own folder, not the caller's working directory or PATH: the two programs are
  // built (and copied) side by side.
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  std::filesystem::path program = name;
  if (!error) {
    program = self.parent_path() / name;
    ::execv(program.c_str(), argv);
    error = std::error_code(errno, std::generic_category());
  }
  std::string own;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == "help") continue;
    own += (own.empty() ? "" : ", ") + sub->get_name();
  }
  if (self.empty()) {
    std::fprintf(stderr,
                 "aimc: error: cannot find the folder of this program to start %s "
                 "(/proc/self/exe: %s)\n",
                 name, error.message().c_str());
    return 2;
  }
  std::fprintf(stderr,
               "aimc: error: cannot start %s: %s. This aimc runs %s itself; the commands that "
               "need LibTorch, and the help that lists every command, are run by %s, which is "
               "built beside it (cmake --build): build it, or copy it into %s\n",
               program.c_str(), error.message().c_str(), own.c_str(), name,
               self.parent_path().c_str());
  return 2;
}

}  // namespace aimc::cli
