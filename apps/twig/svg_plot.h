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

// The SVG document (axes in percent, y range fitted to the data). Everything stays inside the
// image: the title and subtitle above the plot (the image widens for a long title), the legend
// in a corner of the plot clear of the data, each point's label beside it clear of every line,
// dot and other label.
std::string accuracy_plot_svg(const std::vector<PlotSeries>& series, const std::string& title,
                              const std::string& subtitle = "");

// The width the plot reserves for text at font_size px (sans-serif; errs wide).
double text_width(const std::string& text, double font_size);

}  // namespace twig::cli
