// The HTTP server's robustness: unknown paths, wrong methods, malformed and
// oversized requests, slow clients, the connection bound, and that nothing
// the server does (failing to bind, stopping mid-request) stops a query.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <thread>

#include "http/http_client.hpp"
#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
namespace asio = boost::asio;

namespace {

// An unbounded query counting what reaches its sink.
struct Running {
  std::shared_ptr<std::atomic<std::uint64_t>> count = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<Query> query;

  Running(Engine& engine, const std::string& name) {
    Job job(name);
    auto c = count;
    job.source(Generator(GeneratorOptions{.count = 0}, identity, "gen"))
        .sink(CallbackSink<std::int64_t>([c](const std::int64_t&) { c->fetch_add(1, std::memory_order_relaxed); }));
    query = engine.start(name, job, workers(1));
  }
  // True once the sink has seen more records than now: the query still runs.
  bool keeps_running() const {
    const std::uint64_t before = count->load();
    return eventually([&] { return count->load() > before; }) && query->status().state == QueryState::kRunning;
  }
};

struct KeyedPass : KeyedProcessFunction<std::int64_t, std::int64_t, std::int64_t> {
  void process(const std::int64_t& v, Context&, Collector<std::int64_t>& out) { out.emit(v); }
};

HttpServerOptions loopback() { return HttpServerOptions{.listen = "127.0.0.1:0"}; }

}  // namespace

TEST_CASE("http: unknown paths are 404, other methods on known paths 405 with Allow: GET", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  HttpServer http(engine, loopback());
  CHECK(http.url() == "http://127.0.0.1:" + std::to_string(http.port()));
  CHECK(http.port() != 0);

  for (const char* path : {"/nope", "/metrics/x", "/api", "/api/queriesx", "/METRICS"}) {
    const HttpReply r = http_get(http.port(), path);
    INFO(path);
    CHECK(r.status == 404);
    CHECK(r.body == "not found\n");
  }
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD"}) {
    for (const char* path : {"/metrics", "/api/queries", "/api/queries/x"}) {
      const HttpReply r = http_request(http.port(), method, path);
      INFO(method << " " << path);
      CHECK(r.status == 405);
      CHECK(r.headers.at("allow") == "GET");
    }
  }
  CHECK(http_get(http.port(), "/metrics?x=1").status == 200);  // a query string is ignored
}

TEST_CASE("http: malformed requests get 400 and the connection is closed", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  HttpServer http(engine, loopback());
  for (const std::string req : {std::string("GARBAGE\r\n\r\n"), std::string("GET /metrics HTTP/9.9\r\n\r\n"),
                                std::string("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"),
                                std::string("GET metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
                                std::string("GET /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                                std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)}) {
    // Well within the server's request timeout (10 s): closed after the answer.
    const RawReply raw = exchange_raw(http.port(), req, 5s);
    INFO(req);
    CHECK(!raw.timed_out);
    const HttpReply r = parse_reply(raw);
    CHECK(r.status == 400);
  }
  CHECK(http_get(http.port(), "/metrics").status == 200);  // still serving
}

TEST_CASE("http: oversized headers get 431, oversized bodies 413", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  HttpServer http(engine, loopback());
  const std::string big(20'000, 'a');
  HttpReply r = parse_reply(exchange_raw(http.port(), "GET /metrics HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n"));
  CHECK(r.status == 431);
  r = parse_reply(exchange_raw(http.port(), "GET /" + big + " HTTP/1.1\r\n\r\n"));
  CHECK(r.status == 431);
  r = parse_reply(exchange_raw(http.port(), "GET /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"));
  CHECK(r.status == 413);
  r = parse_reply(exchange_raw(http.port(), "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "2710\r\n" + std::string(10'000, 'b') + "\r\n0\r\n\r\n"));
  CHECK(r.status == 413);
  CHECK(http_get(http.port(), "/metrics").status == 200);
}

TEST_CASE("http: a client that does not finish its request within the timeout is disconnected", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  HttpServerOptions o = loopback();
  o.request_timeout_ms = std::chrono::milliseconds(200);
  HttpServer http(engine, o);
  for (const std::string partial : {std::string(""), std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n")}) {
    const auto t0 = std::chrono::steady_clock::now();
    const RawReply raw = exchange_raw(http.port(), partial, 20s);
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(!raw.timed_out);  // the server closed it
    CHECK(raw.data.empty());
    CHECK(waited >= 150ms);  // not before the timeout (timer slack aside)
  }
  CHECK(eventually([&] { return http.active_connections() == 0; }));
  // A kept-alive connection gets several answers, then is closed when idle.
  const RawReply two = exchange_raw(http.port(), "GET /metrics HTTP/1.1\r\n\r\nGET /api/queries HTTP/1.1\r\n\r\n", 20s);
  CHECK(!two.timed_out);
  std::size_t answers = 0;
  for (auto at = two.data.find("HTTP/1.1 200 OK"); at != std::string::npos; at = two.data.find("HTTP/1.1 200 OK", at + 1))
    ++answers;
  CHECK(answers == 2);
}

TEST_CASE("http: beyond max_connections a new connection gets 503; freed slots serve again", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  HttpServerOptions o = loopback();
  o.max_connections = 2;
  HttpServer http(engine, o);
  asio::io_context ioc;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), http.port());
  asio::ip::tcp::socket a(ioc), b(ioc);
  a.connect(ep);
  b.connect(ep);
  REQUIRE(eventually([&] { return http.active_connections() == 2; }));
  const HttpReply busy = http_get(http.port(), "/metrics");
  CHECK(busy.status == 503);
  CHECK(busy.body == "too many open connections\n");
  a.close();
  REQUIRE(eventually([&] { return http.active_connections() == 1; }));
  CHECK(http_get(http.port(), "/metrics").status == 200);
  b.close();
  CHECK(eventually([&] { return http.active_connections() == 0; }));
}

TEST_CASE("http: bad options throw naming the field; an address in use throws; queries go on", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  Running q(engine, "q");
  for (const char* listen : {"127.0.0.1", "localhost:80", "127.0.0.1:99999", "127.0.0.1:x", "[::1:9"}) {
    INFO(listen);
    try {
      HttpServer http(engine, {.listen = listen});
      FAIL("expected ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.field() == "listen");
    }
  }
  CHECK_THROWS_AS(HttpServer(engine, {.listen = "127.0.0.1:0", .max_connections = 0}), ConfigError);
  HttpServer first(engine, loopback());
  try {
    HttpServer second(engine, {.listen = "127.0.0.1:" + std::to_string(first.port())});
    FAIL("expected SluiceError");
  } catch (const ConfigError&) {
    FAIL("expected SluiceError, not ConfigError");
  } catch (const SluiceError& e) {
    CHECK(std::string(e.what()).find("http: cannot listen on 127.0.0.1:" + std::to_string(first.port())) == 0);
  }
  CHECK(q.keeps_running());
}

TEST_CASE("http: stopping the server mid-request, with clients connected, never stops a query", "[http]") {
  Engine engine(EngineOptions{.workers = 1});
  Running q(engine, "q");
  asio::io_context ioc;
  asio::ip::tcp::socket idle(ioc), partial(ioc);
  {
    HttpServer http(engine, loopback());
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), http.port());
    idle.connect(ep);
    partial.connect(ep);
    asio::write(partial, asio::buffer(std::string("GET /metrics HTTP/1.1\r\n")));
    REQUIRE(eventually([&] { return http.active_connections() == 2; }));
    REQUIRE(http_get(http.port(), "/api/queries/q").status == 200);
  }  // destroyed with two connections open
  CHECK(q.keeps_running());
  // The connections were closed by the server.
  std::string rest;
  boost::system::error_code ec;
  asio::read(partial, asio::dynamic_buffer(rest), ec);
  CHECK(ec == asio::error::eof);
  // A new server on the same engine serves the same query.
  HttpServer again(engine, loopback());
  CHECK(http_get(again.port(), "/api/queries/q").status == 200);
  CHECK(q.keeps_running());
}

TEST_CASE("http: queries start and stop 100 times while a client scrapes", "[http]") {
  Engine engine(EngineOptions{.workers = 2});
  HttpServer http(engine, loopback());
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0}, failures{0};
  std::thread scraper([&] {
    while (!done.load()) {
      for (const char* path : {"/metrics", "/api/queries", "/api/queries/q"}) {
        const int status = http_get(http.port(), path).status;
        if (status != 200 && status != 404) ++failures;
        ++scrapes;
      }
    }
  });
  for (int i = 0; i < 100; ++i) {
    Job job("q");
    job.source(Generator(GeneratorOptions{.count = 1000, .chunk = 16}, identity, "gen"))
        .key_by([](std::int64_t v) { return v % 3; })
        .process(KeyedPass{})
        .sink(CollectSink<std::int64_t>{});
    auto q = engine.start("q", job, workers(2));
    const int seen = scrapes.load();
    REQUIRE(eventually([&] { return scrapes.load() > seen; }));  // a scrape overlaps every run
    if (i % 2 == 0) q->stop(); else q->wait();
    if (i % 3 == 0) engine.remove("q");
  }
  done = true;
  scraper.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("http: an engine with its server, a query and a scrape, created and destroyed 100 times", "[http]") {
  for (int i = 0; i < 100; ++i) {
    Engine engine(EngineOptions{.workers = 2});
    HttpServer http(engine, loopback());
    Running q(engine, "q");
    asio::io_context ioc;
    asio::ip::tcp::socket idle(ioc);  // left open: the server closes it on destruction
    idle.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), http.port()));
    const HttpReply r = http_get(http.port(), i % 2 ? "/metrics" : "/api/queries/q");
    REQUIRE(r.status == 200);
    if (i % 3 == 0) q.query->stop();
  }  // server first, then the engine (cancelling the query)
}
