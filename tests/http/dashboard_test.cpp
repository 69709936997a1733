// GET /: the dashboard, loaded in headless Chromium against running queries:
// the DOM shows each query and operator, plots that change over time and
// failures in red; a screenshot that is not blank.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/wait.h>

#include "http/http_client.hpp"
#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct Pass : KeyedProcessFunction<std::int64_t, std::int64_t, std::int64_t> {
  void process(const std::int64_t& v, Context&, Collector<std::int64_t>& out) { out.emit(v); }
};

struct Run {
  int exit_code = -1;
  std::string output;
};

Run run(const std::string& cmd) {
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Headless Chromium with a profile of its own (tests may run in parallel);
// --virtual-time-budget lets the page poll several times before the dump.
std::string chromium(const std::string& args) {
  const std::string exe = SLUICE_CHROMIUM;
  if (exe.empty() || exe.find("NOTFOUND") != std::string::npos)
    FAIL("chromium not found: run tools/install-deps.sh (Debian package 'chromium') and re-run cmake");
  char dir[] = "/tmp/sluice-chromium-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const Run r = run("timeout 90 " + exe + " --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars "
                    "--user-data-dir=" + dir + " " + args + " 2>/dev/null");
  run(std::string("rm -rf ") + dir);
  INFO(r.output.substr(0, 2000));
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::size_t file_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return f ? static_cast<std::size_t>(f.tellg()) : 0;
}

}  // namespace

TEST_CASE("GET /: the dashboard in headless Chromium shows every query, operator, live plots and failures", "[http]") {
  Engine engine(EngineOptions{.workers = 2});
  HttpServer http(engine, {.listen = "127.0.0.1:0"});

  Job traffic("traffic");
  traffic.source(Generator(GeneratorOptions{.count = 0, .events_per_second = 100'000}, identity, "payments"))
      .key_by([](std::int64_t v) { return v % 7; })
      .process(Pass{})
      .name("detector")
      .sink(CollectSink<std::int64_t>{}, "alerts");
  auto running = engine.start("traffic", traffic, workers(2));

  Job broken("broken");
  broken.source(Generator(GeneratorOptions{.count = 100}, identity, "input"))
      .map([](std::int64_t v) {
        if (v == 3) throw std::runtime_error("bad value 3");
        return v;
      })
      .name("parse")
      .sink(CollectSink<std::int64_t>{}, "out");
  auto failed = engine.start("broken", broken, workers(1));
  REQUIRE(failed->wait_for(20s));

  const HttpReply page = http_get(http.port(), "/");
  REQUIRE(page.status == 200);
  CHECK(page.headers.at("content-type") == "text/html; charset=utf-8");
  CHECK(page.body.find("<title>Sluice</title>") != std::string::npos);
  // Self-contained: no CDN, nothing fetched elsewhere (the one URL is SVG's namespace name).
  CHECK(count(page.body, "http://") == count(page.body, "\"http://www.w3.org/2000/svg\""));
  CHECK(count(page.body, "https://") == 0);
  CHECK(count(page.body, "<script src") == 0);
  CHECK(count(page.body, "<link") == 0);

  const std::string dom =
      chromium("--virtual-time-budget=4000 --dump-dom '" + http.url() + "/?interval=200'");
  INFO(dom.substr(0, 4000));
  // Each query, its state, and each operator of its graph.
  CHECK(count(dom, R"(data-query="traffic" data-state="running")") == 1);
  CHECK(count(dom, R"(class="query failed" data-query="broken" data-state="failed")") == 1);
  for (const char* op : {"payments", "key_by#1", "detector", "alerts", "input", "parse", "out"})
    CHECK(count(dom, std::string("data-operator=\"") + op + "\"") == 1);
  CHECK(count(dom, R"(class="node failed" data-operator="parse")") == 1);  // the failed operator, in red
  CHECK(dom.find(R"(<div class="error" data-operator-failed="parse">worker 0: operator 'parse': bad value 3</div>)") !=
        std::string::npos);
  CHECK(count(dom, "data-edge=") == 5);  // 3 in traffic, 2 in broken

  // The page polled several times and the throughput plot moved.
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex(R"re(data-polls="(\d+)")re")));
  CHECK(std::stoi(m[1]) >= 3);
  const std::regex chart(R"re(data-metric="throughput" data-points="(\d+)"[^]*?<polyline points="([^"]*)")re");
  const std::string traffic_panel = dom.substr(dom.find(R"(data-query="traffic")"));
  REQUIRE(std::regex_search(traffic_panel, m, chart));
  CHECK(std::stoi(m[1]) >= 3);
  std::set<std::string> ys;
  std::istringstream pts(m[2].str());
  for (std::string xy; pts >> xy;) ys.insert(xy.substr(xy.find(',') + 1));
  CHECK(ys.size() >= 2);  // not a flat line: the rate was measured

  // A screenshot of the page holds far more than a blank page's.
  // Kept in the build tree for people to look at.
  const std::string shot = std::string(SLUICE_TEST_OUTPUT_DIR) + "/dashboard.png";
  const std::string blank = std::string(SLUICE_TEST_OUTPUT_DIR) + "/dashboard-blank.png";
  chromium("--window-size=1280,1000 --virtual-time-budget=3000 --screenshot=" + shot + " '" + http.url() + "/?interval=200'");
  chromium("--window-size=1280,1000 --screenshot=" + blank + " 'data:text/html,<html><body></body></html>'");
  const std::size_t page_bytes = file_size(shot), blank_bytes = file_size(blank);
  INFO("dashboard " << page_bytes << " bytes, blank " << blank_bytes << " bytes");
  CHECK(blank_bytes > 0);
  CHECK(page_bytes > 8 * blank_bytes);
  running->stop();
}
