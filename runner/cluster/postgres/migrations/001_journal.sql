-- The journal: one row per event, numbered per bot; and each bot's fence.
--
-- fences.token is the fencing token of the node that owns the bot (its Redis lease's
-- generation; 0 for a bot no cluster node claimed). A write carries its writer's token and is
-- refused, in its own transaction, when the fence holds another. fences.last_seq is the highest
-- event number handed out for the bot: an event re-written under an existing key takes a number
-- and stores nothing, and the next writer must start above it.
CREATE TABLE fences (
    bot_id   text PRIMARY KEY,
    token    bigint NOT NULL DEFAULT 0 CHECK (token >= 0),
    last_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE events (
    bot_id text   NOT NULL,
    seq    bigint NOT NULL,
    kind   text   NOT NULL,
    key    text,
    bar    bigint NOT NULL,
    ts_ms  bigint NOT NULL,
    data   text   NOT NULL,     -- canonical JSON (sorted keys), compared as text on a re-write
    PRIMARY KEY (bot_id, seq),
    UNIQUE (bot_id, kind, key)
);
