-- A sqlite3 workload: bulk inserts, an index, aggregates, a join and a
-- rebuild. The `.shell` line proves that sqlite3 itself runs on the
-- library: the shell it starts is its child, so $PPID is sqlite3's pid.
.shell printf 'tinyalloc-loaded: %s\n' "$(grep -c libtinyalloc /proc/$PPID/maps)"
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -20000;
CREATE TABLE item (id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO item (grp, name, payload)
  SELECT i % 97, 'name-' || (i * 7919 % 100003), zeroblob(i % 300) FROM n;
COMMIT;
CREATE INDEX item_grp_name ON item (grp, name);
SELECT count(*), sum(length(payload)), count(DISTINCT name) FROM item;
SELECT grp, count(*), min(name), max(name), avg(length(payload))
  FROM item GROUP BY grp ORDER BY grp LIMIT 10;
SELECT count(*) FROM item WHERE grp = 42 AND name > 'name-5';
CREATE TABLE tag AS SELECT grp, group_concat(DISTINCT substr(name, 6, 2)) AS tags
  FROM item GROUP BY grp;
SELECT t.grp, length(t.tags), count(i.id) FROM tag t JOIN item i ON i.grp = t.grp
  WHERE t.grp < 5 GROUP BY t.grp ORDER BY t.grp;
DELETE FROM item WHERE id % 3 = 0;
VACUUM;
SELECT count(*), total(length(payload)) FROM item;
PRAGMA integrity_check;
