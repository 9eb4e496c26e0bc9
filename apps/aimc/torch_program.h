#pragma once

#include <CLI/CLI.hpp>

namespace aimc::cli {

// With LibTorch, aimc is two programs: `aimc` holds the commands that need no LibTorch (device,
// map, xbar) and starts in milliseconds; `aimc-torch`, built beside it, holds every command and
// loads LibTorch. `aimc` replaces itself (execv) by `aimc-torch` for any command line it does not
// run itself, so the other commands' output, errors and exit codes are aimc-torch's own.

/// True when `app` (the commands registered in this program) runs the command line itself:
/// --version, or a command of `app` (possibly after `help`), after global flags (-q). The top-level
/// help, `help` alone, an unknown command or flag go to the program that knows every command.
bool RunsHere(CLI::App& app, int argc, char** argv);

/// Replaces this process by the program `name` found in this executable's own folder, with the
/// same arguments. Returns only when that fails: prints why (naming the file expected) and returns
/// the exit code 2.
int RunBesideProgram(const CLI::App& app, const char* name, char** argv);

}  // namespace aimc::cli
