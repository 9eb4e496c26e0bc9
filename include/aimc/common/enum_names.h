#pragma once

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/error.h"

namespace aimc {

/// The names an enum is written with in files, flags and messages, declared once per enum
/// (the enum's own header declares a function returning its table):
///
///   const EnumNames<DriveSide>& DriveSideNames() {
///     static const EnumNames<DriveSide> names("drive", {{DriveSide::kLeft, "left"},
///                                                       {DriveSide::kBoth, "both"}});
///     return names;
///   }
///
/// Parse refuses any other name with "drive must be left or both, got 'right'".
template <typename E>
class EnumNames {
 public:
  EnumNames(std::string what, std::vector<std::pair<E, std::string>> names)
      : what_(std::move(what)), names_(std::move(names)) {}

  const std::string& Name(E value) const {
    for (const auto& [v, name] : names_)
      if (v == value) return name;
    Fail("{}: value {} has no name", what_, static_cast<int>(value));
  }
  /// `where` (a file and key) prefixes the message when given.
  E Parse(const std::string& name, const std::string& where = {}) const {
    for (const auto& [v, n] : names_)
      if (n == name) return v;
    if (!where.empty()) Fail("{}: must be {}, got '{}'", where, List(), name);
    Fail("{} must be {}, got '{}'", what_, List(), name);
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& entry : names_) out.push_back(entry.second);
    return out;
  }
  /// "a, b or c".
  std::string List() const {
    std::string out;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (i > 0) out += i + 1 == names_.size() ? " or " : ", ";
      out += names_[i].second;
    }
    return out;
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::vector<std::pair<E, std::string>> names_;
};

}  // namespace aimc
