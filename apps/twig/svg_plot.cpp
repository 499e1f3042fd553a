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
std::string num(double v) { return fmt("%.1f", v); }

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  bool inside(const Box& o) const { return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1; }
};

// Whether the segment (ax, ay)-(bx, by) passes through the box (Liang-Barsky clipping).
bool segment_hits(double ax, double ay, double bx, double by, const Box& b) {
  double t0 = 0, t1 = 1;
  const double dx = bx - ax, dy = by - ay;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {ax - b.x0, b.x1 - ax, ay - b.y0, b.y1 - ay};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
    } else {
      const double t = q[i] / p[i];
      if (p[i] < 0)
        t0 = std::max(t0, t);
      else
        t1 = std::min(t1, t);
    }
  }
  return t0 <= t1;
}

}  // namespace

double text_width(const std::string& text, double font_size) {
  // Sans-serif at 12 px: digits and lowercase letters are 6-7 px wide; 0.62 em errs wide.
  return 0.62 * font_size * static_cast<double>(text.size());
}

std::string accuracy_plot_svg(const std::vector<PlotSeries>& series, const std::string& title,
                              const std::string& subtitle) {
  constexpr double kFont = 12, kTitleFont = 15;
  const double width = std::max(720.0, std::max(text_width(title, kTitleFont), text_width(subtitle, kFont)) + 40);
  constexpr double kHeight = 460, kLeft = 64, kRight = 20, kTop = 64, kBottom = 56;
  const double plot_w = width - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const Box plot{kLeft, kTop, kLeft + plot_w, kTop + plot_h};

  // y range: the data's accuracies, widened to whole percents with a margin (room for labels).
  double lo = 1.0, hi = 0.0;
  for (const auto& s : series)
    for (const auto& p : s.points) lo = std::min(lo, p.y), hi = std::max(hi, p.y);
  if (lo > hi) lo = 0, hi = 1;
  const double margin = std::max(0.02, (hi - lo) * 0.25);
  lo = std::max(0.0, std::floor((lo - margin) * 100) / 100);
  hi = std::min(1.0, std::ceil((hi + margin) * 100) / 100);
  if (hi <= lo) hi = std::min(1.0, lo + 0.01), lo = hi - 0.01;
  auto px = [&](double x) { return kLeft + x * plot_w; };
  auto py = [&](double y) { return kTop + (hi - y) / (hi - lo) * plot_h; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", width) + "\" height=\"" +
                    fmt("%.0f", kHeight) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + num(width / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" +
         escape(title) + "</text>\n";
  if (!subtitle.empty())
    svg += "<text x=\"" + num(width / 2) + "\" y=\"44\" text-anchor=\"middle\" fill=\"#444444\">" + escape(subtitle) +
           "</text>\n";

  // Grid and ticks: x every 10%, y every whole percent step that gives at most 10 lines.
  const double y_step = std::max(0.01, std::ceil((hi - lo) * 100 / 10) / 100);
  for (int i = 0; i <= 10; ++i) {
    const double x = px(i / 10.0);
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x) + "\" y2=\"" + num(kTop + plot_h) +
           "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + num(x) + "\" y=\"" + num(kTop + plot_h + 18) + "\" text-anchor=\"middle\">" +
           fmt("%.0f", i * 10.0) + "</text>\n";
  }
  for (int i = 0;; ++i) {
    const double y = lo + i * y_step;
    if (y > hi + 1e-9) break;
    svg += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(y)) + "\" x2=\"" + num(kLeft + plot_w) + "\" y2=\"" +
           num(py(y)) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + num(kLeft - 8) + "\" y=\"" + num(py(y) + 4) + "\" text-anchor=\"end\">" +
           fmt("%.0f", y * 100) + "</text>\n";
  }
  svg += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(plot_w) + "\" height=\"" +
         num(plot_h) + "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + num(kLeft + plot_w / 2) + "\" y=\"" + num(kHeight - 14) +
         "\" text-anchor=\"middle\">sparsity of the conv/linear weights (%)</text>\n";
  svg += "<text transform=\"translate(20 " + num(kTop + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">test accuracy (%)</text>\n";

  // What labels and the legend must stay clear of: every segment and every dot.
  struct Segment {
    double ax, ay, bx, by;
  };
  std::vector<Segment> segments;
  std::vector<Box> taken;
  for (const auto& s : series) {
    for (size_t i = 0; i < s.points.size(); ++i) {
      const double x = px(s.points[i].x), y = py(s.points[i].y);
      taken.push_back({x - 5, y - 5, x + 5, y + 5});
      if (i > 0) segments.push_back({px(s.points[i - 1].x), py(s.points[i - 1].y), x, y});
    }
  }
  auto clear = [&](const Box& b) {
    if (!b.inside(plot)) return false;
    for (const Segment& g : segments)
      if (segment_hits(g.ax, g.ay, g.bx, g.by, b)) return false;
    for (const Box& t : taken)
      if (t.overlaps(b)) return false;
    return true;
  };

  // Lines and dots first, labels on top.
  std::string labels;
  for (const auto& s : series) {
    std::string pts;
    for (const auto& p : s.points) pts += num(px(p.x)) + "," + num(py(p.y)) + " ";
    if (s.points.size() > 1)
      svg += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
    for (const auto& p : s.points)
      svg += "<circle cx=\"" + num(px(p.x)) + "\" cy=\"" + num(py(p.y)) + "\" r=\"4\" fill=\"" + s.color + "\"/>\n";
  }
  // Each label goes to the first place around its point that is clear of every line, dot and
  // label placed before it (text box: 0.62 em per character, ascent 10 px, descent 3 px).
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      if (p.label.empty()) continue;
      const double x = px(p.x), y = py(p.y), w = text_width(p.label, kFont);
      struct Place {
        double dx, dy;  // from the point to the text's left end and baseline
      };
      const Place places[] = {{8, -8},      {-8 - w, -8}, {8, 16},      {-8 - w, 16}, {-w / 2, -12},
                              {-w / 2, 22}, {10, 4},      {-10 - w, 4}, {8, -22},     {-8 - w, -22}};
      Box best{};
      bool found = false;
      for (const Place& pl : places) {
        Box b{x + pl.dx, y + pl.dy - 10, x + pl.dx + w, y + pl.dy + 3};
        if (clear(b)) {
          best = b;
          found = true;
          break;
        }
      }
      if (!found) {  // nowhere clear: above right, kept inside the plot
        double bx = std::clamp(x + 8, plot.x0 + 2, plot.x1 - w - 2), by = std::clamp(y - 8, plot.y0 + 12, plot.y1 - 4);
        best = {bx, by - 10, bx + w, by + 3};
      }
      taken.push_back(best);
      labels += "<text x=\"" + num(best.x0) + "\" y=\"" + num(best.y1 - 3) + "\" fill=\"" + s.color + "\">" +
                escape(p.label) + "</text>\n";
    }
  }
  svg += labels;

  // The legend: a box inside the plot, in the first corner clear of the data and the labels.
  double name_w = 0;
  for (const auto& s : series) name_w = std::max(name_w, text_width(s.name, kFont));
  const double legend_w = name_w + 44, legend_h = 10 + 20 * static_cast<double>(series.size());
  const double pad = 8;
  const Box corners[] = {{plot.x0 + pad, plot.y1 - pad - legend_h, plot.x0 + pad + legend_w, plot.y1 - pad},
                         {plot.x1 - pad - legend_w, plot.y0 + pad, plot.x1 - pad, plot.y0 + pad + legend_h},
                         {plot.x1 - pad - legend_w, plot.y1 - pad - legend_h, plot.x1 - pad, plot.y1 - pad},
                         {plot.x0 + pad, plot.y0 + pad, plot.x0 + pad + legend_w, plot.y0 + pad + legend_h}};
  Box legend = corners[0];
  for (const Box& c : corners) {
    if (clear(c)) {
      legend = c;
      break;
    }
  }
  svg += "<rect x=\"" + num(legend.x0) + "\" y=\"" + num(legend.y0) + "\" width=\"" + num(legend_w) + "\" height=\"" +
         num(legend_h) + "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n";
  double ly = legend.y0 + 20;
  for (const auto& s : series) {
    svg += "<line x1=\"" + num(legend.x0 + 8) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(legend.x0 + 30) +
           "\" y2=\"" + num(ly - 4) + "\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
    svg += "<circle cx=\"" + num(legend.x0 + 19) + "\" cy=\"" + num(ly - 4) + "\" r=\"4\" fill=\"" + s.color + "\"/>\n";
    svg += "<text x=\"" + num(legend.x0 + 36) + "\" y=\"" + num(ly) + "\">" + escape(s.name) + "</text>\n";
    ly += 20;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace twig::cli
