#include "aimc/common/toml_reader.h"

#include <toml++/toml.h>

#include <sstream>

#include <fmt/format.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"

namespace aimc {

struct TomlReader::Impl {
  std::shared_ptr<toml::table> root;  // keeps the document alive
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

}  // namespace

TomlReader::TomlReader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

TomlReader TomlReader::FromFile(const std::filesystem::path& path) {
  return FromString(ReadFile(path), path.string());
}

TomlReader TomlReader::FromString(const std::string& text, const std::string& source_name) {
  auto impl = std::make_shared<Impl>();
  impl->root = Parse(text, source_name);
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
  if (auto v = node->value<double>()) return *v;  // integers convert too
  Fail("{}: expected a number, got {}", Where(key), TypeName(*node));
}

double TomlReader::Double(const std::string& key, double fallback) const {
  return Has(key) ? Double(key) : fallback;
}

std::int64_t TomlReader::Int(const std::string& key) const {
  const toml::node* node = impl_->Node(key);
  Require(node != nullptr, "{}: missing, an integer is required", Where(key));
  if (node->is_integer()) return *node->value<std::int64_t>();
  Fail("{}: expected an integer, got {}", Where(key), TypeName(*node));
}

std::int64_t TomlReader::Int(const std::string& key, std::int64_t fallback) const {
  return Has(key) ? Int(key) : fallback;
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
  if (auto v = node->value<double>()) return {*v};
  const toml::array* array = node->as_array();
  Require(array != nullptr, "{}: expected a number or a list of numbers", Where(key));
  std::vector<double> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    auto v = (*array)[i].value<double>();
    Require(v.has_value(), "{}: element {} is not a number", Where(key), i);
    values.push_back(*v);
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
