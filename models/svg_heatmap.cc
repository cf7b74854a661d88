#include "models/svg_heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace minigraph {
namespace {

// A white-to-navy ramp: light cells are weights near 0, dark near 1.
std::string Colour(double value) {
  struct Stop {
    double at;
    int r, g, b;
  };
  static const Stop kStops[] = {{0.0, 255, 255, 255},
                                {0.25, 198, 219, 239},
                                {0.5, 107, 174, 214},
                                {0.75, 33, 113, 181},
                                {1.0, 8, 48, 107}};
  const double v = std::clamp(value, 0.0, 1.0);
  int i = 0;
  while (i < 3 && v > kStops[i + 1].at) ++i;
  const Stop& lo = kStops[i];
  const Stop& hi = kStops[i + 1];
  const double t = (v - lo.at) / (hi.at - lo.at);
  auto mix = [t](int a, int b) {
    return static_cast<int>(std::lround(a + (b - a) * t));
  };
  return absl::StrFormat("#%02x%02x%02x", mix(lo.r, hi.r), mix(lo.g, hi.g),
                         mix(lo.b, hi.b));
}

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
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

struct PanelGeometry {
  int cell, label_width, label_height, width, height;
};

PanelGeometry Measure(const HeatmapPanel& p) {
  PanelGeometry g;
  const int longest = std::max(p.rows, p.cols);
  g.cell = std::clamp(360 / std::max(longest, 1), 16, 48);
  size_t row_chars = 0, col_chars = 0;
  for (const std::string& s : p.row_labels)
    row_chars = std::max(row_chars, s.size());
  for (const std::string& s : p.col_labels)
    col_chars = std::max(col_chars, s.size());
  g.label_width = 10 + 7 * static_cast<int>(row_chars);
  // Column labels are turned 45 degrees: their height grows with length.
  g.label_height = 10 + static_cast<int>(5 * col_chars);
  g.width = g.label_width + p.cols * g.cell + 20;
  g.height = 28 + g.label_height + p.rows * g.cell + 10;
  return g;
}

void DrawPanel(const HeatmapPanel& p, int x0, int y0, std::string& svg) {
  const PanelGeometry g = Measure(p);
  absl::StrAppend(&svg, "<text x=\"", x0 + g.label_width, "\" y=\"", y0 + 16,
                  "\" class=\"title\">", Escape(p.title), "</text>\n");
  const int top = y0 + 28 + g.label_height;
  const int left = x0 + g.label_width;
  const int font = std::max(8, g.cell / 3);
  for (int c = 0; c < p.cols && c < static_cast<int>(p.col_labels.size());
       ++c) {
    const int cx = left + c * g.cell + g.cell / 2;
    absl::StrAppend(&svg, "<text x=\"", cx, "\" y=\"", top - 4,
                    "\" class=\"label\" transform=\"rotate(-45 ", cx, " ",
                    top - 4, ")\">", Escape(p.col_labels[c]), "</text>\n");
  }
  for (int r = 0; r < p.rows; ++r) {
    const int cy = top + r * g.cell;
    if (r < static_cast<int>(p.row_labels.size())) {
      absl::StrAppend(&svg, "<text x=\"", left - 4, "\" y=\"",
                      cy + g.cell / 2 + 4,
                      "\" class=\"label\" "
                      "text-anchor=\"end\">",
                      Escape(p.row_labels[r]), "</text>\n");
    }
    for (int c = 0; c < p.cols; ++c) {
      const size_t i = static_cast<size_t>(r) * p.cols + c;
      const int cx = left + c * g.cell;
      const bool masked = i < p.masked.size() && p.masked[i];
      const double v = i < p.values.size() ? p.values[i] : 0.0;
      absl::StrAppend(&svg, "<rect x=\"", cx, "\" y=\"", cy, "\" width=\"",
                      g.cell, "\" height=\"", g.cell, "\" fill=\"",
                      masked ? "#d9d9d9" : Colour(v),
                      "\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n");
      if (masked) {
        absl::StrAppend(&svg, "<line x1=\"", cx + 3, "\" y1=\"",
                        cy + g.cell - 3, "\" x2=\"", cx + g.cell - 3,
                        "\" y2=\"", cy + 3,
                        "\" stroke=\"#9e9e9e\" stroke-width=\"1\"/>\n");
      } else if (p.show_values && g.cell >= 24) {
        absl::StrAppend(&svg, "<text x=\"", cx + g.cell / 2, "\" y=\"",
                        cy + g.cell / 2 + font / 3, "\" font-size=\"", font,
                        "\" text-anchor=\"middle\" fill=\"",
                        v > 0.55 ? "#ffffff" : "#222222", "\">",
                        absl::StrFormat("%.2f", v), "</text>\n");
      }
    }
  }
}

}  // namespace

HeatmapPanel PanelFromTensor(const Tensor& weights, std::string title) {
  HeatmapPanel panel;
  panel.title = std::move(title);
  panel.rows = static_cast<int>(weights.size(0));
  panel.cols = static_cast<int>(weights.size(1));
  panel.values = weights.ToVector<double>();
  for (int r = 0; r < panel.rows; ++r) {
    panel.row_labels.push_back(absl::StrCat("q", r));
  }
  for (int c = 0; c < panel.cols; ++c) {
    panel.col_labels.push_back(absl::StrCat("k", c));
  }
  return panel;
}

std::string RenderHeatmapSvg(const std::vector<HeatmapPanel>& panels,
                             const std::string& title, int per_row) {
  per_row = std::max(per_row, 1);
  // Grid of panels: each column as wide as its widest panel, each row as
  // tall as its tallest.
  const int count = static_cast<int>(panels.size());
  const int grid_rows = (count + per_row - 1) / per_row;
  std::vector<int> col_width(per_row, 0), row_height(grid_rows, 0);
  for (int i = 0; i < count; ++i) {
    const PanelGeometry g = Measure(panels[i]);
    col_width[i % per_row] = std::max(col_width[i % per_row], g.width);
    row_height[i / per_row] = std::max(row_height[i / per_row], g.height);
  }
  int width = 20, height = 44;
  for (int w : col_width) width += w;
  for (int h : row_height) height += h;
  const int bar_height = 40;
  width = std::max(width, 360);
  height += bar_height;

  std::string svg = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width,
      "\" height=\"", height, "\" viewBox=\"0 0 ", width, " ", height,
      "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
      "<style>.title{font-size:13px;font-weight:bold}"
      ".label{font-size:11px;fill:#333333}</style>\n",
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
      "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">",
      Escape(title), "</text>\n");
  int y = 44;
  for (int r = 0; r < grid_rows; ++r) {
    int x = 10;
    for (int c = 0; c < per_row && r * per_row + c < count; ++c) {
      DrawPanel(panels[r * per_row + c], x, y, svg);
      x += col_width[c];
    }
    y += row_height[r];
  }
  // Colour bar: 0 to 1, and the masked swatch.
  const int bar_x = 10, bar_y = y + 6, steps = 20, step_w = 10;
  for (int s = 0; s < steps; ++s) {
    absl::StrAppend(&svg, "<rect x=\"", bar_x + s * step_w, "\" y=\"", bar_y,
                    "\" width=\"", step_w, "\" height=\"12\" fill=\"",
                    Colour((s + 0.5) / steps), "\"/>\n");
  }
  absl::StrAppend(&svg, "<text x=\"", bar_x, "\" y=\"", bar_y + 26,
                  "\" class=\"label\">0</text>\n<text x=\"",
                  bar_x + steps * step_w, "\" y=\"", bar_y + 26,
                  "\" class=\"label\" text-anchor=\"end\">1</text>\n");
  bool any_masked = false;
  for (const HeatmapPanel& panel : panels) {
    for (bool masked : panel.masked) any_masked = any_masked || masked;
  }
  if (any_masked) {
    absl::StrAppend(
        &svg, "<rect x=\"", bar_x + steps * step_w + 20, "\" y=\"", bar_y,
        "\" width=\"12\" height=\"12\" fill=\"#d9d9d9\"/>\n<text x=\"",
        bar_x + steps * step_w + 38, "\" y=\"", bar_y + 11,
        "\" class=\"label\">masked (weight 0)</text>\n");
  }
  svg += "</svg>\n";
  return svg;
}

absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << contents;
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return absl::UnavailableError(
          absl::StrCat(path, ": cannot write the file"));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot rename the temporary file into place"));
  }
  return absl::OkStatus();
}

std::string OutputPath(const std::string& file_name) {
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return file_name;
  return absl::StrCat(dir, "/", file_name);
}

}  // namespace minigraph
