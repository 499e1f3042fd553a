// A small SVG line chart: test accuracy against sparsity, one series per pruning method.
#pragma once

#include <string>
#include <vector>

namespace twig::cli {

struct PlotPoint {
  double x;  // sparsity in [0, 1]
  double y;  // accuracy in [0, 1]
  std::string label;
};

struct PlotSeries {
  std::string name;
  std::string color;  // e.g. "#1f77b4"
  std::vector<PlotPoint> points;
};

// The SVG document (axes in percent, y range fitted to the data).
std::string accuracy_plot_svg(const std::vector<PlotSeries>& series, const std::string& title);

}  // namespace twig::cli
