#include "support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "dialect/connection_target.h"

namespace cc::test {

std::filesystem::path source_dir() { return CONSTRAINTCTL_SOURCE_DIR; }

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("cctest-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << "command failed: " << command;
}

static std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

void make_sqlite_fixture(const std::filesystem::path& path, int n) {
  shell(sh_quote((source_dir() / "scripts/make-fixture").string()) + " --force sqlite " + sh_quote(path.string()) + " " +
        std::to_string(n) + " 2>/dev/null");
}

nlohmann::json expected_counts(int n) {
  return nlohmann::json::parse(read_file(source_dir() / "fixtures/expected" / (std::to_string(n) + ".json")));
}

std::string postgres_url() {
  const char* url = std::getenv("CONSTRAINTCTL_TEST_PG");
  return url ? url : "";
}

static std::string with_dbname(const std::string& base, const std::string& db) {
  // postgresql://user@host:port/dbname?params -> same with another dbname
  auto scheme = base.find("://");
  auto slash = base.find('/', scheme + 3);
  auto query = base.find('?', scheme + 3);
  std::string head = base.substr(0, slash == std::string::npos ? (query == std::string::npos ? base.size() : query) : slash);
  std::string tail = query == std::string::npos ? "" : base.substr(query);
  return head + "/" + db + tail;
}

PgDatabase::PgDatabase() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = "cct_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
  url_ = with_dbname(postgres_url(), name_);
  auto admin = connect(postgres_url());
  admin->execute("CREATE DATABASE " + name_);
}

DropRoleAtEnd::~DropRoleAtEnd() {
  try {
    db.psql("DROP OWNED BY " + role + "; DROP ROLE IF EXISTS " + role);
  } catch (...) {
    // Best effort: the throwaway server goes away with the run.
  }
}

PgDatabase::~PgDatabase() {
  try {
    auto admin = connect(postgres_url());
    admin->execute("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

void PgDatabase::load_fixture(int n) const {
  shell(sh_quote((source_dir() / "scripts/make-fixture").string()) + " postgres " + sh_quote(url_) + " " + std::to_string(n) +
        " 2>/dev/null");
}

void PgDatabase::psql(const std::string& sql) const {
  auto db = connect(url_);
  db->execute(sql);
}

static int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

static bool accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

Pgbouncer::Pgbouncer(const std::string& pool_mode, int pool_size) {
  const char* pgport = std::getenv("PGPORT");
  if (postgres_url().empty() || !pgport) {
    why_ = "no throwaway PostgreSQL (CONSTRAINTCTL_TEST_PG / PGPORT unset)";
    return;
  }
  const std::string bin = std::filesystem::exists("/usr/sbin/pgbouncer") ? "/usr/sbin/pgbouncer" : "pgbouncer";
  port_ = free_port();
  const auto dir = dir_.path().string();
  write_file(dir_ / "users.txt", "\"postgres\" \"\"\n");
  // server_reset_query is left empty, as transaction pooling requires: state a
  // client leaves on a server connection reaches the next client.
  write_file(dir_ / "pgbouncer.ini",
             "[databases]\n* = host=127.0.0.1 port=" + std::string(pgport) +
                 "\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + std::to_string(port_) +
                 "\nunix_socket_dir =\nauth_type = trust\nauth_file = " + dir + "/users.txt\npool_mode = " + pool_mode +
                 "\ndefault_pool_size = " + std::to_string(pool_size) +
                 "\nmax_client_conn = 100\nserver_reset_query =\nlogfile = " + dir +
                 "/pgbouncer.log\npidfile = " + dir + "/pgbouncer.pid\n");
  // pgbouncer refuses to run as root: run it as the cluster's owner then.
  std::string as_user;
  if (getuid() == 0) {
    as_user = "runuser -u postgres -- ";
    if (std::system(("chown -R postgres: " + sh_quote(dir)).c_str()) != 0) {
      why_ = "cannot hand " + dir + " to the postgres user";
      return;
    }
  }
  if (std::system((as_user + bin + " -d -q " + sh_quote(dir + "/pgbouncer.ini") + " 2>" + sh_quote(dir + "/start.err"))
                      .c_str()) != 0) {
    why_ = "pgbouncer did not start: " + read_file(dir_ / "start.err") + read_file(dir_ / "pgbouncer.log");
    return;
  }
  // It listens before (or after) it writes its pid file: wait for both.
  for (int i = 0; i < 200; ++i) {
    pid_ = std::filesystem::exists(dir_ / "pgbouncer.pid") ? std::atol(read_file(dir_ / "pgbouncer.pid").c_str()) : 0;
    if (pid_ > 0 && accepts(port_)) break;
    usleep(50'000);
  }
  if (pid_ <= 0 || !accepts(port_)) {
    why_ = "pgbouncer is not listening on port " + std::to_string(port_) + ": " + read_file(dir_ / "pgbouncer.log");
    if (pid_ > 0) kill(static_cast<pid_t>(pid_), SIGTERM);
    pid_ = 0;
  }
}

Pgbouncer::~Pgbouncer() {
  if (pid_ <= 0) return;
  kill(static_cast<pid_t>(pid_), SIGTERM);  // only the pgbouncer this helper started
  for (int i = 0; i < 100 && kill(static_cast<pid_t>(pid_), 0) == 0; ++i) usleep(50'000);
}

std::string Pgbouncer::url(const std::string& dbname) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
}

std::unique_ptr<dialect::Connection> connect(const std::string& url, bool read_only) {
  dialect::ConnectOptions opts;
  opts.read_only = read_only;
  return dialect::open_connection(dialect::parse_connection_target(url), opts);
}

RunResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& cwd, const std::vector<std::string>& env) {
  TempDir tmp;
  const auto out_path = tmp / "out", err_path = tmp / "err";
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(127);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    unsetenv("CONSTRAINTCTL_DB");
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv;
    std::string bin = CONSTRAINTCTL_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

void DialectTest::SetUp() {
  if (pg()) {
    CC_REQUIRE_POSTGRES();
    pgdb_ = std::make_unique<PgDatabase>();
    url_ = pgdb_->url();
  } else {
    shell("sqlite3 " + (dir_ / "app.db").string() + " 'PRAGMA user_version = 1'");
    url_ = "sqlite:" + (dir_ / "app.db").string();
  }
}

void DialectTest::load_fixture(int n) {
  if (pg()) {
    pgdb_->load_fixture(n);
  } else {
    make_sqlite_fixture(dir_ / "app.db", n);
  }
}

void DialectTest::exec(const std::string& sql) const { connect(url_)->execute(sql); }

std::int64_t DialectTest::scalar(const std::string& sql) const {
  std::int64_t v = -1;
  connect(url_)->query(sql, [&](const dialect::Row& r) { v = dialect::value_int(r[0]); });
  return v;
}

std::string DialectTest::content(const std::vector<std::string>& tables) const {
  std::string out;
  auto db = connect(url_);
  for (const auto& t : tables) {
    out += "-- " + t + "\n";
    db->query("SELECT * FROM " + t + " ORDER BY 1", [&](const dialect::Row& r) {
      for (const auto& v : r) out += dialect::value_text(v) + "|";
      out += "\n";
    });
  }
  return out;
}

RunResult DialectTest::cli(std::vector<std::string> args, const std::filesystem::path& cwd) const {
  args.insert(args.begin(), {"--db", url_});
  return run_cli(args, cwd);
}

bool sqlite_native_alter() { return dialect::sqlite_dialect().capabilities().native_alter_check; }

void expect_golden(const std::string& name, const std::string& actual) {
  const auto path = source_dir() / "tests/golden" / name;
  const char* update = std::getenv("CONSTRAINTCTL_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    write_file(path, actual);
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing golden file " << path
                                             << " (run with CONSTRAINTCTL_UPDATE_GOLDEN=1 to create it)";
  EXPECT_EQ(read_file(path), actual) << "golden file " << name << " differs";
}

}  // namespace cc::test
