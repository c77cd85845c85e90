use super::*;

const NOW: u64 = 1_800_000_000;

fn printer(format: Format, colour: bool) -> Printer {
    Printer {
        format,
        colour,
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(NOW),
    }
}

fn at(offset: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: NOW as i64 + offset,
        nanos: 0,
    }
}

fn claim() -> pb::Claim {
    pb::Claim {
        name: "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        statement: "About 9,000 dock workers joined the strike".into(),
        attribution: Some(pb::Attribution {
            source: "Harbour Gazette".into(),
            relayed_from: vec!["union officials".into()],
            url: String::new(),
        }),
        story: "harbour-strike".into(),
        state: pb::claim::State::Verified.into(),
        priority: pb::claim::Priority::Urgent.into(),
        label: "verified".into(),
        deadline: Some(at(40 * 60)),
        create_time: Some(at(-3 * 3600)),
        submitted_by: "ed.morgan".into(),
        etag: "3".into(),
        ..Default::default()
    }
}

#[test]
fn json_follows_the_protobuf_mapping() {
    let line = printer(Format::Json, true).claim(&claim());
    assert!(!line.contains('\n'), "{line}");
    assert!(!line.contains('\u{1b}'), "never coloured: {line}");
    let json: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(json["attribution"]["relayedFrom"][0], "union officials");
    assert_eq!(json["state"], "STATE_VERIFIED");
    assert_eq!(json["priority"], "PRIORITY_URGENT");
    assert_eq!(json["createTime"], "2027-01-15T05:00:00Z");
    assert_eq!(json.get("assignee"), None, "defaults left out");

    let event = pb::ClaimEvent {
        revision: 12,
        r#type: pb::claim_event::Type::Verified.into(),
        ..Default::default()
    };
    let json: serde_json::Value =
        serde_json::from_str(&printer(Format::Json, false).event_line(&event)).expect("JSON");
    assert_eq!(json["revision"], "12", "64-bit integers as strings");
    assert_eq!(json["type"], "TYPE_VERIFIED");
}

#[test]
fn labels_are_coloured_by_state_only_when_asked() {
    let plain = printer(Format::Human, false).claim(&claim());
    assert!(!plain.contains('\u{1b}'), "{plain}");
    assert!(
        plain.lines().any(|l| l == "label         verified"),
        "{plain}"
    );
    let coloured = printer(Format::Human, true).claim(&claim());
    let label = coloured
        .lines()
        .find(|l| l.starts_with("label"))
        .expect("a label line");
    // Green (SGR 32 or the 256-colour form) around the label.
    assert!(label.contains("\u{1b}["), "{label:?}");
    assert!(label.contains("verified"), "{label:?}");
    let table = printer(Format::Human, true).claims(&[claim()]);
    assert!(table.contains('\u{1b}'), "{table:?}");
}

#[test]
fn times_are_relative_to_now() {
    let p = printer(Format::Human, false);
    assert_eq!(p.relative(&at(40 * 60)), "in 40 min");
    assert_eq!(p.relative(&at(-3 * 3600)), "3 h ago");
    assert_eq!(p.relative(&at(-(3 * 3600 + 20 * 60))), "3 h 20 min ago");
    assert_eq!(p.relative(&at(30 * 3600)), "in 30 h");
    assert_eq!(p.relative(&at(-5 * 86_400)), "5 d ago");
    assert_eq!(p.relative(&at(-5)), "5 s ago");
    let text = p.claim(&claim());
    assert!(text.contains("deadline      due in 40 min"), "{text}");
    assert!(
        text.contains("submitted     by ed.morgan 3 h ago"),
        "{text}"
    );
}

#[test]
fn long_statements_are_shortened_in_tables() {
    assert_eq!(shortened("short", 10), "short");
    assert_eq!(shortened("a statement that goes on", 10), "a stateme…");
    assert_eq!(shortened("two\nlines", 10), "two…");
}

fn figure(text: &str, low: f64, high: f64, qualifier: pb::figure::Qualifier) -> pb::Figure {
    pb::Figure {
        text: text.into(),
        low,
        high,
        qualifier: qualifier.into(),
        unit: pb::figure::Unit::Count.into(),
        ..Default::default()
    }
}

#[test]
fn a_figure_shows_the_values_it_allows() {
    use pb::figure::Qualifier as Q;
    let cases = [
        (
            figure("about 14,000 troops", 14_000.0, 14_000.0, Q::About),
            "about 14,000 troops (12,600-15,400)",
        ),
        (
            figure("12,000 soldiers", 12_000.0, 12_000.0, Q::Exact),
            "12,000 soldiers (11,500-12,500)",
        ),
        (
            figure("more than 6,000", 6_000.0, 6_000.0, Q::MoreThan),
            "more than 6,000 (above 6,000)",
        ),
        (
            figure("at least 40", 40.0, 40.0, Q::AtLeast),
            "at least 40 (40 or more)",
        ),
        (
            figure("fewer than 100", 100.0, 100.0, Q::FewerThan),
            "fewer than 100 (below 100)",
        ),
        (
            figure("5,000-6,000", 5_000.0, 6_000.0, Q::Exact),
            "5,000-6,000 (4,750-6,300)",
        ),
    ];
    for (figure, shown) in cases {
        assert_eq!(figure_text(&figure), shown);
    }
    let percent = pb::Figure {
        unit: pb::figure::Unit::Percent.into(),
        ..figure("1.5%", 1.5, 1.5, Q::Exact)
    };
    assert_eq!(figure_text(&percent), "1.5% (1.45-1.55%)");
    let year = pb::Figure {
        unit: pb::figure::Unit::Date.into(),
        ..figure("2024", 2024.0, 2024.0, Q::Exact)
    };
    assert_eq!(figure_text(&year), "2024 (a date, not compared)");
}

#[test]
fn statements_wrap_between_words() {
    assert_eq!(wrapped("one two three", 7), "one two\nthree");
    assert_eq!(wrapped("abcdefghij", 4), "abcd\nefgh\nij");
    assert_eq!(wrapped("", 4), "");
}
