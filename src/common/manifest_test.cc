#include "aimc/common/manifest.h"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "test_error.h"

namespace aimc {
namespace {

std::string MessageOf(const nlohmann::json& json, int fallback) {
  return ErrorMessage([&] { JsonValue(json, "epochs", fallback, "training options"); });
}

// Model files carry their options as JSON; nlohmann's get<int>() would cut 2^32 + 1 to 1 and
// turn 1e30 into an undefined conversion.
TEST(JsonValue, NumbersAreReadAsWhatTheyAre) {
  EXPECT_EQ(JsonValue(nlohmann::json{{"epochs", 25}}, "epochs", 10, "t"), 25);
  EXPECT_EQ(JsonValue(nlohmann::json::object(), "epochs", 10, "t"), 10);
  EXPECT_NE(MessageOf({{"epochs", 4294967297LL}}, 1).find("'epochs' = 4294967297 is out of range"),
            std::string::npos);
  EXPECT_NE(MessageOf({{"epochs", 1e30}}, 1).find("'epochs' must be an integer, got 1e+30"),
            std::string::npos);
  EXPECT_NE(MessageOf({{"epochs", "ten"}}, 1).find("must be an integer"), std::string::npos);
  EXPECT_THROW(JsonValue(nlohmann::json{{"seed", -1}}, "seed", std::uint64_t{1}, "t"), Error);
  EXPECT_EQ(JsonValue(nlohmann::json{{"seed", 18446744073709551615ULL}}, "seed", std::uint64_t{1}, "t"),
            18446744073709551615ULL);
  EXPECT_THROW(JsonValue(nlohmann::json{{"lr", "fast"}}, "lr", 0.1, "t"), Error);
  EXPECT_EQ(JsonValue(nlohmann::json{{"lr", 2}}, "lr", 0.1, "t"), 2.0);
  EXPECT_THROW(JsonValue(nlohmann::json{{"flag", 1}}, "flag", false, "t"), Error);
  EXPECT_THROW(JsonValue(nlohmann::json{{"name", 3}}, "name", std::string("x"), "t"), Error);
}

}  // namespace
}  // namespace aimc
