#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace aimc {

/// A user error: bad input, a non-physical parameter, an unsolvable circuit. The message says
/// what is wrong and where (file, field, value), so a user can act on it.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws aimc::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void Fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// Checks a condition that a user's input must satisfy.
template <typename... Args>
void Require(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// Prefixes the message of an aimc::Error with a context ("in configs/devices/x.toml").
[[noreturn]] void Rethrow(const Error& error, const std::string& context);

/// For readers of a file: rethrows `error` as it is when its message already names `file`,
/// else with "in <file>" appended, so that every error names the file exactly once.
[[noreturn]] void RethrowNamingFile(const Error& error, const std::string& file);

}  // namespace aimc
