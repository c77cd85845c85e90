-- Migration 1: the logical data of a desk. The reasoning behind each table
-- and index is in the documentation of src/storage/postgres/mod.rs; keep
-- the two in step. Every text column that is a key is COLLATE "C": it
-- compares and sorts bytewise, as sled's keys do, whatever the database's
-- locale.

-- The end of the audit chain: the last revision given and its link. Every
-- change updates this one row in its transaction, so writers queue on its
-- row lock and revisions are given, and committed, one after the other.
CREATE TABLE chain_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_revision bigint NOT NULL CHECK (last_revision >= 0),
    last_link bytea NOT NULL CHECK (octet_length(last_link) = 32)
);
INSERT INTO chain_head (last_revision, last_link)
VALUES (0, decode(repeat('00', 32), 'hex'));

-- What the records and index columns of this database were written by:
-- the record format (records.rs; a build that reads fewer formats refuses
-- the database) and the version of the source keys (`source_key` below is
-- rebuilt when it changes). One row, written by the store when it first
-- opens the database.
CREATE TABLE desk_format (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    record_format integer NOT NULL CHECK (record_format > 0),
    source_keys_version integer NOT NULL CHECK (source_keys_version > 0)
);

-- Claims: the record as records.rs encodes it, and the columns its indexes
-- need, all following from the record and rewritten with it.
CREATE TABLE claims (
    -- The ULID's 16 bytes: byte order is submission order.
    id bytea PRIMARY KEY CHECK (octet_length(id) = 16),
    record bytea NOT NULL CHECK (octet_length(record) > 0),
    revision bigint NOT NULL CHECK (revision > 0),
    story text COLLATE "C" NOT NULL CHECK (story <> ''),
    state text COLLATE "C" NOT NULL CHECK (state IN
        ('unverified', 'in_review', 'verified', 'disputed', 'inconclusive', 'withdrawn')),
    -- The comparison key of the source (SourceKey).
    source_key text COLLATE "C" NOT NULL,
    assignee text COLLATE "C",
    -- 0 breaking, 1 urgent, 2 routine: the queue's first order.
    priority_rank smallint NOT NULL CHECK (priority_rank BETWEEN 0 AND 2),
    -- Nanoseconds since 1970 as 16 big-endian bytes (the u128 of the
    -- record); NULL: no deadline, which sorts last.
    deadline bytea CHECK (octet_length(deadline) = 16),
    -- Nanoseconds since 1970, only while in review with a lease.
    lease_expires_ns bigint CHECK (lease_expires_ns >= 0),
    CHECK (lease_expires_ns IS NULL OR state = 'in_review')
);

-- The filters of a listing, each in id order.
CREATE INDEX claims_by_story ON claims (story, id);
CREATE INDEX claims_by_state ON claims (state, id);
CREATE INDEX claims_by_source ON claims (source_key, id);
CREATE INDEX claims_by_assignee ON claims (assignee, id) WHERE assignee IS NOT NULL;

-- The queue, overall and per story: unverified claims only.
CREATE INDEX claims_queue ON claims (priority_rank, deadline, id)
    WHERE state = 'unverified';
CREATE INDEX claims_story_queue ON claims (story, priority_rank, deadline, id)
    WHERE state = 'unverified';
-- The oldest waiting claim of a story (overall: claims_by_state).
CREATE INDEX claims_story_waiting ON claims (story, id) WHERE state = 'unverified';
-- Leases, soonest expiry first.
CREATE INDEX claims_leases ON claims (lease_expires_ns, id)
    WHERE lease_expires_ns IS NOT NULL;
-- Deadlines of claims without a ruling, overall and per story.
CREATE INDEX claims_deadlines ON claims (deadline, id)
    WHERE deadline IS NOT NULL AND state IN ('unverified', 'in_review');
CREATE INDEX claims_story_deadlines ON claims (story, deadline, id)
    WHERE deadline IS NOT NULL AND state IN ('unverified', 'in_review');

-- The tag queues: one row per tag of each unverified claim (none for the
-- others), with the claim's queue order copied, so that a tag's queue is
-- one index range.
CREATE TABLE claim_tags (
    claim_id bytea NOT NULL REFERENCES claims (id),
    tag text COLLATE "C" NOT NULL CHECK (tag <> ''),
    story text COLLATE "C" NOT NULL,
    priority_rank smallint NOT NULL CHECK (priority_rank BETWEEN 0 AND 2),
    deadline bytea CHECK (octet_length(deadline) = 16),
    PRIMARY KEY (claim_id, tag)
);
CREATE INDEX claim_tags_queue ON claim_tags (tag, priority_rank, deadline, claim_id);
CREATE INDEX claim_tags_story_queue
    ON claim_tags (story, tag, priority_rank, deadline, claim_id);

-- History: the event's record exactly as its chain link hashed it.
-- Deferred reference: a restore may insert events before their claims.
CREATE TABLE events (
    revision bigint PRIMARY KEY CHECK (revision > 0),
    claim_id bytea NOT NULL REFERENCES claims (id) DEFERRABLE INITIALLY DEFERRED,
    link bytea NOT NULL CHECK (octet_length(link) = 32),
    record bytea NOT NULL CHECK (octet_length(record) > 0)
);
CREATE INDEX events_by_claim ON events (claim_id, revision);

-- Request ids, per caller.
CREATE TABLE requests (
    caller text COLLATE "C" NOT NULL,
    request_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL CHECK (octet_length(record) > 0),
    PRIMARY KEY (caller, request_id)
);

-- The comparable figures of each claim, with the figure (records.rs's
-- encode_figure), written with the claim and never changed. Read newest
-- claim first: the primary key's index scanned backward.
CREATE TABLE claim_figures (
    story text COLLATE "C" NOT NULL,
    figure_key text COLLATE "C" NOT NULL,
    claim_id bytea NOT NULL REFERENCES claims (id),
    figure bytea NOT NULL,
    PRIMARY KEY (story, figure_key, claim_id)
);

-- The key of each claim's normalised wording, written with the claim.
CREATE TABLE claim_wordings (
    claim_id bytea PRIMARY KEY REFERENCES claims (id),
    story text COLLATE "C" NOT NULL,
    wording_key text COLLATE "C" NOT NULL
);
CREATE INDEX claim_wordings_by_story ON claim_wordings (story, claim_id);

-- Open contradictions, at their subject claim: a row while the link is an
-- open contradiction, removed when it is resolved. With both claims, so a
-- page of a story's contradictions is one query joining them.
CREATE TABLE open_contradictions (
    link_id bigint PRIMARY KEY CHECK (link_id > 0),
    story text COLLATE "C" NOT NULL,
    subject_id bytea NOT NULL REFERENCES claims (id),
    object_id bytea NOT NULL REFERENCES claims (id),
    CHECK (subject_id <> object_id)
);
CREATE INDEX open_contradictions_by_story ON open_contradictions (story, link_id);

-- Counts kept in the same transaction as the claims they count: claims per
-- state, and unverified claims per priority, of each story and (story '',
-- which no slug is) of all.
CREATE TABLE state_counts (
    story text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL CHECK (state IN
        ('unverified', 'in_review', 'verified', 'disputed', 'inconclusive', 'withdrawn')),
    claims bigint NOT NULL CHECK (claims >= 0),
    PRIMARY KEY (story, state)
);
CREATE TABLE waiting_counts (
    story text COLLATE "C" NOT NULL,
    priority_rank smallint NOT NULL CHECK (priority_rank BETWEEN 0 AND 2),
    claims bigint NOT NULL CHECK (claims >= 0),
    PRIMARY KEY (story, priority_rank)
);
