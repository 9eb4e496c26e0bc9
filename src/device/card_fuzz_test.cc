#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../common/test_mutator.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "../common/test_dir.h"

namespace aimc::device {
namespace {
namespace fs = std::filesystem;

// Every shipped card, mutated 40 times each (byte flips, truncation, junk, hostile values such
// as 4294967297, 1e-320, nan, 'text', []): each mutant either loads as a card with finite,
// positive moments or is refused with aimc::Error. Any other exception fails the test; a crash
// kills it. The seed is fixed, so a failing case reproduces.
TEST(CardFuzz, EveryMutantLoadsOrIsRefusedWithAnAimcError) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = UniqueTempPath("aimc_card_fuzz");
  fs::create_directories(dir);
  testing::Mutator mutate(20240901);
  int cases = 0, loaded = 0;
  for (const char* stem : {"sot_mram", "stt_mram", "flash", "rram", "pcm"}) {
    const std::string original = ReadFile(PresetCardPath(stem));
    for (int i = 0; i < 40; ++i) {
      const std::string text = mutate.Mutate(original, /*toml=*/true);
      const fs::path path = dir / fmt::format("{}_{}.toml", stem, i);
      WriteFileAtomic(path, text);
      ++cases;
      try {
        const auto card = LoadCard(path);
        const StateStats s = card->Stats();
        EXPECT_TRUE(std::isfinite(s.on.mean_s) && s.on.mean_s > 0 && std::isfinite(s.on.stddev_s) &&
                    std::isfinite(s.off.mean_s) && s.off.mean_s > 0 && std::isfinite(s.off.stddev_s))
            << path << ":\n" << text;
        ++loaded;
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << path << ": " << e.what() << " (not an aimc::Error) for:\n" << text;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d mutated cards, %d loaded, %.2f s\n", cases, loaded, seconds);
  // Both outcomes occur: the mutations neither all break the file nor all miss.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, cases);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace aimc::device
