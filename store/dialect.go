package store

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between SQLite and PostgreSQL. Queries are
// written once with ? placeholders and ON CONFLICT clauses both understand.
type dialect struct {
	name      string
	bind      int
	maxParams int
}

func dialectOf(driver string) dialect {
	if driver == DriverPostgres {
		return dialect{name: DriverPostgres, bind: sqlx.DOLLAR, maxParams: 65535}
	}
	// SQLite allows 32766 host parameters since 3.32.
	return dialect{name: DriverSQLite, bind: sqlx.QUESTION, maxParams: 32766}
}

// rebind turns ? placeholders into the dialect's own.
func (d dialect) rebind(query string) string {
	if d.bind == sqlx.QUESTION {
		return query
	}
	return sqlx.Rebind(d.bind, query)
}

// insertIgnoring turns head, an "INSERT INTO t (...) VALUES " of a table
// whose foreign keys are deferred, into a statement that skips rows that
// exist, and returns it with the tail that goes after the values. On
// SQLite that is INSERT OR IGNORE rather than ON CONFLICT DO NOTHING: both
// skip the same rows, but OR IGNORE cannot fail half-way (a NULL is skipped
// too, and crmhub writes none), so SQLite keeps no statement journal of the
// pages a multi-row insert touches, which on an index written at random
// places was half its cost (migration 00007).
func (d dialect) insertIgnoring(head string) (string, string) {
	if d.name == DriverSQLite {
		return strings.Replace(head, "INSERT INTO", "INSERT OR IGNORE INTO", 1), ""
	}
	return head, " ON CONFLICT DO NOTHING"
}

// timeText is the select expression of the time column col as an export
// reads it: on SQLite the stored text, which the driver would otherwise
// parse (see appendStoredTime); PostgreSQL's timestamps come as they are.
func (d dialect) timeText(col string) string {
	if d.name == DriverSQLite {
		return "CAST(" + col + " AS TEXT)"
	}
	return col
}

// transient reports whether err is a lost race that re-running the
// transaction can win.
func (d dialect) transient(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// isUniqueViolation reports whether err is a broken UNIQUE or PRIMARY KEY
// constraint.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// valuesList returns "(?,?,?),(?,?,?)" for rows rows of cols columns.
func valuesList(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 1))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// placeholders returns "?,?,?" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// chunkRows returns how many rows of cols columns fit in one statement.
func (d dialect) chunkRows(cols int) int {
	n := d.maxParams / cols
	return min(n, 500)
}

// int64List returns an IN operand that takes a whole list of numbers as
// one parameter, and that parameter: json_each over a JSON array on
// SQLite, ANY over an array on PostgreSQL. One parameter keeps the
// statement's text the same for any length, so it is parsed once.
func (d dialect) int64List(xs []int64) (string, any) {
	if d.name == DriverPostgres {
		return "(SELECT unnest(?::bigint[]))", xs
	}
	b := make([]byte, 0, 20*len(xs)+2)
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return "(SELECT value FROM json_each(?))", string(append(b, ']'))
}
