#pragma once
// How far a derived spec could move with other chips and other test images (private to the paper
// module): a two-way percentile bootstrap over the chips and the images that measured its error
// curve, and from it how many chips and images an interval of a given width needs. Pure: tested
// on synthetic curves with a known answer (spec_interval_test.cc).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace aimc::paper {

/// What one measured point got wrong: row c, entry i is 1 when chip c misclassified test image
/// i. Every point of a curve, and its reference, holds the same images in the same order, and
/// chip c of every point is the same chip (the same seed): resampling draws chips and images
/// once per replicate for the whole curve, as the curve was measured.
using WrongImages = std::vector<std::vector<std::uint8_t>>;

/// The bootstrap's settings.
struct IntervalOptions {
  int replicates = 2000;
  /// Coverage of the interval (the 2.5th and 97.5th percentiles at 0.95).
  double level = 0.95;
  std::uint64_t seed = 1;
};

/// A spec's interval and its two sources of spread.
struct SpecInterval {
  /// The spec by the rule on the data as measured, and the interval's ends (`level`), in the
  /// spec's own unit; NaN when there is no curve.
  double estimate = 0.0, low = 0.0, high = 0.0;
  /// Standard deviations of the spec (on the rule's scale: log for R_ON) under resampling the
  /// chips alone (images as measured) and the images alone (chips as measured).
  double chip_sd = 0.0, image_sd = 0.0;
  int chips = 0;
  std::int64_t images = 0;
  /// Replicates whose curve was over the budget at its good end already (no spec: counted at
  /// the good end), and whose curve stayed within it to its far end (a bound).
  int no_spec = 0, at_far_end = 0, replicates = 0;
  double level = 0.95;
  bool log_scale = false;

  /// The predicted half-width of the interval (on the rule's scale) with `chips` chips and
  /// `images` images: each source's variance scales with 1 / its count.
  double HalfWidth(double chips, double images) const;
  /// The fewest chips (with the images measured) and the fewest images (with the chips measured)
  /// whose half-width is at most `half_width`; -1 when the other source alone is wider.
  std::int64_t ChipsFor(double half_width) const;
  std::int64_t ImagesFor(double half_width) const;
  /// The factor k by which both the chips and the images must grow for `half_width` (k < 1:
  /// fewer would do): k = (HalfWidth(chips, images) / half_width)^2.
  double BothScale(double half_width) const;
  /// What `half_width` needs, in words: "12 chips with these images", else "N images with these
  /// chips", else "k x both: C chips x N images".
  std::string NeedsText(double half_width) const;
  /// "0.146 (95 % interval 0.138-0.155)", each number by `format_value`.
  std::string Text(const std::function<std::string(double)>& format_value) const;
  nlohmann::json ToJson() const;
};

/// A work unit's result carries its wrong images after its numbers (RunUnits moves doubles):
/// appended as 0/1, read back from index `from` on.
void AppendWrong(std::vector<double>& result, const std::vector<std::uint8_t>& wrong);
std::vector<std::uint8_t> WrongFrom(const std::vector<double>& result, std::size_t from);

/// The spec rule: from the error increase (percentage points over the reference) of each point,
/// in the curve's order from its good end, the spec.
using SpecRule = std::function<double(const std::vector<double>& increase)>;

/// The interval of `rule`'s spec over a curve: `points` in the rule's order, each with 1 row
/// (a chip without spread, or the digital network) or C rows (C chips); `reference` the same.
/// NaN from the rule (over the budget at the good end) counts as `good_end`. With C = 1 the
/// chips do not vary. The bootstrap draws chips and images with replacement from those
/// measured; with few chips it understates the chips' part (by (C - 1) / C in variance).
SpecInterval BootstrapSpec(const std::vector<WrongImages>& points, const WrongImages& reference,
                           const SpecRule& rule, double good_end, double far_end, bool log_scale,
                           const IntervalOptions& options = {});

}  // namespace aimc::paper
