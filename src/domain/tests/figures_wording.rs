//! Wordings and duplicates: normalisation, keys, and the precision and
//! recall of duplicate suggestions over labelled pairs of statements.

use super::*;

fn same(a: &str, b: &str) -> bool {
    same_claim(&Wording::of(a), &extract(a), &Wording::of(b), &extract(b))
}

fn tokens(statement: &str) -> Vec<String> {
    Wording::of(statement).tokens().to_vec()
}

#[test]
fn a_wording_drops_stop_words_and_makes_families_one() {
    assert_eq!(
        tokens("About 14,000 troops were sent, officials said."),
        ["#14000000", "about", "official", "sent", "troops"]
    );
    assert_eq!(
        tokens("Officials said some fourteen thousand soldiers had been deployed."),
        ["#14000000", "about", "official", "sent", "troops"]
    );
}

#[test]
fn one_value_written_differently_is_one_token() {
    let expected = tokens("14,000 troops");
    for written in [
        "14 000 troops",
        "fourteen thousand troops",
        "14k troops",
        "14 thousand soldiers",
        "14,000 Troops",
    ] {
        assert_eq!(tokens(written), expected, "{written}");
    }
}

#[test]
fn wordings_are_normalised_to_nfkc_and_lower_case() {
    assert_eq!(tokens("ＴＲＯＯＰＳ １４，０００"), tokens("troops 14,000"));
    assert_eq!(Wording::of("ﬁre"), Wording::of("FIRE"));
}

#[test]
fn keys_are_short_stable_and_follow_the_wording() {
    let a = Wording::of("About 14,000 troops were sent, officials said.");
    let b = Wording::of("Officials said some fourteen thousand soldiers had been deployed.");
    let c = Wording::of("About 14,000 troops were killed, officials said.");
    assert_eq!(a.key(), b.key());
    assert_ne!(a.key(), c.key());
    assert_eq!(a.key().len(), 16);
    assert!(a.key().chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(Wording::of("").key(), Wording::of(" , . ").key());
}

#[test]
fn wordings_are_bounded() {
    let statement: String = (0..1_000).map(|n| format!("w{n} ")).collect();
    assert!(Wording::of(&statement).tokens().len() <= 400);
}

#[test]
fn the_named_duplicates_hold() {
    assert!(same(
        "About 14,000 troops were sent, officials said",
        "Officials said some fourteen thousand soldiers had been deployed"
    ));
    assert!(!same(
        "about 14,000 troops were sent",
        "about 14,000 troops were killed"
    ));
    assert!(!same(
        "about 14,000 troops were sent",
        "about 14,000 troops were sent and 300 were killed"
    ));
    assert!(same("No figure was given.", "No figure was given"));
}

/// Pairs of statements of one story, written for this test, labelled true
/// when they say the same thing.
const DUPLICATE_PAIRS: &[(&str, &str, bool)] = &[
    // Duplicates.
    (
        "About 14,000 troops were sent, officials said.",
        "Officials said some fourteen thousand soldiers had been deployed.",
        true,
    ),
    (
        "The death toll rose to 300.",
        "The death toll has risen to 300.",
        true,
    ),
    (
        "More than 6,000 had been killed, the ministry said.",
        "The ministry said more than 6,000 were killed.",
        true,
    ),
    (
        "Turnout was 64%, the commission said.",
        "The commission said turnout was 64 percent.",
        true,
    ),
    (
        "The government approved a $1.2 billion aid package.",
        "A $1.2bn aid package was approved by the government.",
        true,
    ),
    (
        "Nearly 2 million people have fled the region.",
        "Almost two million people fled the region.",
        true,
    ),
    (
        "Two-thirds of the residents fled.",
        "Two thirds of residents have fled.",
        true,
    ),
    (
        "The ruling party won 37 of 64 seats.",
        "The ruling party took 37 of the 64 seats.",
        true,
    ),
    (
        "At least 40 people were killed in the blast.",
        "The blast killed at least 40 people.",
        true,
    ),
    (
        "Up to 500 migrants were rescued off the coast.",
        "As many as 500 migrants were rescued off the coast.",
        true,
    ),
    (
        "The quake killed at least 40 people.",
        "At least 40 people died in the quake.",
        true,
    ),
    // A duplicate it misses: the same troops, said to be sent and to be there.
    (
        "Valdoria has moved about 14,000 troops to the Kelmar Pass.",
        "Some 14,000 Valdorian soldiers are now massed at the Kelmar Pass.",
        true,
    ),
    (
        "Fewer than 100 journalists remain in the city.",
        "Fewer than 100 reporters remain in the city.",
        true,
    ),
    (
        "Police said 5,000-6,000 people joined the march.",
        "Between 5,000 and 6,000 people joined the march, police said.",
        true,
    ),
    (
        "Authorities detained 87 people overnight.",
        "87 people were detained overnight by the authorities.",
        true,
    ),
    (
        "The fire destroyed 300 homes.",
        "Three hundred homes were destroyed by the fire.",
        true,
    ),
    (
        "Some 14 000 troops remain in the enclave.",
        "About 14k troops remain in the enclave.",
        true,
    ),
    (
        "Inflation reached 12.5 percent in March.",
        "In March, inflation reached 12.5%.",
        true,
    ),
    (
        "The strike killed 27 civilians.",
        "27 civilians were killed in the strike.",
        true,
    ),
    (
        "Rescuers pulled 18 survivors from the rubble.",
        "18 survivors were pulled from the rubble by rescuers.",
        true,
    ),
    (
        "The city will spend €300m on new tram lines.",
        "The city is to spend €300 million on new tram lines.",
        true,
    ),
    (
        "No figure was given for the casualties.",
        "No figure was given for casualties.",
        true,
    ),
    // Not duplicates.
    (
        "About 14,000 troops were sent.",
        "About 14,000 troops were killed.",
        false,
    ),
    (
        "About 14,000 troops were sent.",
        "About 14,000 troops were sent and 300 were killed.",
        false,
    ),
    (
        "The death toll rose to 300.",
        "The death toll rose to 450.",
        false,
    ),
    ("Turnout was 64%.", "Support for the plan was 64%.", false),
    (
        "The government approved a $1.2 billion aid package.",
        "The government approved a €1.2 billion aid package.",
        false,
    ),
    (
        "The ruling party won 37 of 64 seats.",
        "The opposition won 27 of 64 seats.",
        false,
    ),
    (
        "At least 40 people were killed in the blast.",
        "At least 40 people were injured in the blast.",
        false,
    ),
    (
        "Fewer than 100 journalists remain in the city.",
        "Fewer than 100 journalists left the city.",
        false,
    ),
    (
        "Authorities detained 87 people overnight.",
        "Authorities released 87 people overnight.",
        false,
    ),
    (
        "The fire destroyed 300 homes.",
        "The flood destroyed 300 homes in the valley.",
        false,
    ),
    (
        "Valdoria has moved about 14,000 troops to the pass.",
        "Lorvania has moved about 14,000 troops to the border.",
        false,
    ),
    (
        "The strike killed 27 civilians.",
        "The strike killed 27 civilians, including 9 children.",
        false,
    ),
    (
        "No figure was given for the casualties.",
        "The army gave no reason for the delay.",
        false,
    ),
    (
        "Rebels freed 14 hostages.",
        "Rebels seized 14 hostages.",
        false,
    ),
    (
        "The convoy travelled 120 miles.",
        "The convoy travelled 120 km.",
        false,
    ),
];

#[test]
fn duplicate_suggestions_have_high_precision_and_recall() {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for &(a, b, duplicate) in DUPLICATE_PAIRS {
        let suggested = same(a, b);
        let similarity = Wording::of(a).similarity(&Wording::of(b));
        match (suggested, duplicate) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
        let mark = if suggested == duplicate { " " } else { "!" };
        println!("{mark} {similarity:.2} {duplicate:5} {a} / {b}");
    }
    let n = DUPLICATE_PAIRS.len();
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    println!(
        "duplicate suggestions: precision {precision:.3}, recall {recall:.3} over {n} pairs (tp {tp}, fp {fp}, fn {fn_})"
    );
    assert!(n >= 30);
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
}

#[test]
fn statements_whose_other_numbers_differ_are_not_duplicates() {
    // No figure in either (a label, not a count), but not the same claim.
    assert!(!same(
        "Convoy number 5 crossed the river at dawn",
        "Convoy number 7 crossed the river at dawn"
    ));
    assert!(!same(
        "The port turned the offer down (item 3)",
        "The port turned the offer down (item 8)"
    ));
    assert!(same(
        "Convoy number 5 crossed the river at dawn",
        "At dawn convoy number 5 crossed the river"
    ));
}

#[test]
fn an_abbreviated_hour_is_a_duration_not_a_count() {
    let figures = extract("The ferry is due in 4 h");
    assert_eq!(figures.len(), 1, "{figures:?}");
    assert_eq!(
        figures[0].unit,
        Unit::Measure {
            unit: "hour".to_owned()
        }
    );
}
