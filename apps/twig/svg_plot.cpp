#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace twig::cli {

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string accuracy_plot_svg(const std::vector<PlotSeries>& series, const std::string& title) {
  constexpr double kW = 640, kH = 420, kLeft = 70, kRight = 170, kTop = 40, kBottom = 55;
  const double plot_w = kW - kLeft - kRight, plot_h = kH - kTop - kBottom;
  // y range: the data's accuracies, widened to whole percents with a margin.
  double lo = 1.0, hi = 0.0;
  for (const auto& s : series)
    for (const auto& p : s.points) lo = std::min(lo, p.y), hi = std::max(hi, p.y);
  if (lo > hi) lo = 0, hi = 1;
  lo = std::max(0.0, std::floor(lo * 100 - 1) / 100);
  hi = std::min(1.0, std::ceil(hi * 100 + 1) / 100);
  auto px = [&](double x) { return kLeft + x * plot_w; };
  auto py = [&](double y) { return kTop + (hi - y) / (hi - lo) * plot_h; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", kW) + "\" height=\"" + fmt("%.0f", kH) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.1f", kLeft + plot_w / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape(title) +
         "</text>\n";
  // Grid and ticks: x every 10%, y every whole percent step that gives at most 10 lines.
  double y_step = std::max(0.01, std::ceil((hi - lo) * 100 / 10) / 100);
  for (int i = 0; i <= 10; ++i) {
    double x = px(i / 10.0);
    svg += "<line x1=\"" + fmt("%.1f", x) + "\" y1=\"" + fmt("%.1f", kTop) + "\" x2=\"" + fmt("%.1f", x) + "\" y2=\"" +
           fmt("%.1f", kTop + plot_h) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", kTop + plot_h + 18) + "\" text-anchor=\"middle\">" +
           fmt("%.0f", i * 10.0) + "</text>\n";
  }
  for (double y = lo; y <= hi + 1e-9; y += y_step) {
    svg += "<line x1=\"" + fmt("%.1f", kLeft) + "\" y1=\"" + fmt("%.1f", py(y)) + "\" x2=\"" + fmt("%.1f", kLeft + plot_w) +
           "\" y2=\"" + fmt("%.1f", py(y)) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", kLeft - 8) + "\" y=\"" + fmt("%.1f", py(y) + 4) + "\" text-anchor=\"end\">" +
           fmt("%.0f", y * 100) + "</text>\n";
  }
  svg += "<rect x=\"" + fmt("%.1f", kLeft) + "\" y=\"" + fmt("%.1f", kTop) + "\" width=\"" + fmt("%.1f", plot_w) + "\" height=\"" +
         fmt("%.1f", plot_h) + "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + fmt("%.1f", kLeft + plot_w / 2) + "\" y=\"" + fmt("%.1f", kH - 12) +
         "\" text-anchor=\"middle\">sparsity of conv/linear weights (%)</text>\n";
  svg += "<text transform=\"translate(18 " + fmt("%.1f", kTop + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">test accuracy (%)</text>\n";
  // Series: a polyline through the points, a dot and a label at each.
  double legend_y = kTop + 10;
  for (const auto& s : series) {
    std::string pts;
    for (const auto& p : s.points) pts += fmt("%.1f", px(p.x)) + "," + fmt("%.1f", py(p.y)) + " ";
    if (s.points.size() > 1)
      svg += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
    for (const auto& p : s.points) {
      svg += "<circle cx=\"" + fmt("%.1f", px(p.x)) + "\" cy=\"" + fmt("%.1f", py(p.y)) + "\" r=\"4\" fill=\"" + s.color + "\"/>\n";
      if (!p.label.empty())
        svg += "<text x=\"" + fmt("%.1f", px(p.x) + 6) + "\" y=\"" + fmt("%.1f", py(p.y) - 6) + "\" fill=\"" + s.color + "\">" +
               escape(p.label) + "</text>\n";
    }
    svg += "<rect x=\"" + fmt("%.1f", kLeft + plot_w + 15) + "\" y=\"" + fmt("%.1f", legend_y - 9) + "\" width=\"12\" height=\"12\" fill=\"" +
           s.color + "\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", kLeft + plot_w + 32) + "\" y=\"" + fmt("%.1f", legend_y + 1) + "\">" + escape(s.name) + "</text>\n";
    legend_y += 20;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace twig::cli
