#include <memory>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/mapping/ternary.h"
#include "commands.h"
#include "text_table.h"

namespace aimc::cli {

void RegisterMap(CLI::App& app) {
  CLI::App* map = app.add_subcommand("map", "Ternary weights on differential conductance pairs");
  map->require_subcommand(1);

  struct SpecArgs {
    double tmr = 1.5;
    std::vector<double> sigma_w = {0.15};
    std::string csv;
  };
  auto args = std::make_shared<SpecArgs>();
  CLI::App* spec = map->add_subcommand(
      "spec",
      "Largest sigma/mu of the conductance states that keeps the weight spread at sigma_w (the "
      "paper's Fig. 11), for the 0 weight and for the +-1 weights");
  spec->add_option("--tmr", args->tmr, "TMR (on/off ratio - 1); 1.5 = 150 %")->capture_default_str();
  spec->add_option("--sigma-w", args->sigma_w, "Target weight spread(s), in unit weights")
      ->capture_default_str();
  spec->add_option("--csv", args->csv, "Also write the table as CSV to this file");
  spec->callback([args] {
    if (!args->csv.empty()) RequireOutputFile(args->csv);
    Table t{{"sigma_w", "tmr", "zero_cv_ap", "pm1_equal_cv", "pm1_p_only_cv", "pm1_ap_only_cv"}, {}};
    std::vector<std::vector<std::string>> rows = {
        {"sigma_w", "0: sigma/mu AP", "+-1: equal P, AP", "+-1: P only", "+-1: AP only"}};
    for (double s : args->sigma_w) {
      const mapping::AllowedSpread a = mapping::AllowedSpreadFor(s, args->tmr);
      t.Add({s, args->tmr, a.zero_cv_off, a.pm1_equal_cv, a.pm1_on_only_cv, a.pm1_off_only_cv});
      rows.push_back({fmt::format("{:.4g}", s), fmt::format("{:.4f}", a.zero_cv_off),
                      fmt::format("{:.4f}", a.pm1_equal_cv), fmt::format("{:.4f}", a.pm1_on_only_cv),
                      fmt::format("{:.4f}", a.pm1_off_only_cv)});
    }
    fmt::print("TMR {:.4g} ({:.0f} %): largest allowed sigma/mu of the conductance states\n\n",
               args->tmr, 100 * args->tmr);
    PrintTextTable(rows);
    if (!args->csv.empty()) WriteCsv(args->csv, t);
  });
}

}  // namespace aimc::cli
