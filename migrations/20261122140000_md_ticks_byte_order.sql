-- Identifiers compare byte by byte: event ids and symbols are keys, not
-- prose, and the "C" collation keeps index maintenance free of locale
-- comparisons (the unique event_id index is touched by every insert).
ALTER TABLE md_ticks
    ALTER COLUMN event_id  TYPE TEXT COLLATE "C",
    ALTER COLUMN stream_id TYPE TEXT COLLATE "C",
    ALTER COLUMN symbol    TYPE TEXT COLLATE "C",
    ALTER COLUMN source    TYPE TEXT COLLATE "C";
