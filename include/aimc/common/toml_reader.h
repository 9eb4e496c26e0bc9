#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aimc {

/// Reads a TOML file into options structs, keeping track of the keys it was asked for, so that an
/// unknown (misspelt) key is an error rather than silently ignored. Every error names the file and
/// the full key, and quotes a refused value as the file writes it.
///
/// Numbers are read as what they are: Double() takes any finite number (an integer converts),
/// Integer<T>() only an integer that fits T, so that `chips = 4294967297` is refused rather than
/// cut to an int.
///
///   TomlReader card = TomlReader::FromFile("configs/devices/sot_mram.toml");
///   double tmr = card.Double("tmr", 1.5);
///   int chips = card.Integer<int>("chips", 1);
///   card.RejectUnknown();
class TomlReader {
 public:
  static TomlReader FromFile(const std::filesystem::path& path);
  static TomlReader FromString(const std::string& text, const std::string& source_name);

  bool Has(const std::string& key) const;
  /// A finite number; nan and inf are refused.
  double Double(const std::string& key, double fallback) const;
  double Double(const std::string& key) const;
  /// An integer (not a float such as 3.5 or 1e30) within T's range; T is int, std::int64_t or
  /// std::uint64_t. Errors read "file.toml: key 'chips' = 4294967297 does not fit a 32-bit int".
  template <typename T>
  T Integer(const std::string& key) const;
  template <typename T>
  T Integer(const std::string& key, T fallback) const;
  /// An integer or a list of integers, each within T's range.
  template <typename T>
  std::vector<T> Integers(const std::string& key) const;
  /// Integer<std::int64_t>.
  std::int64_t Int(const std::string& key, std::int64_t fallback) const;
  std::int64_t Int(const std::string& key) const;
  bool Bool(const std::string& key, bool fallback) const;
  std::string String(const std::string& key, const std::string& fallback) const;
  std::string String(const std::string& key) const;
  /// A finite number or an array of finite numbers, as a list.
  std::vector<double> Doubles(const std::string& key) const;
  std::vector<std::string> Strings(const std::string& key) const;
  /// A sub-table; Has(key) must be true.
  TomlReader Table(const std::string& key) const;
  /// An array of tables ([[key]]).
  std::vector<TomlReader> Tables(const std::string& key) const;
  /// Keys of this table, in file order.
  std::vector<std::string> Keys() const;

  /// Throws aimc::Error naming every key of this table (and of the sub-tables read through
  /// Table/Tables) that no accessor asked for.
  void RejectUnknown() const;

  /// "file.toml: key 'device.cd_nm'" — for error messages about a value read from here.
  std::string Where(const std::string& key) const;
  const std::string& source() const;

 private:
  struct Impl;
  explicit TomlReader(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace aimc
