-- cached_embed.sync: keeps a table's vector column in step with its text.
-- Safe to run twice. sql/install.sql carries a copy of this file (written by
-- tests/docs/check_install_sql.py --write); `mariadb < sql/sync.sql`
-- installs the procedure alone (the functions must exist to call it).
--
--   CALL cached_embed.sync('db.table', 'text expression', 'vector_column',
--                          'source_column', batch_rows);
--
-- For every row whose text changed since its vector was made (or that never
-- had one), in chunks of batch_rows such rows in primary-key order: warm the
-- chunk with cached_embed_warm (batched provider requests), then write vector
-- and source in one transaction, then commit. The source column (BINARY(32))
-- holds the SHA-256 of the text the vector was made from
-- (UNHEX(SHA2(CONVERT(text USING utf8mb4), 256))), so a second run finds
-- nothing to do and writes nothing. A row whose vector cannot be had keeps
-- its old vector and source and is tried again next time; a NULL or blank
-- text clears both. Returns one row: embedded (rows written: new vector, or
-- cleared), unchanged, failed.
--
-- Keys are content-addressed (cached_embed(NULL, text, NULL, 'passage')): one
-- cache entry per distinct text, shared by every row, table and server with
-- that text. The texts are embedded as passages, the documents that
-- cached_embed_query searches.
--
-- SQL SECURITY INVOKER: the caller needs SELECT and UPDATE on the table; the
-- text expression is SQL the caller writes, run with the caller's privileges.
-- MariaDB 10.3+ (an UPDATE reads its own table through a derived table).

CREATE DATABASE IF NOT EXISTS cached_embed;

DROP PROCEDURE IF EXISTS cached_embed.sync;

SET @cached_embed_sql_mode = @@SESSION.sql_mode;
SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

DELIMITER ;;
CREATE PROCEDURE cached_embed.sync(
  IN table_name      VARCHAR(300),
  IN text_expression TEXT,
  IN vector_column   VARCHAR(64),
  IN source_column   VARCHAR(64),
  IN batch_rows      INT)
  MODIFIES SQL DATA
  SQL SECURITY INVOKER
  COMMENT 'brings vector_column up to date with text_expression for changed rows, in committed chunks'
proc: BEGIN
  DECLARE db_name, tbl_name, ident, msg VARCHAR(600) DEFAULT '';
  DECLARE pos, len, part INT DEFAULT 0;
  DECLARE ch VARCHAR(1);
  DECLARE key_col VARCHAR(64);
  DECLARE src_type, vec_null, src_null VARCHAR(64);
  DECLARE tq, kq, vq, sq TEXT;
  DECLARE txt, hsh, blank, todo, rng TEXT;
  DECLARE n_rows, n_blank, n_text, n_warmed BIGINT DEFAULT 0;
  DECLARE embedded, failed, unchanged BIGINT DEFAULT 0;
  DECLARE in_chunk, locked INT DEFAULT 0;
  DECLARE lock_name VARCHAR(64);

  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF in_chunk THEN
      ROLLBACK;
    END IF;
    IF locked THEN
      DO RELEASE_LOCK(lock_name);
    END IF;
    SET @cached_embed_sync_sql = NULL, @cached_embed_sync_lo = NULL,
        @cached_embed_sync_hi = NULL, @cached_embed_sync_n = NULL,
        @cached_embed_sync_blank = NULL, @cached_embed_sync_warmed = NULL;
    RESIGNAL;
  END;

  -- ---- arguments ----
  IF batch_rows IS NULL OR batch_rows < 1 OR batch_rows > 100000 THEN
    SET msg = CONCAT('cached_embed.sync: batch_rows must be 1 to 100000, got ',
                     COALESCE(batch_rows, 'NULL'));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;
  IF COALESCE(TRIM(text_expression), '') = '' THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'cached_embed.sync: text_expression is empty';
  END IF;

  -- table_name: db.table, each part plain or `quoted` (`` for a backtick).
  -- A routine runs in its own schema, so a bare name would be looked up in
  -- schema cached_embed: refused.
  SET table_name = TRIM(COALESCE(table_name, '')), len = CHAR_LENGTH(table_name),
      pos = 1, part = 0;
  WHILE part < 2 AND pos <= len + 1 DO
    SET ident = '';
    IF SUBSTRING(table_name, pos, 1) = '`' THEN
      SET pos = pos + 1;
      quoted: LOOP
        IF pos > len THEN
          SET part = 9; -- unterminated quote
          LEAVE quoted;
        END IF;
        SET ch = SUBSTRING(table_name, pos, 1);
        IF ch = '`' THEN
          IF SUBSTRING(table_name, pos + 1, 1) = '`' THEN
            SET ident = CONCAT(ident, '`'), pos = pos + 2;
          ELSE
            SET pos = pos + 1;
            LEAVE quoted;
          END IF;
        ELSE
          SET ident = CONCAT(ident, ch), pos = pos + 1;
        END IF;
      END LOOP;
    ELSE
      WHILE pos <= len AND SUBSTRING(table_name, pos, 1) <> '.' DO
        SET ident = CONCAT(ident, SUBSTRING(table_name, pos, 1)), pos = pos + 1;
      END WHILE;
    END IF;
    IF part = 0 THEN
      SET db_name = ident;
      IF SUBSTRING(table_name, pos, 1) <> '.' THEN
        SET part = 9; -- no dot after the first name
      ELSE
        SET pos = pos + 1, part = 1;
      END IF;
    ELSEIF part = 1 THEN
      SET tbl_name = ident, part = 2;
    END IF;
  END WHILE;
  IF part <> 2 OR pos <= len OR db_name = '' OR tbl_name = '' THEN
    SET msg = CONCAT('cached_embed.sync: table_name must be db.table (a procedure runs in its own schema), got ''',
                     LEFT(table_name, 60), '''');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;

  SET tq = CONCAT('`', REPLACE(db_name, '`', '``'), '`.`', REPLACE(tbl_name, '`', '``'), '`');
  IF NOT EXISTS (SELECT 1 FROM information_schema.TABLES t
                 WHERE t.TABLE_SCHEMA = db_name AND t.TABLE_NAME = tbl_name
                   AND t.TABLE_TYPE = 'BASE TABLE') THEN
    SET msg = CONCAT('cached_embed.sync: no base table ', LEFT(tq, 100));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;

  -- The row key: the primary key if it has one column, else a unique key of
  -- one NOT NULL column (whole column, not a prefix).
  SELECT s.COLUMN_NAME INTO key_col
  FROM information_schema.STATISTICS s
  JOIN information_schema.COLUMNS c
    ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME
   AND c.COLUMN_NAME = s.COLUMN_NAME
  WHERE s.TABLE_SCHEMA = db_name AND s.TABLE_NAME = tbl_name
    AND s.NON_UNIQUE = 0 AND s.SUB_PART IS NULL AND c.IS_NULLABLE = 'NO'
    AND (SELECT COUNT(*) FROM information_schema.STATISTICS s2
         WHERE s2.TABLE_SCHEMA = s.TABLE_SCHEMA AND s2.TABLE_NAME = s.TABLE_NAME
           AND s2.INDEX_NAME = s.INDEX_NAME) = 1
  ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME
  LIMIT 1;
  IF key_col IS NULL THEN
    SET msg = CONCAT('cached_embed.sync: ', LEFT(tq, 100),
                     ' needs a single-column primary key or unique NOT NULL key');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;

  SELECT MAX(c.IS_NULLABLE) INTO vec_null FROM information_schema.COLUMNS c
  WHERE c.TABLE_SCHEMA = db_name AND c.TABLE_NAME = tbl_name AND c.COLUMN_NAME = vector_column;
  SELECT MAX(c.IS_NULLABLE), MAX(CONCAT(c.DATA_TYPE, '(', c.CHARACTER_OCTET_LENGTH, ')'))
    INTO src_null, src_type FROM information_schema.COLUMNS c
  WHERE c.TABLE_SCHEMA = db_name AND c.TABLE_NAME = tbl_name AND c.COLUMN_NAME = source_column;
  IF vec_null IS NULL OR src_null IS NULL THEN
    SET msg = CONCAT('cached_embed.sync: no column `',
                     LEFT(IF(vec_null IS NULL, COALESCE(vector_column, 'NULL'),
                             COALESCE(source_column, 'NULL')), 64),
                     '` in ', LEFT(tq, 100));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;
  IF vector_column = source_column OR vector_column = key_col OR source_column = key_col THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'cached_embed.sync: the key, vector and source columns must be three different columns';
  END IF;
  IF src_type NOT IN ('binary(32)', 'varbinary(32)') THEN
    SET msg = CONCAT('cached_embed.sync: source column `', LEFT(source_column, 64),
                     '` must be BINARY(32) (a SHA-256), it is ', src_type);
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;
  IF vec_null <> 'YES' OR src_null <> 'YES' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'cached_embed.sync: the vector and source columns must allow NULL (a NULL text clears them)';
  END IF;
  -- (dynamic: MySQL has no @@in_transaction, and the body must parse there)
  SET @cached_embed_sync_sql = 'SELECT @@in_transaction INTO @cached_embed_sync_n';
  PREPARE ce_stmt FROM @cached_embed_sync_sql;
  EXECUTE ce_stmt;
  DEALLOCATE PREPARE ce_stmt;
  IF @cached_embed_sync_n THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'cached_embed.sync: commits every chunk; call it outside a transaction (COMMIT first)';
  END IF;

  -- One run per table at a time (an event may fire while the last run is
  -- still going).
  SET lock_name = CONCAT('cached_embed.sync:', MD5(tq));
  IF COALESCE(GET_LOCK(lock_name, 0), 0) = 0 THEN
    SET msg = CONCAT('cached_embed.sync: already running on ', LEFT(tq, 100));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
  END IF;
  SET locked = 1;

  -- ---- the SQL pieces ----
  SET kq = CONCAT(tq, '.`', REPLACE(key_col, '`', '``'), '`'),
      vq = CONCAT(tq, '.`', REPLACE(vector_column, '`', '``'), '`'),
      sq = CONCAT(tq, '.`', REPLACE(source_column, '`', '``'), '`');
  -- the text as sent (UTF-8), its SHA-256, and "nothing to embed": NULL or
  -- only the white space cached_embed rejects (space, \t \n \v \f \r)
  SET txt = CONCAT('CONVERT((', text_expression, ') USING utf8mb4)');
  SET hsh = CONCAT('UNHEX(SHA2(', txt, ', 256))');
  SET blank = CONCAT('(', txt, ' IS NULL OR ', txt,
                     ' NOT REGEXP CONCAT(''[^ '', CHAR(9, 10, 11, 12, 13 USING utf8mb4), '']''))');
  SET todo = CONCAT('IF(', blank, ', ', vq, ' IS NOT NULL OR ', sq, ' IS NOT NULL, ',
                    vq, ' IS NULL OR ', sq, ' IS NULL OR ', sq, ' <> ', hsh, ')');

  SET @cached_embed_sync_lo = NULL;
  chunks: LOOP
    -- the next chunk: up to batch_rows rows to do, after the last one done
    SET rng = IF(@cached_embed_sync_lo IS NULL, '',
                 CONCAT(kq, ' > @cached_embed_sync_lo AND '));
    SET @cached_embed_sync_sql = CONCAT(
      'SELECT COUNT(*), COALESCE(SUM(ce_blank), 0), MAX(ce_k) ',
      'INTO @cached_embed_sync_n, @cached_embed_sync_blank, @cached_embed_sync_hi ',
      'FROM (SELECT ', kq, ' AS ce_k, ', blank, ' AS ce_blank FROM ', tq,
      ' WHERE ', rng, todo, ' ORDER BY ', kq, ' LIMIT ', batch_rows, ') AS ce_chunk');
    PREPARE ce_stmt FROM @cached_embed_sync_sql;
    EXECUTE ce_stmt;
    DEALLOCATE PREPARE ce_stmt;
    SET n_rows = @cached_embed_sync_n, n_blank = @cached_embed_sync_blank,
        n_text = n_rows - n_blank;
    IF n_rows = 0 THEN
      LEAVE chunks;
    END IF;
    SET rng = CONCAT(rng, kq, ' <= @cached_embed_sync_hi AND ');

    -- 1. warm-up, outside any transaction: no lock is held while the
    --    provider answers
    SET n_warmed = 0;
    IF n_text > 0 THEN
      SET @cached_embed_sync_sql = CONCAT(
        'SELECT COALESCE(cached_embed_warm(NULL, ', txt, ', ''passage''), 0)',
        ' INTO @cached_embed_sync_warmed',
        ' FROM ', tq, ' WHERE ', rng, todo, ' AND NOT ', blank);
      PREPARE ce_stmt FROM @cached_embed_sync_sql;
      EXECUTE ce_stmt;
      DEALLOCATE PREPARE ce_stmt;
      SET n_warmed = @cached_embed_sync_warmed;
    END IF;

    -- 2. write, 3. commit
    START TRANSACTION;
    SET in_chunk = 1;
    IF n_blank > 0 THEN
      SET @cached_embed_sync_sql = CONCAT(
        'UPDATE ', tq, ' SET ', vq, ' = NULL, ', sq, ' = NULL WHERE ', rng, blank,
        ' AND (', vq, ' IS NOT NULL OR ', sq, ' IS NOT NULL)');
      PREPARE ce_stmt FROM @cached_embed_sync_sql;
      EXECUTE ce_stmt;
      SET embedded = embedded + ROW_COUNT();
      DEALLOCATE PREPARE ce_stmt;
    END IF;
    -- Nothing cached at all (provider or cache down): no row could get its
    -- vector; skip the write rather than ask the provider row by row.
    IF n_text > 0 AND n_warmed > 0 THEN
      -- The derived table (materialized: it has a LIMIT) computes each
      -- row's vector once; rows whose vector is NULL are not written.
      SET @cached_embed_sync_sql = CONCAT(
        'UPDATE ', tq, ' JOIN (SELECT ', kq, ' AS ce_k, cached_embed(NULL, ', txt,
        ', NULL, ''passage'') AS ce_v, ',
        hsh, ' AS ce_h FROM ', tq, ' WHERE ', rng, todo, ' AND NOT ', blank,
        ' ORDER BY ', kq, ' LIMIT ', batch_rows, ') AS ce_new ON ', kq, ' = ce_new.ce_k',
        ' SET ', vq, ' = ce_new.ce_v, ', sq, ' = ce_new.ce_h WHERE ce_new.ce_v IS NOT NULL');
      PREPARE ce_stmt FROM @cached_embed_sync_sql;
      EXECUTE ce_stmt;
      SET embedded = embedded + ROW_COUNT(), failed = failed + n_text - ROW_COUNT();
      DEALLOCATE PREPARE ce_stmt;
    ELSE
      SET failed = failed + n_text;
    END IF;
    COMMIT;
    SET in_chunk = 0;
    SET @cached_embed_sync_lo = @cached_embed_sync_hi;
  END LOOP;

  SET @cached_embed_sync_sql = CONCAT('SELECT COUNT(*) INTO @cached_embed_sync_n FROM ', tq);
  PREPARE ce_stmt FROM @cached_embed_sync_sql;
  EXECUTE ce_stmt;
  DEALLOCATE PREPARE ce_stmt;
  COMMIT; -- ends the read-only transaction of the last scan (autocommit off)
  SET unchanged = GREATEST(@cached_embed_sync_n - embedded - failed, 0);
  DO RELEASE_LOCK(lock_name);
  SET @cached_embed_sync_sql = NULL, @cached_embed_sync_lo = NULL,
      @cached_embed_sync_hi = NULL, @cached_embed_sync_n = NULL,
      @cached_embed_sync_blank = NULL, @cached_embed_sync_warmed = NULL;
  SELECT embedded, unchanged, failed;
END;;
DELIMITER ;

SET SESSION sql_mode = @cached_embed_sql_mode;
SET @cached_embed_sql_mode = NULL;
