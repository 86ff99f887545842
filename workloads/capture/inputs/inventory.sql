-- A small inventory database, built and queried in memory: inserts through a recursive CTE,
-- an index, a join with aggregation and an update.
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, shelf INTEGER NOT NULL, price REAL NOT NULL);
CREATE TABLE stock (item_id INTEGER NOT NULL REFERENCES item(id), quantity INTEGER NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
  INSERT INTO item SELECT i, 'item-' || i, i % 37, (i * 7919 % 1000) / 10.0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
  INSERT INTO stock SELECT (i * 104729) % 2000 + 1, i % 13 FROM n;
CREATE INDEX stock_by_item ON stock(item_id);
SELECT shelf, count(*), round(sum(price * quantity), 1) FROM item JOIN stock ON stock.item_id = item.id
  GROUP BY shelf ORDER BY 3 DESC LIMIT 5;
UPDATE item SET price = price * 1.1 WHERE shelf = 7;
SELECT count(*), round(avg(price), 2) FROM item WHERE shelf = 7;
