// Duplicates that other rows reference (Chinook's Track, referenced by
// InvoiceLine and PlaylistTrack with ON DELETE NO ACTION): refused by
// default before anything changes, naming the referencing tables; with
// references = "repoint" the references move to the kept row (audited), the
// surplus rows go, nothing dangles, and fix-undo restores every table.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

class RepointTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    exec("CREATE TABLE track (id integer PRIMARY KEY, name text NOT NULL, album_id integer)");
    exec("CREATE TABLE invoice_line (id integer PRIMARY KEY, track_id integer NOT NULL REFERENCES track (id), "
         "unit_price integer NOT NULL, quantity integer NOT NULL)");
    exec("CREATE TABLE playlist_track (playlist_id integer NOT NULL, track_id integer NOT NULL REFERENCES track (id), "
         "PRIMARY KEY (playlist_id, track_id))");
    exec("INSERT INTO track VALUES (1, 'A', 1), (2, 'A', 1), (3, 'B', 1), (4, 'B', 1), (5, 'C', 2)");
    exec("INSERT INTO invoice_line VALUES (1, 2, 99, 1), (2, 4, 99, 2), (3, 1, 50, 1), (4, 5, 10, 3), (5, 5, 10, 0)");
    exec("INSERT INTO playlist_track VALUES (1, 2), (2, 4), (1, 3)");
  }
  void declare(const std::string& references) {
    write_file(dir_ / "schema/track.toml",
               "table = \"track\"\n[[unique]]\nname = \"track_name_album_unique\"\ncolumns = [\"name\", \"album_id\"]\n"
               "repair = { policy = \"delete_duplicates\", keep = \"lowest\"" + references + " }\n");
    write_file(dir_ / "schema/invoice_line.toml",
               "table = \"invoice_line\"\n[[check]]\nname = \"invoice_line_quantity_positive\"\ncolumn = \"quantity\"\nmin = 1\n"
               "repair = \"clamp\"\n");
  }
  std::string everything() const { return content({"track", "invoice_line", "playlist_track"}); }
  std::int64_t dangling() const {
    return scalar("SELECT (SELECT count(*) FROM invoice_line WHERE track_id NOT IN (SELECT id FROM track)) + "
                  "(SELECT count(*) FROM playlist_track WHERE track_id NOT IN (SELECT id FROM track))");
  }
};

TEST_P(RepointTest, ReferencedDuplicatesAreRefusedByDefault) {
  declare("");
  const auto before = everything();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{"scan", "--fix", "--dry-run"}, {"scan", "--fix"}}) {
    auto r = cli(args, dir_.path());
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("track_name_album_unique"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("invoice_line"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("playlist_track"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("repoint"), std::string::npos) << r.err;
    EXPECT_EQ(everything(), before);
  }
  // The other repairs of the run go ahead when asked; the duplicates stay for review.
  auto skip = cli({"scan", "--fix", "--skip-refused", "--json"}, dir_.path());
  EXPECT_EQ(skip.exit_code, 1) << skip.out << skip.err;
  auto doc = nlohmann::json::parse(skip.out);
  EXPECT_EQ(doc["refused"].size(), 1u) << doc.dump();
  EXPECT_EQ(scalar("SELECT count(*) FROM track"), 5);
  EXPECT_EQ(scalar("SELECT quantity FROM invoice_line WHERE id = 5"), 1);
}

TEST_P(RepointTest, RepointMovesReferencesThenDeletesAndUndoRestoresEverything) {
  declare(", references = \"repoint\"");
  const auto before = everything();
  const auto total = scalar("SELECT sum(unit_price * quantity) FROM invoice_line WHERE quantity > 0");
  auto dry = cli({"scan", "--fix", "--dry-run", "--json"}, dir_.path());
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_EQ(everything(), before);
  auto r = cli({"scan", "--fix", "--json"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out), preview = nlohmann::json::parse(dry.out);
  for (const auto& f : doc["fixes"]) {
    if (f["name"] != "track_name_album_unique") continue;
    EXPECT_EQ(f["deleted"], 2);
    EXPECT_EQ(f["repointed"], 4);  // invoice lines 1 and 2, playlist entries (1, 2) and (2, 4)
  }
  ASSERT_EQ(preview["fixes"].size(), doc["fixes"].size());
  for (size_t i = 0; i < doc["fixes"].size(); ++i) {  // the dry run predicted the real run
    for (const char* k : {"name", "changed", "deleted", "repointed"}) EXPECT_EQ(preview["fixes"][i][k], doc["fixes"][i][k]) << k;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM track"), 3);
  EXPECT_EQ(dangling(), 0);
  EXPECT_EQ(scalar("SELECT track_id FROM invoice_line WHERE id = 1"), 1);
  EXPECT_EQ(scalar("SELECT track_id FROM invoice_line WHERE id = 2"), 3);
  EXPECT_EQ(scalar("SELECT sum(unit_price * quantity) FROM invoice_line WHERE id <> 5"), total);
  if (!pg()) {
    EXPECT_EQ(scalar("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  }

  auto undo = cli({"fix-undo", doc["run_id"]}, dir_.path());
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(everything(), before);
}

INSTANTIATE_TEST_SUITE_P(Dialects, RepointTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace cc::test
