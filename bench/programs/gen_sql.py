"""Writes the sqlite3 bulk-insert script (stdout): a table filled with
ROWS rows of random text in one transaction, an index, and a few grouped
queries.  ROWS = 200000 * SCALE (argv[1])."""

import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROWS = int(200_000 * SCALE)

print(f"""PRAGMA cache_size = -200000;
CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, body BLOB);
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq
                          WHERE i < {ROWS})
INSERT INTO t (grp, name, body)
  SELECT abs(random()) % 1000, hex(randomblob(12)),
         randomblob(abs(random()) % 200 + 20) FROM seq;
COMMIT;
CREATE INDEX t_name ON t (name);
CREATE INDEX t_grp ON t (grp, name);
SELECT grp, count(*), sum(length(body)) FROM t GROUP BY grp
  ORDER BY 3 DESC LIMIT 3;
SELECT count(DISTINCT substr(name, 1, 4)) FROM t;
DELETE FROM t WHERE id % 3 = 0;
SELECT count(*) FROM t;""")
