#include "aimc/common/hash.h"

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc {
namespace {

// Reference values of 64-bit FNV-1a from its authors' test suite (Fowler, Noll, Vo).
TEST(Hash, MatchesPublishedFnv1a64Vectors) {
  EXPECT_EQ(HashHex(""), "cbf29ce484222325");
  EXPECT_EQ(HashHex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(HashHex("foobar"), "85944171f73967e8");
}

TEST(Hash, MissingFileIsNamed) {
  try {
    HashFile("/nonexistent/aimc_model.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aimc_model.pt"), std::string::npos);
  }
}

}  // namespace
}  // namespace aimc
