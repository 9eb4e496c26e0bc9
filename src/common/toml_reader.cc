#include "aimc/common/toml_reader.h"

#include <toml++/toml.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <sstream>

#include <fmt/format.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"

namespace aimc {

struct TomlReader::Impl {
  std::shared_ptr<toml::table> root;  // keeps the document alive
  std::shared_ptr<const std::vector<std::string>> lines;  // the text, to quote values as written
  const toml::table* table = nullptr;
  std::string source;
  std::string prefix;  // "" or "device." for nested tables
  mutable std::set<std::string> used;
  mutable std::vector<std::shared_ptr<Impl>> children;

  std::string Full(const std::string& key) const { return prefix + key; }
  const toml::node* Node(const std::string& key) const {
    used.insert(key);
    return table->get(key);
  }
};

namespace {

std::shared_ptr<toml::table> Parse(const std::string& text, const std::string& source) {
  try {
    return std::make_shared<toml::table>(toml::parse(text, source));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    Fail("{}:{}:{}: malformed TOML: {}", source, where.line, where.column, e.description());
  }
}

std::string TypeName(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return out.str();
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return lines;
    start = end + 1;
  }
}

// A value as the file writes it ("1e30", "0x7fffffff"), from its source region; toml++'s own
// rendering where the region spans lines or is unknown.
std::string Written(const toml::node& node, const std::vector<std::string>& lines) {
  const toml::source_region& where = node.source();
  if (where.begin.line >= 1 && where.begin.line == where.end.line &&
      where.begin.line <= lines.size() && where.end.column > where.begin.column) {
    const std::string& line = lines[where.begin.line - 1];
    // Columns count UTF-8 code points from 1; numbers are ASCII, so bytes match up to them.
    const std::size_t first = where.begin.column - 1;
    if (first < line.size()) return line.substr(first, where.end.column - where.begin.column);
  }
  std::ostringstream out;
  if (const auto* v = node.as_floating_point()) {
    out << *v;
  } else if (const auto* i = node.as_integer()) {
    out << *i;
  } else {
    out << TypeName(node);
  }
  return out.str();
}

template <typename T>
std::string IntegerTypeName() {
  if constexpr (std::is_same_v<T, int>) {
    return "32-bit int";
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return "64-bit int";
  } else {
    static_assert(std::is_same_v<T, std::uint64_t>);
    return "64-bit unsigned int";
  }
}

// `what` names the value in errors: "file.toml: key 'chips'" or "... element 2".
template <typename T>
T IntegerOf(const toml::node& node, const std::vector<std::string>& lines, const std::string& what) {
  if (!node.is_integer()) {
    Require(!node.is_floating_point(), "{} = {} is not an integer", what, Written(node, lines));
    Fail("{}: expected an integer, got {}", what, TypeName(node));
  }
  const std::int64_t v = node.as_integer()->get();
  bool fits = v >= 0;  // an uint64 takes every non-negative TOML integer
  if constexpr (std::is_signed_v<T>) {
    fits = v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max();
  }
  Require(fits, "{} = {} does not fit a {} ({}..{})", what, Written(node, lines),
          IntegerTypeName<T>(), std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
  return static_cast<T>(v);
}

double DoubleOf(const toml::node& node, const std::vector<std::string>& lines,
                const std::string& what) {
  double v = 0.0;
  if (const auto* f = node.as_floating_point()) {
    v = f->get();
  } else if (const auto* i = node.as_integer()) {
    v = static_cast<double>(i->get());  // rounds beyond 2^53; a physical value does not care
  } else {
    Fail("{}: expected a number, got {}", what, TypeName(node));
  }
  Require(std::isfinite(v), "{} = {} is not a finite number", what, Written(node, lines));
  return v;
}

}  // namespace

TomlReader::TomlReader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

TomlReader TomlReader::FromFile(const std::filesystem::path& path) {
  return FromString(ReadFile(path), path.string());
}

TomlReader TomlReader::FromString(const std::string& text, const std::string& source_name) {
  auto impl = std::make_shared<Impl>();
  impl->root = Parse(text, source_name);
  impl->lines = std::make_shared<const std::vector<std::string>>(SplitLines(text));
  impl->table = impl->root.get();
  impl->source = source_name;
  return TomlReader(impl);
}

std::string TomlReader::Where(const std::string& key) const {
  return fmt::format("{}: key '{}'", impl_->source, impl_->Full(key));
}

const std::string& TomlReader::source() const { return impl_->source; }

bool TomlReader::Has(const std::string& key) const {
  impl_->used.insert(key);
  return impl_->table->contains(key);
}

double TomlReader::Double(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, a number is required", Where(key));
  return DoubleOf(*node, *impl_->lines, Where(key));
}

double TomlReader::Double(const std::string& key, double fallback) const {
  return Has(key) ? Double(key) : fallback;
}

template <typename T>
T TomlReader::Integer(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, an integer is required", Where(key));
  return IntegerOf<T>(*node, *impl_->lines, Where(key));
}

template <typename T>
T TomlReader::Integer(const std::string& key, T fallback) const {
  return Has(key) ? Integer<T>(key) : fallback;
}

template <typename T>
std::vector<T> TomlReader::Integers(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, a list of integers is required", Where(key));
  const toml::array* array = node->as_array();
  if (array == nullptr) return {IntegerOf<T>(*node, *impl_->lines, Where(key))};
  std::vector<T> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    values.push_back(
        IntegerOf<T>((*array)[i], *impl_->lines, fmt::format("{} element {}", Where(key), i)));
  }
  return values;
}

template int TomlReader::Integer<int>(const std::string&) const;
template std::int64_t TomlReader::Integer<std::int64_t>(const std::string&) const;
template std::uint64_t TomlReader::Integer<std::uint64_t>(const std::string&) const;
template int TomlReader::Integer<int>(const std::string&, int) const;
template std::int64_t TomlReader::Integer<std::int64_t>(const std::string&, std::int64_t) const;
template std::uint64_t TomlReader::Integer<std::uint64_t>(const std::string&, std::uint64_t) const;
template std::vector<int> TomlReader::Integers<int>(const std::string&) const;
template std::vector<std::int64_t> TomlReader::Integers<std::int64_t>(const std::string&) const;
template std::vector<std::uint64_t> TomlReader::Integers<std::uint64_t>(const std::string&) const;

std::int64_t TomlReader::Int(const std::string& key) const { return Integer<std::int64_t>(key); }

std::int64_t TomlReader::Int(const std::string& key, std::int64_t fallback) const {
  return Integer<std::int64_t>(key, fallback);
}

bool TomlReader::Bool(const std::string& key, bool fallback) const {
  if (!Has(key)) return fallback;
  const toml::node* node = impl_->Node(key);
  if (node->is_boolean()) return *node->value<bool>();
  Fail("{}: expected true or false, got {}", Where(key), TypeName(*node));
}

std::string TomlReader::String(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, a string is required", Where(key));
  if (node->is_string()) return *node->value<std::string>();
  Fail("{}: expected a string, got {}", Where(key), TypeName(*node));
}

std::string TomlReader::String(const std::string& key, const std::string& fallback) const {
  return Has(key) ? String(key) : fallback;
}

std::vector<double> TomlReader::Doubles(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, a list of numbers is required", Where(key));
  if (node->is_number()) return {DoubleOf(*node, *impl_->lines, Where(key))};
  const toml::array* array = node->as_array();
  Require(array != nullptr, "{}: expected a number or a list of numbers", Where(key));
  std::vector<double> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    values.push_back(
        DoubleOf((*array)[i], *impl_->lines, fmt::format("{} element {}", Where(key), i)));
  }
  return values;
}

std::vector<std::string> TomlReader::Strings(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, a list of strings is required", Where(key));
  if (node->is_string()) return {*node->value<std::string>()};
  const toml::array* array = node->as_array();
  Require(array != nullptr, "{}: expected a string or a list of strings", Where(key));
  std::vector<std::string> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    auto v = (*array)[i].value<std::string>();
    Require(v.has_value(), "{}: element {} is not a string", Where(key), i);
    values.push_back(*v);
  }
  return values;
}

TomlReader TomlReader::Table(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing table", Where(key));
  const toml::table* table = node->as_table();
  Require(table != nullptr, "{}: expected a table", Where(key));
  auto child = std::make_shared<Impl>();
  child->root = impl_->root;
  child->lines = impl_->lines;
  child->table = table;
  child->source = impl_->source;
  child->prefix = impl_->Full(key) + ".";
  impl_->children.push_back(child);
  return TomlReader(child);
}

std::vector<TomlReader> TomlReader::Tables(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  if (node == nullptr) return {};
  const toml::array* array = node->as_array();
  Require(array != nullptr && array->is_array_of_tables(), "{}: expected an array of tables",
          Where(key));
  std::vector<TomlReader> tables;
  for (std::size_t i = 0; i < array->size(); ++i) {
    auto child = std::make_shared<Impl>();
    child->root = impl_->root;
    child->lines = impl_->lines;
    child->table = (*array)[i].as_table();
    child->source = impl_->source;
    child->prefix = fmt::format("{}[{}].", impl_->Full(key), i);
    impl_->children.push_back(child);
    tables.push_back(TomlReader(child));
  }
  return tables;
}

std::vector<std::string> TomlReader::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : *impl_->table) keys.emplace_back(k.str());
  return keys;
}

void TomlReader::RejectUnknown() const {
  std::vector<std::string> unknown;
  for (const auto& [k, v] : *impl_->table) {
    if (!impl_->used.count(std::string(k.str()))) unknown.push_back(impl_->Full(std::string(k.str())));
  }
  if (!unknown.empty()) {
    Fail("{}: unknown key{} '{}'", impl_->source, unknown.size() > 1 ? "s" : "",
         fmt::format("{}", fmt::join(unknown, "', '")));
  }
  for (const auto& child : impl_->children) TomlReader(child).RejectUnknown();
}

}  // namespace aimc
