#include "aimc/common/toml_reader.h"

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc {
namespace {

std::string MessageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TomlReader, ReadsValuesAndDefaults) {
  auto t = TomlReader::FromString("a = 1\nb = 2.5\nname = 'x'\n[sub]\nc = [1, 2]\n", "t.toml");
  EXPECT_EQ(t.Double("a"), 1.0);
  EXPECT_EQ(t.Double("b"), 2.5);
  EXPECT_EQ(t.Double("missing", 7.0), 7.0);
  EXPECT_EQ(t.String("name"), "x");
  EXPECT_EQ(t.Table("sub").Doubles("c"), (std::vector<double>{1, 2}));
  EXPECT_NO_THROW(t.RejectUnknown());
}

TEST(TomlReader, UnknownKeyIsNamedWithItsTable) {
  auto t = TomlReader::FromString("a = 1\n[sub]\nc = 1\ntypo = 2\n", "card.toml");
  t.Double("a");
  t.Table("sub").Double("c");
  const std::string message = MessageOf([&] { t.RejectUnknown(); });
  EXPECT_NE(message.find("card.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("sub.typo"), std::string::npos) << message;
}

TEST(TomlReader, MalformedTomlNamesFileAndLine) {
  const std::string message =
      MessageOf([] { TomlReader::FromString("a = 1\nb = = 2\n", "bad.toml"); });
  EXPECT_NE(message.find("bad.toml:2"), std::string::npos) << message;
}

TEST(TomlReader, WrongTypeIsNamed) {
  auto t = TomlReader::FromString("tmr = 'high'\n", "c.toml");
  const std::string message = MessageOf([&] { t.Double("tmr"); });
  EXPECT_NE(message.find("tmr"), std::string::npos) << message;
  EXPECT_NE(message.find("expected a number"), std::string::npos) << message;
}

}  // namespace
}  // namespace aimc
