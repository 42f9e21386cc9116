#include "dialect/soci_connection.h"

#include <charconv>

#include "core/error.h"

namespace cc::dialect {

std::string value_text(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "NULL";
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, res.ptr);
  }
  return std::get<std::string>(v);
}

std::int64_t value_int(const Value& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return *i;
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

void SociConnection::query(std::string_view sql, const RowHandler& on_row) {
  try {
    soci::rowset<soci::row> rows = session_.prepare << std::string(sql);
    Row out;
    for (const soci::row& r : rows) {
      out.clear();
      out.reserve(r.size());
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (r.get_indicator(i) == soci::i_null) {
          out.emplace_back(std::monostate{});
          continue;
        }
        switch (r.get_properties(i).get_data_type()) {
          case soci::dt_integer: out.emplace_back(static_cast<std::int64_t>(r.get<int>(i))); break;
          case soci::dt_long_long: out.emplace_back(static_cast<std::int64_t>(r.get<long long>(i))); break;
          case soci::dt_unsigned_long_long: out.emplace_back(static_cast<std::int64_t>(r.get<unsigned long long>(i))); break;
          case soci::dt_double: out.emplace_back(r.get<double>(i)); break;
          case soci::dt_string: out.emplace_back(r.get<std::string>(i)); break;
          default: out.emplace_back(std::string("<unsupported type>")); break;
        }
      }
      on_row(out);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    raise(e);
  }
}

}  // namespace cc::dialect
