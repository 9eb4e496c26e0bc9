#include "spec_interval.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"

namespace aimc::paper {

namespace {

// A point's wrong images as index lists per row: a resampled error sums the multiplicities of
// its wrong images only (errors are the few).
struct Sparse {
  std::vector<std::vector<std::int32_t>> rows;
};

Sparse ToSparse(const WrongImages& w) {
  Sparse s;
  for (const auto& row : w) {
    std::vector<std::int32_t> idx;
    for (std::size_t i = 0; i < row.size(); ++i)
      if (row[i] != 0) idx.push_back(static_cast<std::int32_t>(i));
    s.rows.push_back(std::move(idx));
  }
  return s;
}

// Error (%) of a point under chip multiplicities `chip_n` (C entries, summing to C) and image
// multiplicities `image_n` (N entries, summing to N; empty: each image once).
double ErrorPct(const Sparse& s, const std::vector<int>& chip_n, const std::vector<int>& image_n,
                std::int64_t images) {
  const auto wrong_in = [&](const std::vector<std::int32_t>& row) {
    if (image_n.empty()) return static_cast<double>(row.size());
    std::int64_t n = 0;
    for (std::int32_t i : row) n += image_n[static_cast<std::size_t>(i)];
    return static_cast<double>(n);
  };
  if (s.rows.size() == 1) return 100.0 * wrong_in(s.rows[0]) / static_cast<double>(images);
  double sum = 0.0;
  for (std::size_t c = 0; c < s.rows.size(); ++c)
    if (chip_n[c] != 0) sum += chip_n[c] * wrong_in(s.rows[c]);
  return 100.0 * sum / (static_cast<double>(s.rows.size()) * static_cast<double>(images));
}

// The quantile p (0..1) of sorted values, interpolated between order statistics.
double Quantile(const std::vector<double>& sorted, double p) {
  const double h = (static_cast<double>(sorted.size()) - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double StdDev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double ss = 0.0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

// n draws with replacement from n items, as multiplicities.
void Draw(Rng& rng, std::vector<int>& counts) {
  std::fill(counts.begin(), counts.end(), 0);
  const std::size_t n = counts.size();
  for (std::size_t k = 0; k < n; ++k)
    ++counts[std::min(n - 1, static_cast<std::size_t>(rng.Uniform() * static_cast<double>(n)))];
}

// z of a two-sided normal interval of coverage `level` (1.96 at 0.95): erf(z / sqrt 2) = level,
// by bisection.
double TwoSidedZ(double level) {
  double lo = 0.0, hi = 10.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (std::erf(mid / std::sqrt(2.0)) < level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

void AppendWrong(std::vector<double>& result, const std::vector<std::uint8_t>& wrong) {
  for (std::uint8_t w : wrong) result.push_back(w != 0 ? 1.0 : 0.0);
}

std::vector<std::uint8_t> WrongFrom(const std::vector<double>& result, std::size_t from) {
  Require(from <= result.size(), "a unit's result has {} numbers, its images start at {}",
          result.size(), from);
  std::vector<std::uint8_t> wrong;
  wrong.reserve(result.size() - from);
  for (std::size_t i = from; i < result.size(); ++i) wrong.push_back(result[i] != 0.0 ? 1 : 0);
  return wrong;
}

double SpecInterval::HalfWidth(double c, double n) const {
  const double var = chip_sd * chip_sd * (chips > 1 ? chips / c : 0.0) +
                     image_sd * image_sd * static_cast<double>(images) / n;
  return TwoSidedZ(level) * std::sqrt(var);
}

std::int64_t SpecInterval::ChipsFor(double half_width) const {
  if (HalfWidth(chips, static_cast<double>(images)) <= half_width) {
    // Fewer may do: the smallest count that still meets it.
    std::int64_t c = std::max(1, chips);
    while (c > 1 && HalfWidth(static_cast<double>(c - 1), static_cast<double>(images)) <= half_width) --c;
    return c;
  }
  if (chip_sd == 0.0 || HalfWidth(1e12, static_cast<double>(images)) > half_width) return -1;
  std::int64_t c = std::max(1, chips);
  while (HalfWidth(static_cast<double>(c), static_cast<double>(images)) > half_width) c *= 2;
  std::int64_t lo = c / 2;
  while (c - lo > 1) {
    const std::int64_t mid = (lo + c) / 2;
    (HalfWidth(static_cast<double>(mid), static_cast<double>(images)) > half_width ? lo : c) = mid;
  }
  return c;
}

std::int64_t SpecInterval::ImagesFor(double half_width) const {
  if (images == 0) return -1;
  if (image_sd == 0.0) return HalfWidth(chips, 1e18) <= half_width ? 1 : -1;
  if (HalfWidth(chips, 1e18) > half_width) return -1;
  std::int64_t lo = 0, hi = 1;
  while (HalfWidth(chips, static_cast<double>(hi)) > half_width) hi *= 2;
  lo = hi / 2;
  while (hi - lo > 1) {
    const std::int64_t mid = (lo + hi) / 2;
    (HalfWidth(chips, static_cast<double>(mid)) > half_width ? lo : hi) = mid;
  }
  return hi;
}

double SpecInterval::BothScale(double half_width) const {
  const double h = HalfWidth(chips, static_cast<double>(images));
  return (h / half_width) * (h / half_width);
}

std::string SpecInterval::NeedsText(double half_width) const {
  const std::int64_t c = ChipsFor(half_width), n = ImagesFor(half_width);
  if (c > 0 && c <= chips) return fmt::format("the {} chips x {} images measured", chips, images);
  // Chips that do not vary (one chip without spread): the images alone.
  if (chips <= 1 || chip_sd == 0.0)
    return n > 0 ? fmt::format("{} images", n) : std::string("more than any number of images");
  std::vector<std::string> ways;
  if (c > 0) ways.push_back(fmt::format("{} chips with these {} images", c, images));
  if (n > 0) ways.push_back(fmt::format("{} images with these {} chips", n, chips));
  const double k = BothScale(half_width);
  ways.push_back(fmt::format("{} chips x {} images ({:.3g} x both)",
                             static_cast<std::int64_t>(std::ceil(k * std::max(1, chips))),
                             static_cast<std::int64_t>(std::ceil(k * static_cast<double>(images))),
                             k));
  return fmt::format("{}", fmt::join(ways, ", or "));
}

std::string SpecInterval::Text(const std::function<std::string(double)>& format_value) const {
  return fmt::format("{} ({:.0f} % interval {}-{})", format_value(estimate), 100 * level,
                     format_value(low), format_value(high));
}

nlohmann::json SpecInterval::ToJson() const {
  const auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
  return {{"estimate", num(estimate)}, {"low", num(low)},          {"high", num(high)},
          {"level", level},            {"chip_sd", chip_sd},       {"image_sd", image_sd},
          {"chips", chips},            {"images", images},         {"replicates", replicates},
          {"no_spec", no_spec},        {"at_far_end", at_far_end}, {"log_scale", log_scale}};
}

SpecInterval BootstrapSpec(const std::vector<WrongImages>& points, const WrongImages& reference,
                           const SpecRule& rule, double good_end, double far_end, bool log_scale,
                           const IntervalOptions& options) {
  Require(!points.empty(), "spec interval: no curve points");
  Require(options.replicates >= 2, "spec interval: replicates must be >= 2, got {}",
          options.replicates);
  Require(options.level > 0 && options.level < 1, "spec interval: level must be in (0, 1), got {}",
          options.level);
  Require(!reference.empty() && !reference[0].empty(), "spec interval: an empty reference");
  const std::int64_t images = static_cast<std::int64_t>(reference[0].size());
  std::size_t chips = reference.size();
  for (const WrongImages& p : points) chips = std::max(chips, p.size());
  const auto check = [&](const WrongImages& w, const char* what) {
    Require(w.size() == 1 || w.size() == chips,
            "spec interval: {} has {} chips, the curve {} (1 or all)", what, w.size(), chips);
    for (const auto& row : w)
      Require(static_cast<std::int64_t>(row.size()) == images,
              "spec interval: {} has {} images, the reference {}", what, row.size(), images);
  };
  check(reference, "the reference");
  for (const WrongImages& p : points) check(p, "a curve point");

  std::vector<Sparse> sparse;
  for (const WrongImages& p : points) sparse.push_back(ToSparse(p));
  const Sparse ref = ToSparse(reference);
  SpecInterval out;
  out.chips = static_cast<int>(chips);
  out.images = images;
  out.level = options.level;
  out.log_scale = log_scale;
  out.replicates = options.replicates;
  const auto scale = [&](double x) { return log_scale ? std::log(x) : x; };
  // The spec of one resampling, and whether it had none or reached the far end.
  const auto spec = [&](const std::vector<int>& chip_n, const std::vector<int>& image_n,
                        bool* none, bool* far) {
    const double r = ErrorPct(ref, chip_n, image_n, images);
    std::vector<double> increase;
    for (const Sparse& s : sparse) increase.push_back(ErrorPct(s, chip_n, image_n, images) - r);
    double v = rule(increase);
    *none = std::isnan(v);
    if (*none) v = good_end;
    *far = v == far_end;
    return v;
  };
  std::vector<int> all_chips(chips, 1);
  bool none = false, far = false;
  out.estimate = spec(all_chips, {}, &none, &far);

  Rng rng(options.seed);
  std::vector<int> chip_n(chips), image_n(static_cast<std::size_t>(images));
  std::vector<double> both, chip_only, image_only;
  for (int k = 0; k < options.replicates; ++k) {
    Draw(rng, chip_n);
    Draw(rng, image_n);
    both.push_back(scale(spec(chip_n, image_n, &none, &far)));
    out.no_spec += none ? 1 : 0;
    out.at_far_end += far ? 1 : 0;
    image_only.push_back(scale(spec(all_chips, image_n, &none, &far)));
    if (chips > 1) chip_only.push_back(scale(spec(chip_n, {}, &none, &far)));
  }
  std::sort(both.begin(), both.end());
  const double tail = (1 - options.level) / 2;
  const auto unscale = [&](double x) { return log_scale ? std::exp(x) : x; };
  out.low = unscale(Quantile(both, tail));
  out.high = unscale(Quantile(both, 1 - tail));
  out.chip_sd = StdDev(chip_only);
  out.image_sd = StdDev(image_only);
  return out;
}

}  // namespace aimc::paper
