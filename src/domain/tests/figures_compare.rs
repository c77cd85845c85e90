//! Comparing figures: bounds, conflicts, and the precision and recall of
//! conflict suggestions over labelled pairs of statements.

use super::*;

/// The one figure of `statement`.
fn one(statement: &str) -> Figure {
    let mut figures = extract(statement);
    assert_eq!(figures.len(), 1, "{statement}: {figures:?}");
    figures.remove(0)
}

fn agreement(a: &str, b: &str) -> Agreement {
    let (a, b) = (one(a), one(b));
    let forward = compare(&a, &b);
    assert_eq!(forward, compare(&b, &a), "compare is symmetric");
    forward
}

fn bounds(statement: &str) -> (i64, i64) {
    let (low, high) = one(statement).bounds();
    (low.0, high.0)
}

const INF: i64 = i64::MAX;

#[test]
fn bounds_follow_each_qualifier() {
    let cases = [
        ("14,000 troops", (13_500_000, 14_500_000)),
        ("14,200 troops", (14_150_000, 14_250_000)),
        ("300 troops", (285_000, 315_000)),
        ("37 troops", (36_500, 37_500)),
        ("about 14,000 troops", (12_600_000, 15_400_000)),
        ("about 300 troops", (270_000, 330_000)),
        ("nearly 2 million troops", (1_800_000_000, 2_000_000_000)),
        ("more than 4,000 troops", (4_000_001, INF)),
        ("at least 600 troops", (600_000, INF)),
        ("up to 500 troops", (0, 500_000)),
        ("fewer than 100 troops", (0, 99_999)),
        ("5,000-6,000 troops", (4_750_000, 6_300_000)),
        ("about 5,000-6,000 troops", (4_500_000, 6_600_000)),
        ("two-thirds of the troops", (642, 692)),
        ("half of the troops", (475, 525)),
        ("0 troops", (0, 0)),
    ];
    for (statement, expected) in cases {
        assert_eq!(bounds(statement), expected, "{statement}");
    }
}

/// The comparisons the issue names, each with the reason.
#[test]
fn the_named_comparisons_hold() {
    use Agreement::*;
    let cases = [
        // Both lower bounds can hold at once.
        (
            "more than 4,000 troops",
            "more than 6,000 troops",
            Compatible,
        ),
        // About 14,000 allows 12,600 at least; 12,000 allows 12,500 at most.
        ("about 14,000 troops", "12,000 troops", Conflict),
        (
            "nearly 2 million people",
            "about 1.9 million people",
            Compatible,
        ),
        (
            "12,000 troops were sent",
            "about 14,000 troops were sent",
            Conflict,
        ),
        // Engineers are not the troops family.
        ("6,000 engineers", "14,000 troops", Unrelated),
        // A fraction and a count do not meet.
        ("more than 6,000 killed", "two-thirds died", Unrelated),
        ("up to 500 troops", "at least 600 troops", Conflict),
        ("5,000-6,000 troops", "about 5,500 troops", Compatible),
        // Whoever writes "fewer than 100" denies the figure 100 itself.
        ("fewer than 100 troops", "100 troops", Conflict),
        // 14,000 is a round figure: it allows its rounding.
        ("14,000 troops", "14,200 troops", Compatible),
        // Sent and killed troops are different counts.
        (
            "14,000 troops were sent",
            "6,000 troops were killed",
            Unrelated,
        ),
        ("more than 4,000 troops", "4,000 troops", Conflict),
        ("at least 4,000 troops", "4,000 troops", Compatible),
        ("up to 4,000 troops", "4,000 troops", Compatible),
        ("300 people were killed", "350 people were killed", Conflict),
        ("in 2024", "in 2025", Unrelated),
        ("turnout was 64%", "turnout was 58%", Conflict),
        ("turnout was 64%", "64 voters", Unrelated),
        ("12 km", "14 km", Unrelated),
        ("1,2,3", "1", Unrelated),
        ("half of the troops", "two-thirds of the troops", Conflict),
    ];
    for (a, b, expected) in cases {
        let (fa, fb) = (extract(a), extract(b));
        let got = compare(&fa[0], &fb[0]);
        assert_eq!(got, expected, "{a} / {b}");
        assert_eq!(compare(&fb[0], &fa[0]), got, "symmetric: {a} / {b}");
    }
}

#[test]
fn a_figure_is_compatible_with_itself() {
    for statement in [
        "about 14,000 troops",
        "more than 4,000 troops",
        "fewer than 100 troops",
        "5-6 thousand troops",
        "half of the troops",
    ] {
        assert_eq!(
            agreement(statement, statement),
            Agreement::Compatible,
            "{statement}"
        );
    }
}

#[test]
fn conflicts_pairs_each_figure_of_a_with_its_first_conflict_in_b() {
    let a =
        extract("About 14,000 troops were sent and 300 civilians were killed; turnout was 64%.");
    let b = extract(
        "Some 9,000 troops were sent, 300 civilians were killed, 120 civilians were killed, and turnout was 40%.",
    );
    assert_eq!(conflicts(&a, &b), vec![(0, 0), (1, 2), (2, 3)]);
    assert_eq!(conflicts(&a, &a), vec![]);
    assert_eq!(conflicts(&a, &[]), vec![]);
}

#[test]
fn conflicts_are_bounded() {
    let a: Vec<Figure> = (0..40).flat_map(|_| extract("100 troops")).collect();
    let b: Vec<Figure> = (0..40).flat_map(|_| extract("900 troops")).collect();
    assert_eq!(conflicts(&a, &b).len(), Figure::MAX_PER_STATEMENT);
}

#[test]
fn index_keys_name_unit_and_family() {
    let keys: Vec<String> = extract(
        "About 14,000 troops were sent, turnout was 64%, the $1.2 billion in aid, 30 km of the pass, in 2024.",
    )
    .iter()
    .map(Figure::index_key)
    .collect();
    assert_eq!(
        keys,
        [
            "count:troops:sent",
            "percent:turnout",
            "money:usd:aid",
            "measure:km:pass",
            "date"
        ]
    );
}

/// Pairs of statements of one story, written for this test, labelled true
/// when they cannot both be true. About half are real conflicts; the rest
/// are compatible, about different things, or near-misses that a bare
/// comparison of numbers would flag.
const CONFLICT_PAIRS: &[(&str, &str, bool)] = &[
    // Real conflicts.
    (
        "Valdoria has moved about 14,000 troops to the pass.",
        "Valdoria has moved 9,000 troops to the pass.",
        true,
    ),
    (
        "About 14,000 troops were sent to the front.",
        "Officials said 12,000 soldiers had been deployed.",
        true,
    ),
    (
        "The death toll rose to 300.",
        "More than 450 people have been killed, officials said.",
        true,
    ),
    (
        "At least 600 people died in the floods.",
        "Up to 500 people were killed by the floods.",
        true,
    ),
    (
        "Fewer than 100 journalists remain in the city.",
        "Some 250 journalists remain in the city.",
        true,
    ),
    (
        "Turnout was 64%, the commission said.",
        "Turnout was 48 percent.",
        true,
    ),
    (
        "The government approved a $1.2 billion aid package.",
        "The aid package is worth $800 million.",
        true,
    ),
    (
        "Nearly 2 million people have fled the region.",
        "About 3.5 million people have fled the region.",
        true,
    ),
    (
        "The ruling party won 37 of 64 seats.",
        "The ruling party won 29 seats.",
        true,
    ),
    (
        "More than 6,000 had been killed by Friday.",
        "The death toll stood at 2,100 on Friday.",
        true,
    ),
    (
        "Police said 5,000-6,000 people joined the march.",
        "Organisers said 20,000 people joined the march.",
        true,
    ),
    (
        "Two-thirds of the residents fled.",
        "A quarter of the residents fled.",
        true,
    ),
    (
        "The quake killed at least 40 people.",
        "The quake killed 12 people.",
        true,
    ),
    (
        "Rescuers freed 32 hostages.",
        "Only 8 hostages were freed.",
        true,
    ),
    (
        "Some 300,000 refugees crossed into Lorvania.",
        "About 120,000 refugees crossed into Lorvania.",
        true,
    ),
    (
        "Inflation reached 12.5 percent in March.",
        "Inflation was 9% in March.",
        true,
    ),
    (
        "The army lost no more than 250 soldiers.",
        "The army lost 1,000 soldiers.",
        true,
    ),
    (
        "Up to 500 migrants were rescued off the coast.",
        "More than 900 migrants were rescued off the coast.",
        true,
    ),
    (
        "Authorities detained 87 people overnight.",
        "Authorities arrested 300 people overnight.",
        true,
    ),
    (
        "The blast injured 120 people.",
        "Forty people were injured in the blast.",
        true,
    ),
    (
        "The fire destroyed 300 homes.",
        "The fire destroyed 1,200 homes.",
        true,
    ),
    (
        "Between 5 and 6 thousand troops crossed the river.",
        "Some 9,000 troops crossed the river.",
        true,
    ),
    (
        "The strike killed 27 civilians.",
        "The strike killed 4 civilians.",
        true,
    ),
    (
        "Nearly half of the voters stayed home.",
        "Three-quarters of the voters stayed home.",
        true,
    ),
    (
        "The city will spend €300m on trams.",
        "The city will spend €1.1 billion on trams.",
        true,
    ),
    (
        "1,250 prisoners were released under the amnesty.",
        "Over 3,000 prisoners were released under the amnesty.",
        true,
    ),
    (
        "Close to 900 fighters surrendered.",
        "About 2,400 fighters surrendered.",
        true,
    ),
    (
        "The fighting left 2,300 dead.",
        "The fighting left 700 dead.",
        true,
    ),
    (
        "Twenty-five journalists have been detained.",
        "Nine journalists have been detained.",
        true,
    ),
    (
        "Unemployment fell to 7.4 per cent.",
        "Unemployment fell to 11%.",
        true,
    ),
    (
        "Some 14 000 troops remain in the enclave.",
        "Fewer than 5,000 troops remain in the enclave.",
        true,
    ),
    (
        "Shelling killed four people.",
        "Shelling killed eleven people.",
        true,
    ),
    (
        "The navy sent 1,200 marines.",
        "The navy sent 3,000 marines.",
        true,
    ),
    (
        "The strike killed 27, officials said.",
        "The strike killed 90 people.",
        true,
    ),
    // Real conflicts it misses: an event said by a noun, not a verb.
    (
        "The evacuation of 3,400 civilians was completed.",
        "Only 1,100 civilians were evacuated.",
        true,
    ),
    (
        "Valdoria has moved 14,000 troops to the pass.",
        "Valdoria's force at the pass numbers 9,000 soldiers.",
        true,
    ),
    // Compatible.
    (
        "More than 4,000 troops were killed.",
        "More than 6,000 troops were killed.",
        false,
    ),
    (
        "Nearly 2 million people have fled.",
        "About 1.9 million people have fled.",
        false,
    ),
    (
        "Police said 5,000-6,000 people joined the march.",
        "About 5,500 people joined the march.",
        false,
    ),
    (
        "About 14,000 troops were sent.",
        "Some 14,200 soldiers were deployed.",
        false,
    ),
    (
        "14,000 troops were sent.",
        "14,200 troops were sent.",
        false,
    ),
    (
        "At least 40 people were killed.",
        "The death toll rose to 52.",
        false,
    ),
    (
        "Up to 500 migrants were rescued.",
        "Some 450 migrants were rescued.",
        false,
    ),
    ("Turnout was 64%.", "Turnout was about 63 percent.", false),
    (
        "The death toll rose from 300 to 450.",
        "At least 450 people have been killed.",
        false,
    ),
    (
        "Two-thirds of the residents fled.",
        "About 65% of residents fled.",
        false,
    ),
    // About different things: a bare number comparison would flag these.
    (
        "About 14,000 troops were sent.",
        "6,000 troops were killed.",
        false,
    ),
    ("6,000 engineers arrived.", "14,000 troops arrived.", false),
    ("More than 6,000 were killed.", "Two-thirds died.", false),
    (
        "The law was passed in 2024.",
        "The law was passed in 2019.",
        false,
    ),
    (
        "The convoy travelled 120 miles.",
        "The convoy travelled 40 km.",
        false,
    ),
    (
        "At least 40 people were killed.",
        "At least 120 people were injured.",
        false,
    ),
    (
        "300 civilians were killed.",
        "1,200 troops were killed.",
        false,
    ),
    (
        "The army has 14,000 reservists.",
        "The army sent 2,000 reservists.",
        false,
    ),
    (
        "Turnout was 64%.",
        "The ruling party won 37% of the vote.",
        false,
    ),
    (
        "A 34-year-old man was arrested.",
        "Police arrested 12 people.",
        false,
    ),
    (
        "The 3rd Brigade lost 12 soldiers.",
        "The brigade lost 40 soldiers.",
        true,
    ),
    (
        "Casualties reached 1,200.",
        "The death toll reached 300.",
        false,
    ),
    (
        "The ministry hotline, 555-0142, received calls.",
        "The ministry received 3,000 calls.",
        false,
    ),
    (
        "The aid package is worth $1.2 billion.",
        "The aid package is worth €1.2 billion.",
        false,
    ),
    (
        "The quake, of magnitude 6.2, struck at dawn.",
        "Aftershocks of magnitude 4.1 followed.",
        false,
    ),
    ("Prices rose 3.5% in June.", "Wages rose 8% in June.", false),
    (
        "On June 19 troops entered the city.",
        "On June 24 troops entered the city.",
        false,
    ),
    (
        "About 14,000 troops were sent, officials said.",
        "Some 14,000 soldiers were deployed.",
        false,
    ),
    (
        "Half of the 600 villagers were evacuated.",
        "300 villagers were evacuated.",
        false,
    ),
    (
        "The ruling party won 37 of 64 seats.",
        "The opposition won 27 of 64 seats.",
        true,
    ),
    (
        "Rebels freed 14 hostages and kept 9.",
        "Rebels still hold 9 hostages.",
        false,
    ),
    // Near-misses it flags: negation, and time frames.
    (
        "Officials denied that 14,000 troops had been sent.",
        "About 9,000 troops were sent.",
        false,
    ),
    (
        "300 people were killed this week.",
        "1,200 people have been killed since March.",
        false,
    ),
];

#[test]
fn conflict_suggestions_have_high_precision_and_recall() {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut wrong = Vec::new();
    for &(a, b, conflict) in CONFLICT_PAIRS {
        let suggested = !conflicts(&extract(a), &extract(b)).is_empty();
        match (suggested, conflict) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
        if suggested != conflict {
            wrong.push(format!("{a} / {b}: suggested {suggested}"));
        }
    }
    let n = CONFLICT_PAIRS.len();
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    println!(
        "conflict suggestions: precision {precision:.3}, recall {recall:.3} over {n} pairs (tp {tp}, fp {fp}, fn {fn_})"
    );
    for line in &wrong {
        println!("  missed or wrong: {line}");
    }
    assert!(n >= 60);
    assert!(precision >= 0.9, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
}
