#include "models/train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace minigraph {
namespace {

constexpr double kWidth = 720, kHeight = 420;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;

std::string Escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '&') {
      out += "&amp;";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// About five round tick values covering [low, high].
std::vector<double> Ticks(double low, double high) {
  const double span = high - low > 0 ? high - low : 1.0;
  const double raw = span / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + 1e-9 * span;
       t += step) {
    ticks.push_back(t);
  }
  return ticks;
}

}  // namespace

std::string LossPlotSvg(const LossCurves& curves) {
  double min_step = std::numeric_limits<double>::infinity();
  double max_step = -min_step, min_loss = min_step, max_loss = -min_step;
  for (const auto* series : {&curves.train, &curves.eval}) {
    for (const auto& [step, loss] : *series) {
      if (!std::isfinite(loss)) continue;
      min_step = std::min<double>(min_step, step);
      max_step = std::max<double>(max_step, step);
      min_loss = std::min(min_loss, loss);
      max_loss = std::max(max_loss, loss);
    }
  }
  if (!std::isfinite(min_step)) {
    min_step = 0, max_step = 1, min_loss = 0, max_loss = 1;
  }
  if (max_step == min_step) max_step = min_step + 1;
  if (max_loss == min_loss) max_loss = min_loss + 1;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  auto x_of = [&](double step) {
    return kLeft + (step - min_step) / (max_step - min_step) * plot_w;
  };
  auto y_of = [&](double loss) {
    return kTop + (max_loss - loss) / (max_loss - min_loss) * plot_h;
  };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight, kWidth, kHeight);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%g\" y=\"22\" font-size=\"15\">%s</text>\n",
                        kLeft, Escaped(curves.title));
  // Grid and axis labels.
  for (const double t : Ticks(min_loss, max_loss)) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
        "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
        kLeft, y_of(t), kWidth - kRight, y_of(t), kLeft - 6, y_of(t) + 4, t);
  }
  for (const double t : Ticks(min_step, max_step)) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n",
        x_of(t), kTop, x_of(t), kHeight - kBottom, x_of(t),
        kHeight - kBottom + 16, t);
  }
  absl::StrAppendFormat(
      &svg,
      "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
      "stroke=\"#444\"/>\n"
      "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">step</text>\n"
      "<text x=\"16\" y=\"%g\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 16 %g)\">loss</text>\n",
      kLeft, kTop, plot_w, plot_h, kLeft + plot_w / 2, kHeight - 12,
      kTop + plot_h / 2, kTop + plot_h / 2);
  auto polyline = [&](const std::vector<std::pair<int64_t, double>>& series,
                      const char* color, double width) {
    std::string points;
    for (const auto& [step, loss] : series) {
      if (!std::isfinite(loss)) continue;
      absl::StrAppendFormat(&points, "%.1f,%.1f ", x_of(step), y_of(loss));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"%g\" points=\"%s\"/>\n",
                          color, width, points);
  };
  polyline(curves.train, "#1f77b4", 1.2);
  polyline(curves.eval, "#d62728", 2.0);
  for (const auto& [step, loss] : curves.eval) {
    if (!std::isfinite(loss)) continue;
    absl::StrAppendFormat(&svg,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                          "fill=\"#d62728\"/>\n",
                          x_of(step), y_of(loss));
  }
  // Legend.
  const double lx = kWidth - kRight - 150;
  absl::StrAppendFormat(
      &svg,
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#1f77b4\" "
      "stroke-width=\"2\"/><text x=\"%g\" y=\"%g\">train loss</text>\n"
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#d62728\" "
      "stroke-width=\"2\"/><text x=\"%g\" y=\"%g\">eval loss</text>\n",
      lx, kTop + 14, lx + 24, kTop + 14, lx + 30, kTop + 18, lx, kTop + 32,
      lx + 24, kTop + 32, lx + 30, kTop + 36);
  svg += "</svg>\n";
  return svg;
}

}  // namespace minigraph
