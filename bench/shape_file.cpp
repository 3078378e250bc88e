#include "bench/shape_file.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "bench/arg_parse.hpp"

namespace attnrt::bench {

extern const char* const kTargetsText;  // targets_text.cpp, generated from bench/shapes/targets.txt

namespace {

Target parse_target(const std::string& text) {
  if (text == "-") return {};
  const auto eq = text.find('=');
  const std::string kind = text.substr(0, eq);
  Target t;
  if (eq == std::string::npos || (kind != "peak" && kind != "bw"))
    throw UsageError("target '" + text + "' must be peak=P, bw=P or -");
  t.kind = kind == "peak" ? Target::Kind::peak : Target::Kind::bw;
  const char* first = text.data() + eq + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, t.pct);
  if (ec != std::errc{} || end != last || !(t.pct > 0 && t.pct <= 100))
    throw UsageError("target '" + text + "' needs a percentage in (0, 100]");
  return t;
}

NamedShape parse_line(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() < 3) throw UsageError("expected NAME TARGET SHAPE OPTIONS");
  NamedShape n{.name = words[0], .shape = {}, .target = parse_target(words[1])};
  ShapeOptions shape;
  for (std::size_t i = 2; i < words.size(); ++i) {
    const std::string& opt = words[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= words.size()) throw UsageError(opt + " needs a value");
      return words[++i];
    };
    if (!shape.take(opt, value)) throw UsageError("'" + opt + "' is not a shape option");
  }
  n.shape = shape.shape();
  return n;
}

}  // namespace

std::vector<NamedShape> parse_shape_file(std::string_view text, const std::string& source) {
  std::vector<NamedShape> out;
  std::istringstream in{std::string(text)};
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(parse_line(line));
    } catch (const UsageError& e) {
      throw UsageError(source + " line " + std::to_string(number) + ": " + e.what());
    }
  }
  if (out.empty()) throw UsageError(source + ": no shape in it");
  return out;
}

std::vector<NamedShape> read_shape_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw UsageError("--shapes " + path + ": cannot read the file");
  std::stringstream text;
  text << f.rdbuf();
  return parse_shape_file(text.str(), path);
}

const std::vector<NamedShape>& target_shapes() {
  static const std::vector<NamedShape> shapes = parse_shape_file(kTargetsText, "bench/shapes/targets.txt");
  return shapes;
}

NamedShape with_target(const Shape& s) {
  for (const NamedShape& t : target_shapes())
    if (t.shape == s) return t;
  return {.name = "", .shape = s, .target = {}};
}

}  // namespace attnrt::bench
