-- Keeping a table's vectors in step with its texts: cached_embed.sync (a
-- procedure installed by sql/install.sql, in the schema cached_embed).
-- Run in the database of sql/beer/load.sh (default: openbeer); the
-- procedure takes the table as db.table.

-- 1. Two columns: the vector, and the SHA-256 of the text it was made from
--    (how sync knows which rows changed). Both must allow NULL.
ALTER TABLE beers
  ADD COLUMN IF NOT EXISTS embedding VARBINARY(3072) NULL,
  ADD COLUMN IF NOT EXISTS embedding_src BINARY(32) NULL;

-- 2. Bring them up to date: every row whose text changed since it was
--    embedded (the first time: every row), 1,000 rows per chunk, each chunk
--    warmed in batched provider requests, then written and committed.
--    Returns one row: embedded, unchanged, failed.
CALL cached_embed.sync('openbeer.beers', 'CONCAT_WS(". ", name, descript)',
                       'embedding', 'embedding_src', 1000);

-- 3. Keep them in step: the event scheduler calls it every minute; a run on
--    an unchanged table asks the provider nothing and writes nothing.
SET GLOBAL event_scheduler = ON;  -- or event_scheduler = ON in the server's config
CREATE EVENT IF NOT EXISTS beers_embedding_sync
  ON SCHEDULE EVERY 1 MINUTE
  DO CALL cached_embed.sync('openbeer.beers', 'CONCAT_WS(". ", name, descript)',
                            'embedding', 'embedding_src', 1000);
