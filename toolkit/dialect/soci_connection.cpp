#include "dialect/soci_connection.h"

#include <charconv>
#include <cmath>

#include "core/error.h"

namespace cc::dialect {

std::string value_text(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "NULL";
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) return "NaN";
    if (std::isinf(*d)) return *d > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, res.ptr);
  }
  return std::get<std::string>(v);
}

std::int64_t value_int(const Value& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  if (auto d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
  if (auto s = std::get_if<std::string>(&v)) {
    std::int64_t out = 0;
    auto res = std::from_chars(s->data(), s->data() + s->size(), out);
    if (res.ec != std::errc()) throw Error(ExitCode::internal, "expected an integer from the database, got '" + *s + "'");
    return out;
  }
  return 0;
}

void SociConnection::commit() { execute("COMMIT"); }
void SociConnection::rollback() { execute("ROLLBACK"); }

void SociConnection::execute(std::string_view sql) {
  try {
    session_ << std::string(sql);
  } catch (const std::exception& e) {
    raise(e);
  }
}

std::int64_t SociConnection::execute_count(std::string_view sql) {
  try {
    soci::statement st = (session_.prepare << std::string(sql));
    st.execute(true);
    return st.get_affected_rows();
  } catch (const std::exception& e) {
    raise(e);
  }
  return 0;  // not reached: raise() throws
}

}  // namespace cc::dialect
