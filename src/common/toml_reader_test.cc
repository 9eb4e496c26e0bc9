#include "aimc/common/toml_reader.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "test_error.h"

namespace aimc {
namespace {


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
  const std::string message = ErrorMessage([&] { t.RejectUnknown(); });
  EXPECT_NE(message.find("card.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("sub.typo"), std::string::npos) << message;
}

TEST(TomlReader, MalformedTomlNamesFileAndLine) {
  const std::string message =
      ErrorMessage([] { TomlReader::FromString("a = 1\nb = = 2\n", "bad.toml"); });
  EXPECT_NE(message.find("bad.toml:2"), std::string::npos) << message;
}

TEST(TomlReader, WrongTypeIsNamed) {
  auto t = TomlReader::FromString("tmr = 'high'\n", "c.toml");
  const std::string message = ErrorMessage([&] { t.Double("tmr"); });
  EXPECT_NE(message.find("tmr"), std::string::npos) << message;
  EXPECT_NE(message.find("expected a number"), std::string::npos) << message;
}

void ExpectMessage(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string message = ErrorMessage(f);
  ASSERT_FALSE(message.empty()) << "accepted: " << parts.front();
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

// The values of issue 9 that were cut to an int: 2^32 + 1 ran 1 chip, -2^31 - 1 passed
// `threads >= 1`. The message quotes the value as the file writes it.
TEST(TomlReader, IntegersOutsideTheirTypeAreRefusedAsWritten) {
  auto t = TomlReader::FromString(
      "chips = 4294967297\nthreads = -2147483649\nhex = 0x100000000\nseed = -1\n"
      "max = 2147483647\nmin = -2147483648\n",
      "run.toml");
  ExpectMessage([&] { t.Integer<int>("chips"); },
                {"run.toml: key 'chips' = 4294967297 does not fit a 32-bit int"});
  ExpectMessage([&] { t.Integer<int>("threads", 1); }, {"'threads' = -2147483649", "32-bit int"});
  ExpectMessage([&] { t.Integer<int>("hex"); }, {"'hex' = 0x100000000"});
  ExpectMessage([&] { t.Integer<std::uint64_t>("seed"); }, {"'seed' = -1", "unsigned"});
  // The ends of the range are values, not errors.
  EXPECT_EQ(t.Integer<int>("max"), 2147483647);
  EXPECT_EQ(t.Integer<int>("min"), -2147483647 - 1);
  EXPECT_EQ(t.Integer<std::int64_t>("chips"), 4294967297);
  EXPECT_EQ(t.Integer<int>("absent", 7), 7);
}

TEST(TomlReader, FloatsAreNotIntegers) {
  auto t = TomlReader::FromString("a = 1e30\nb = 3.5\nc = 'x'\n", "f.toml");
  ExpectMessage([&] { t.Int("a"); }, {"f.toml: key 'a' = 1e30 is not an integer"});
  ExpectMessage([&] { t.Integer<int>("b", 1); }, {"'b' = 3.5 is not an integer"});
  ExpectMessage([&] { t.Int("c"); }, {"'c'", "expected an integer, got string"});
}

TEST(TomlReader, NonFiniteNumbersAreRefused) {
  auto t = TomlReader::FromString("a = nan\nb = -inf\nc = [1.0, inf]\n", "n.toml");
  ExpectMessage([&] { t.Double("a"); }, {"n.toml: key 'a' = nan is not a finite number"});
  ExpectMessage([&] { t.Double("b", 0.0); }, {"'b' = -inf"});
  ExpectMessage([&] { t.Doubles("c"); }, {"'c' element 1 = inf is not a finite number"});
}

TEST(TomlReader, IntegerListsAreCheckedElementByElement) {
  auto t = TomlReader::FromString(
      "rows = [64, 128]\none = 32\nbad = [64, 64.5]\nbig = [1, 4294967296]\n", "l.toml");
  EXPECT_EQ(t.Integers<std::int64_t>("rows"), (std::vector<std::int64_t>{64, 128}));
  EXPECT_EQ(t.Integers<int>("one"), (std::vector<int>{32}));
  ExpectMessage([&] { t.Integers<std::int64_t>("bad"); },
                {"'bad' element 1 = 64.5 is not an integer"});
  ExpectMessage([&] { t.Integers<int>("big"); }, {"'big' element 1 = 4294967296 does not fit"});
}

// An integer beyond 2^53 has no exact double; as a physical value it is read rounded (toml++ on
// its own answers "not a number").
TEST(TomlReader, LargeIntegersReadAsDoubles) {
  auto t = TomlReader::FromString("r = 9007199254740993\n", "d.toml");
  EXPECT_EQ(t.Double("r"), 9007199254740992.0);
}

}  // namespace
}  // namespace aimc
