use super::*;
use crate::domain::NewClaim;

fn claim() -> Claim {
    let mut claim = Claim::submitted(
        ClaimId::from_bytes([3; 16]),
        NewClaim {
            statement: Statement::parse("Ferry services resume on Monday").unwrap(),
            attribution: Attribution {
                source: SourceName::parse("Harbour Gazette").unwrap(),
                relayed_from: vec![SourceName::parse("the seafarers' union").unwrap()],
                url: Some(WebUrl::parse("https://harbour.example/ferries").unwrap()),
            },
            story: Slug::parse("lindell-port-strike").unwrap(),
            tags: vec![Slug::parse("ports").unwrap()],
            priority: Priority::Urgent,
            deadline: Some(UNIX_EPOCH + Duration::from_secs(1_796_200_000)),
        },
        UserName::parse("ed.morgan").unwrap(),
        UNIX_EPOCH + Duration::from_nanos(1_796_121_000_123_456_789),
    );
    claim.state = State::InReview;
    claim.assignee = Some(UserName::parse("kim.checker").unwrap());
    claim.lease = Some(Lease {
        expires: UNIX_EPOCH + Duration::from_secs(1_796_122_000),
        duration: Duration::from_secs(900),
    });
    claim.evidence = vec![evidence()];
    claim
}

fn evidence() -> Evidence {
    Evidence {
        id: ulid::Ulid::from_bytes([9; 16]),
        url: None,
        summary: Note::parse("Rosters show 2,050 crew absent").unwrap(),
        source: SourceName::parse("Port Authority").unwrap(),
        stance: Stance::Supports,
        added_by: UserName::parse("kim.checker").unwrap(),
        add_time: UNIX_EPOCH + Duration::from_secs(1_796_121_500),
    }
}

fn event() -> Event {
    Event {
        link: None,
        acknowledged: Vec::new(),
        revision: 7,
        claim_id: ClaimId::from_bytes([3; 16]),
        story: Slug::parse("lindell-port-strike").unwrap(),
        action: Action::AddEvidence,
        actor: UserName::parse("kim.checker").unwrap(),
        time: UNIX_EPOCH + Duration::from_secs(1_796_121_500),
        from: Some(State::InReview),
        to: State::InReview,
        note: Note::parse("").unwrap(),
        evidence: Some(evidence()),
        assignee: Some(UserName::parse("lee.checker").unwrap()),
    }
}

/// The record as JSON that names `format`.
fn json(record: &impl Record, format: u32) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&encode_json(record)).unwrap();
    value["format"] = format.into();
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn records_are_written_in_the_binary_format_and_read_back() {
    let claim = claim();
    let stored = ClaimRecord::from(&claim).encode();
    assert_eq!(stored[0], FORMAT_TAG);
    assert_eq!(ClaimRecord::decode(&stored).unwrap(), claim);

    let event = event();
    let stored = EventRecord::from(&event).encode();
    assert_eq!(stored[0], FORMAT_TAG);
    assert_eq!(EventRecord::decode(&stored).unwrap(), event);

    let request = RequestRecord {
        format: FORMAT,
        claim_id: claim.id.to_string(),
        fingerprint: "ab".repeat(32),
        fingerprint_version: Some(2),
    };
    let stored = RequestRecord::decode(&request.encode()).unwrap();
    assert_eq!(stored.claim_id, request.claim_id);
    assert_eq!(stored.fingerprint, request.fingerprint);
    assert_eq!(stored.fingerprint_version, Some(2));
}

#[test]
fn json_records_of_format_1_are_still_read() {
    let claim = claim();
    let stored = json(&ClaimRecord::from(&claim), JSON_FORMAT);
    assert_eq!(stored[0], b'{');
    assert_eq!(ClaimRecord::decode(&stored).unwrap(), claim);

    let event = event();
    let stored = json(&EventRecord::from(&event), JSON_FORMAT);
    assert_eq!(EventRecord::decode(&stored).unwrap(), event);

    // Fields that earlier releases left out are read as absent.
    let request =
        RequestRecord::decode(br#"{"format":1,"claim_id":"x","fingerprint":"ab"}"#).unwrap();
    assert_eq!(request.fingerprint_version, None);
    let mut legacy = serde_json::to_value(EventRecord::from(&event)).unwrap();
    legacy["format"] = 1.into();
    legacy.as_object_mut().unwrap().remove("assignee");
    let read = EventRecord::decode(&serde_json::to_vec(&legacy).unwrap()).unwrap();
    assert_eq!(read.assignee, None);
}

#[test]
fn records_of_unknown_formats_are_refused() {
    let record = ClaimRecord::from(&claim());
    let refused = |bytes: &[u8]| ClaimRecord::decode(bytes).unwrap_err().to_string();

    // JSON that names another format.
    assert!(refused(&json(&record, 2)).contains("a JSON record names format 2"));
    assert!(refused(&json(&record, 3)).contains("a JSON record names format 3"));
    assert!(refused(&json(&record, 4)).contains("format 4 is not supported"));
    // A first byte that is neither JSON nor a known binary format.
    let mut stored = record.encode();
    stored[0] = 4;
    assert!(refused(&stored).contains("format 4 is not supported"));
    // A binary record whose body names another format.
    let mut other = ClaimRecord::from(&claim());
    other.format = 1;
    let stored = postcard::to_extend(&other, vec![FORMAT_TAG]).unwrap();
    assert!(refused(&stored).contains("a binary record names format 1"));
    other.format = 7;
    let stored = postcard::to_extend(&other, vec![FORMAT_TAG]).unwrap();
    assert!(refused(&stored).contains("format 7 is not supported"));
    // Damage: cut short, extra bytes, nothing at all.
    let stored = record.encode();
    assert!(refused(&stored[..stored.len() - 1]).contains("malformed record"));
    let longer = [&stored[..], &[0]].concat();
    assert!(refused(&longer).contains("1 bytes after the record"));
    assert!(refused(&[]).contains("empty record"));
}

#[test]
fn a_binary_record_is_a_fraction_of_its_json() {
    let record = ClaimRecord::from(&claim());
    let binary = record.encode().len();
    let json = json(&record, JSON_FORMAT).len();
    assert!(binary * 2 < json, "binary {binary} bytes, JSON {json}");
}

#[test]
fn times_beyond_what_the_platform_holds_are_refused_as_corrupt() {
    // From the last nanosecond a u128 counts down to just past i64::MAX
    // seconds: each would overflow `SystemTime`.
    for ns in [u128::MAX, (u128::from(i64::MAX as u64) + 1) * 1_000_000_000] {
        let mut record = ClaimRecord::from(&claim());
        record.update_time_ns = ns;
        let refused = ClaimRecord::decode(&record.encode())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("out of range"), "{refused}");

        let mut record = EventRecord::from(&event());
        record.evidence.as_mut().unwrap().add_time_ns = ns;
        assert!(EventRecord::decode(&record.encode()).is_err());
    }
    assert_eq!(from_ns(0), Some(UNIX_EPOCH));
    let ns = 1_796_121_000_123_456_789;
    assert_eq!(from_ns(ns).map(to_ns), Some(ns));
}
