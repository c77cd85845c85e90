//! The backup format: a copy of a store at one revision that depends on no
//! engine's files, so that it also moves a desk from one storage engine to
//! another. A store writes it with [`BackupWriter`] (see
//! [`Store::backup`](super::Store::backup)); [`check`] reads a whole backup
//! and verifies it, audit chain included, before a restore writes
//! anything; [`BackupReader`] reads it item by item.
//!
//! # Format, version 1
//!
//! A backup is the 17 bytes `claimdesk backup\n`, then *frames*. A frame is
//! one byte naming its kind, the length of its payload in 4 big-endian
//! bytes (at most 16 MiB), then the payload:
//!
//! | kind | payload |
//! | --- | --- |
//! | `H` | The header, a JSON object: `version` (1), `revision` (the revision of the copy: its last event), `last_hash` (the chain link of that event in hex; 64 zeros when there is none) and `taken_at_ns` (when the copy was taken, in nanoseconds since 1970). |
//! | `E` | An event: its revision (8 bytes, big-endian), its chain link (32 bytes), then its record. |
//! | `C` | A claim's record. |
//! | `Q` | A request id: the length of its key (2 bytes, big-endian), the key (the caller, a NUL byte, the request id, in UTF-8), then its record. |
//! | `Z` | The end, a JSON object: `events`, `claims` and `requests` (how many frames of each kind came before) and `sha256`, the SHA-256 in hex of every byte of the backup before this frame. |
//!
//! Records are the stored forms of [`super::records`], in any format that
//! module reads (an event's record is exactly the bytes its chain link
//! hashes, so it is copied, never encoded again). The header comes first;
//! then every event from revision 1 to the header's revision, in order;
//! then the claims, by id (their 16 bytes, ascending); then the request
//! ids, by key (bytewise, ascending); the end frame last, with nothing
//! after it. Indexes and counters are not in a backup: they follow from the
//! claims, and a restore builds them.
//!
//! A reader refuses a version it does not know, a kind of frame it does not
//! know or out of order, and anything [`check`] finds wrong. A later
//! version may add fields to the header's and the end's JSON (readers of
//! version 1 ignore them) but changes anything else under a new version.

use std::{
    collections::{HashMap, HashSet},
    io::{self, Read, Write},
    time::SystemTime,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::{self, ChainWalk, ClaimRecord, HASH_LEN, RequestRecord, hex};
use crate::domain::ClaimId;

/// The first bytes of every backup.
pub const MAGIC: &[u8; 17] = b"claimdesk backup\n";

/// The version of the format written by this build.
pub const VERSION: u32 = 1;

/// The largest payload of a frame: a claim's record is under 2 MiB (the
/// limits of the API bound it), so this leaves ample room while a reader
/// never takes more than this for one frame, whatever a file says.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

const HEADER: u8 = b'H';
const EVENT: u8 = b'E';
const CLAIM: u8 = b'C';
const REQUEST: u8 = b'Q';
const END: u8 = b'Z';

/// What a backup holds, as its end frame counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// The revision of the copy: its last event.
    pub revision: u64,
    pub events: u64,
    pub claims: u64,
    pub requests: u64,
    /// The size of the backup, in bytes.
    pub bytes: u64,
}

/// Why a backup cannot be read, or does not check out.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the backup: {0}")]
    Io(#[from] io::Error),
    #[error(
        "not a claimdesk backup (it does not start with {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    NotABackup,
    #[error("backup format version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("the backup is malformed at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error("the backup's audit chain is broken at revision {revision}: {reason}")]
    Chain { revision: u64, reason: String },
    #[error("the backup does not match its checksum: it was changed or damaged")]
    Checksum,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    version: u32,
    revision: u64,
    last_hash: String,
    taken_at_ns: u128,
}

#[derive(Debug, Serialize, Deserialize)]
struct End {
    events: u64,
    claims: u64,
    requests: u64,
    sha256: String,
}

/// The kinds of frames in the order they come.
fn rank(kind: u8) -> Option<u8> {
    [HEADER, EVENT, CLAIM, REQUEST, END]
        .iter()
        .position(|&k| k == kind)
        .map(|p| p as u8)
}

/// Writes a backup, frame by frame; the caller gives the items in the
/// format's order (checked in debug builds).
pub struct BackupWriter<W: Write> {
    out: W,
    digest: Sha256,
    revision: u64,
    bytes: u64,
    events: u64,
    claims: u64,
    requests: u64,
    last_kind: u8,
}

impl<W: Write> BackupWriter<W> {
    /// Writes the start of a backup of the store at `revision`, whose last
    /// event has the chain link `last_hash`.
    pub fn start(
        out: W,
        revision: u64,
        last_hash: [u8; HASH_LEN],
        taken_at: SystemTime,
    ) -> io::Result<Self> {
        let mut writer = Self {
            out,
            digest: Sha256::new(),
            revision,
            bytes: 0,
            events: 0,
            claims: 0,
            requests: 0,
            last_kind: HEADER,
        };
        writer.put(MAGIC)?;
        let header = Header {
            version: VERSION,
            revision,
            last_hash: hex(&last_hash),
            taken_at_ns: records::to_ns(taken_at),
        };
        let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
        writer.frame(HEADER, &[&json])?;
        Ok(writer)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn frame(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        debug_assert!(rank(kind) >= rank(self.last_kind), "frames out of order");
        self.last_kind = kind;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l as usize <= MAX_FRAME)
            .ok_or_else(|| io::Error::other(format!("a record of {len} bytes is too large")))?;
        self.put(&[kind])?;
        self.put(&len.to_be_bytes())?;
        for part in parts {
            self.put(part)?;
        }
        Ok(())
    }

    /// The event stored (chain link and record) under `revision`.
    pub fn event(&mut self, revision: u64, stored: &[u8]) -> io::Result<()> {
        self.events += 1;
        self.frame(EVENT, &[&revision.to_be_bytes(), stored])
    }

    /// A claim's stored record.
    pub fn claim(&mut self, record: &[u8]) -> io::Result<()> {
        self.claims += 1;
        self.frame(CLAIM, &[record])
    }

    /// A request id's key and stored record.
    pub fn request(&mut self, key: &[u8], record: &[u8]) -> io::Result<()> {
        let len = u16::try_from(key.len()).map_err(io::Error::other)?;
        self.requests += 1;
        self.frame(REQUEST, &[&len.to_be_bytes(), key, record])
    }

    /// Writes the end frame and flushes; returns what the backup holds.
    pub fn finish(mut self) -> io::Result<BackupSummary> {
        let end = End {
            events: self.events,
            claims: self.claims,
            requests: self.requests,
            sha256: hex(&self.digest.clone().finalize()),
        };
        let json = serde_json::to_vec(&end).map_err(io::Error::other)?;
        self.frame(END, &[&json])?;
        self.out.flush()?;
        Ok(BackupSummary {
            revision: self.revision,
            events: self.events,
            claims: self.claims,
            requests: self.requests,
            bytes: self.bytes,
        })
    }
}

/// One item of a backup, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event: its revision and what is stored under it (chain link,
    /// then record).
    Event { revision: u64, stored: Vec<u8> },
    /// A claim's record.
    Claim(Vec<u8>),
    /// A request id's key and record.
    Request { key: Vec<u8>, record: Vec<u8> },
}

/// Reads a backup item by item, checking its framing, the order of its
/// frames and, at the end, its counts and checksum. [`check`] verifies
/// what the items say as well.
pub struct BackupReader<R: Read> {
    input: R,
    digest: Sha256,
    offset: u64,
    revision: u64,
    last_hash: [u8; HASH_LEN],
    last_kind: u8,
    counts: [u64; 3],
    summary: Option<BackupSummary>,
}

impl<R: Read> BackupReader<R> {
    /// Reads the start of a backup: refuses what is not one, or of a
    /// version this build does not read.
    pub fn open(input: R) -> Result<Self, BackupError> {
        let mut reader = Self {
            input,
            digest: Sha256::new(),
            offset: 0,
            revision: 0,
            last_hash: [0; HASH_LEN],
            last_kind: HEADER,
            counts: [0; 3],
            summary: None,
        };
        let mut magic = [0u8; MAGIC.len()];
        match reader.read_exact(&mut magic) {
            Ok(()) if &magic == MAGIC => {}
            Ok(()) => return Err(BackupError::NotABackup),
            Err(BackupError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(BackupError::NotABackup);
            }
            Err(e) => return Err(e),
        }
        let (kind, payload) = reader.frame()?;
        if kind != HEADER {
            return Err(reader.malformed("the header must come first"));
        }
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let version = serde_json::from_slice::<Version>(&payload)
            .map_err(|e| reader.malformed(format!("unreadable header: {e}")))?;
        if version.version != VERSION {
            return Err(BackupError::Version(version.version));
        }
        let header = serde_json::from_slice::<Header>(&payload)
            .map_err(|e| reader.malformed(format!("unreadable header: {e}")))?;
        reader.revision = header.revision;
        reader.last_hash = unhex(&header.last_hash)
            .ok_or_else(|| reader.malformed("the header's last_hash is not 32 bytes in hex"))?;
        Ok(reader)
    }

    /// The revision of the copy.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The chain link of the copy's last event, as the header says.
    pub fn last_hash(&self) -> [u8; HASH_LEN] {
        self.last_hash
    }

    fn malformed(&self, reason: impl Into<String>) -> BackupError {
        BackupError::Malformed {
            offset: self.offset,
            reason: reason.into(),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.input.read_exact(buf)?;
        self.digest.update(&*buf);
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// The next frame: its kind and payload.
    fn frame(&mut self) -> Result<(u8, Vec<u8>), BackupError> {
        let mut head = [0u8; 5];
        self.read_exact(&mut head).map_err(|e| match e {
            BackupError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.malformed("the backup ends before its end frame: it is truncated")
            }
            e => e,
        })?;
        let len = u32::from_be_bytes(head[1..].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            return Err(self.malformed(format!("a frame of {len} bytes is too large")));
        }
        let mut payload = vec![0u8; len];
        self.read_exact(&mut payload).map_err(|e| match e {
            BackupError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.malformed("the backup ends inside a frame: it is truncated")
            }
            e => e,
        })?;
        Ok((head[0], payload))
    }

    /// The next item; `None` after the end frame, once the counts and the
    /// checksum are checked and nothing follows.
    pub fn next_item(&mut self) -> Result<Option<Item>, BackupError> {
        if self.summary.is_some() {
            return Ok(None);
        }
        let digest = self.digest.clone();
        let start = self.offset;
        let (kind, mut payload) = self.frame()?;
        match rank(kind) {
            None => {
                return Err(BackupError::Malformed {
                    offset: start,
                    reason: format!("unknown kind of frame {kind:#04x}"),
                });
            }
            Some(r) if r < rank(self.last_kind).expect("known") || kind == HEADER => {
                return Err(BackupError::Malformed {
                    offset: start,
                    reason: format!("a {:?} frame out of order", char::from(kind)),
                });
            }
            Some(_) => self.last_kind = kind,
        }
        let item = match kind {
            EVENT => {
                if payload.len() < 8 {
                    return Err(self.malformed("an event frame too short for its revision"));
                }
                let stored = payload.split_off(8);
                let revision = u64::from_be_bytes(payload.try_into().expect("8 bytes"));
                Item::Event { revision, stored }
            }
            CLAIM => Item::Claim(payload),
            REQUEST => {
                let len = payload
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                    .filter(|&len| payload.len() >= 2 + len)
                    .ok_or_else(|| self.malformed("a request frame too short for its key"))?;
                let record = payload.split_off(2 + len);
                payload.drain(..2);
                Item::Request {
                    key: payload,
                    record,
                }
            }
            _ => {
                let end: End = serde_json::from_slice(&payload)
                    .map_err(|e| self.malformed(format!("unreadable end frame: {e}")))?;
                if unhex::<32>(&end.sha256) != Some(digest.finalize().into()) {
                    return Err(BackupError::Checksum);
                }
                if [end.events, end.claims, end.requests] != self.counts {
                    return Err(
                        self.malformed("the end frame's counts differ from the frames before it")
                    );
                }
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest)? != 0 {
                    return Err(self.malformed("bytes follow the end frame"));
                }
                self.summary = Some(BackupSummary {
                    revision: self.revision,
                    events: end.events,
                    claims: end.claims,
                    requests: end.requests,
                    bytes: self.offset,
                });
                return Ok(None);
            }
        };
        let counted = match item {
            Item::Event { .. } => 0,
            Item::Claim(_) => 1,
            Item::Request { .. } => 2,
        };
        self.counts[counted] += 1;
        Ok(Some(item))
    }

    /// What the backup holds, once [`BackupReader::next_item`] has read
    /// its end.
    pub fn summary(&self) -> Option<&BackupSummary> {
        self.summary.as_ref()
    }
}

/// Reads a whole backup and checks that it is one consistent copy of a
/// store: its framing and checksum; the audit chain of its events, from
/// revision 1 to the header's revision without a gap, ending at the
/// header's link; every claim and request id readable, none twice; every
/// event's claim among the claims, and each claim's revision that of the
/// last event of that claim (a copy that mixed two moments would break
/// this); every request id naming a claim of the copy. A restore calls it
/// before writing anything.
pub fn check(input: impl Read) -> Result<BackupSummary, BackupError> {
    let mut reader = BackupReader::open(input)?;
    let mut walk = ChainWalk::default();
    // The last revision of each claim's events.
    let mut last_event: HashMap<ClaimId, u64> = HashMap::new();
    let mut claims: HashSet<ClaimId> = HashSet::new();
    let mut last_claim: Option<ClaimId> = None;
    let mut last_request: Option<Vec<u8>> = None;
    let mut chain_checked = false;
    let chain_end = |walk: &ChainWalk, reader: &BackupReader<_>| {
        let revision = walk.next_revision() - 1;
        if revision != reader.revision() {
            return Err(BackupError::Chain {
                revision: revision + 1,
                reason: format!(
                    "the backup's events end at revision {revision}, its header says {}",
                    reader.revision()
                ),
            });
        }
        if walk.last_link() != reader.last_hash() {
            return Err(BackupError::Chain {
                revision,
                reason: "the chain's end does not match the header's last_hash".into(),
            });
        }
        Ok(())
    };
    while let Some(item) = reader.next_item()? {
        if !chain_checked && !matches!(item, Item::Event { .. }) {
            chain_end(&walk, &reader)?;
            chain_checked = true;
        }
        match item {
            Item::Event { revision, stored } => {
                let event = walk
                    .step(revision, &stored)
                    .map_err(|reason| BackupError::Chain {
                        revision: walk.next_revision(),
                        reason: reason.into(),
                    })?;
                last_event.insert(event.claim_id, revision);
            }
            Item::Claim(record) => {
                let claim = ClaimRecord::decode(&record)
                    .map_err(|e| reader.malformed(format!("unreadable claim: {e}")))?;
                if last_claim.is_some_and(|last| last.to_bytes() >= claim.id.to_bytes()) {
                    return Err(
                        reader.malformed(format!("claim {} is out of order or repeated", claim.id))
                    );
                }
                last_claim = Some(claim.id);
                let Some(&last) = last_event.get(&claim.id) else {
                    return Err(
                        reader.malformed(format!("claim {} has no event in the backup", claim.id))
                    );
                };
                if claim.revision != last {
                    return Err(reader.malformed(format!(
                        "claim {} is at revision {}, but its last event is revision {last}: \
                         the copy is not of one moment",
                        claim.id, claim.revision
                    )));
                }
                claims.insert(claim.id);
            }
            Item::Request { key, record } => {
                if last_request.as_ref().is_some_and(|last| *last >= key) {
                    return Err(reader.malformed("a request id is out of order or repeated"));
                }
                let known = std::str::from_utf8(&key)
                    .ok()
                    .and_then(|k| k.split_once('\0'))
                    .is_some_and(|(caller, id)| !caller.is_empty() && !id.is_empty());
                if !known {
                    return Err(reader.malformed("a request id's key is not caller NUL id"));
                }
                let request = RequestRecord::decode(&record)
                    .map_err(|e| reader.malformed(format!("unreadable request id: {e}")))?;
                let names_a_claim = ulid::Ulid::from_string(&request.claim_id)
                    .ok()
                    .is_some_and(|id| claims.contains(&ClaimId::from_ulid(id)));
                if !names_a_claim {
                    return Err(reader.malformed(format!(
                        "a request id names claim {:?}, which is not in the backup",
                        request.claim_id
                    )));
                }
                last_request = Some(key);
            }
        }
    }
    if !chain_checked {
        chain_end(&walk, &reader)?;
    }
    if let Some(missing) = last_event.keys().find(|id| !claims.contains(id)) {
        return Err(reader.malformed(format!(
            "the backup has events of claim {missing} but not the claim"
        )));
    }
    Ok(reader.summary().expect("read to the end").clone())
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}
