//! Reading figures: extraction over statements written for these tests.

use super::*;

/// A compact, complete description of figures, one per `;`: qualifier
/// sign, value or range, `/whole`, the index key (unit and family) and the
/// counted phrase in brackets; dates as their text.
pub(super) fn show(figures: &[Figure]) -> String {
    figures.iter().map(show_one).collect::<Vec<_>>().join("; ")
}

fn show_one(figure: &Figure) -> String {
    let key = figure.index_key();
    assert!(
        key.starts_with(&unit_tag(&figure.unit)),
        "{key} does not name {:?}",
        figure.unit
    );
    if figure.unit == Unit::Date {
        return format!("date {:?}", figure.text);
    }
    let sign = match figure.qualifier {
        Qualifier::Exact => "",
        Qualifier::About => "~",
        Qualifier::Nearly => "<~",
        Qualifier::MoreThan => ">",
        Qualifier::AtLeast => ">=",
        Qualifier::UpTo => "<=",
        Qualifier::FewerThan => "<",
    };
    let value = if figure.low == figure.high {
        number(figure.low)
    } else {
        format!("{}-{}", number(figure.low), number(figure.high))
    };
    let of = figure
        .of
        .map(|whole| format!("/{}", number(whole)))
        .unwrap_or_default();
    format!("{sign}{value}{of} {key} [{}]", figure.counted.phrase)
}

fn unit_tag(unit: &Unit) -> String {
    match unit {
        Unit::Count => "count:".to_owned(),
        Unit::Percent => "percent:".to_owned(),
        Unit::Fraction => "fraction:".to_owned(),
        Unit::Money { currency } => format!("money:{currency}:"),
        Unit::Measure { unit } => format!("measure:{unit}:"),
        Unit::Date => "date".to_owned(),
    }
}

/// Thousandths as a plain decimal: 14000, 0.667, 12.5.
fn number(milli: Milli) -> String {
    let (whole, rest) = (milli.0 / 1000, milli.0 % 1000);
    if rest == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{rest:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// Statements in the style of wire copy, written for these tests (every
/// place, party and figure is made up), with the figures read from each.
const STATEMENTS: &[(&str, &str)] = &[
    (
        "Valdoria has moved about 14,000 troops to within 30 km of the Kelmar Pass.",
        "~14000 count:troops:sent [troops]; <=30 measure:km:pass [kelmar pass]",
    ),
    (
        "About 14,000 North Korean troops were sent to the front, officials said.",
        "~14000 count:troops:sent [north korean troops]",
    ),
    (
        "Officials said some fourteen thousand soldiers had been deployed.",
        "~14000 count:troops:sent [soldiers]",
    ),
    (
        "More than 6,000 had been killed by the end of the week, the ministry said.",
        ">6000 count:people:killed [killed]",
    ),
    (
        "The death toll rose to 300 on Tuesday.",
        "300 count:people:killed [death toll]",
    ),
    (
        "Losses amounted to more than 4,000, according to the general staff.",
        ">4000 count:people:killed [losses]",
    ),
    (
        "Some 6,000 dead were buried in mass graves near Orvel.",
        "~6000 count:people:killed [dead]",
    ),
    (
        "Nearly 2 million people have fled the region.",
        "<~2000000 count:people:displaced [people]",
    ),
    (
        "An estimated 1.9 million residents were displaced by the floods.",
        "~1900000 count:civilians:displaced [residents]",
    ),
    (
        "Two-thirds of the residents fled before the dam broke.",
        "0.667 fraction:civilians:displaced [residents]",
    ),
    (
        "Half of the 600 villagers were evacuated.",
        "0.5 fraction:civilians:displaced [villagers]",
    ),
    (
        "Turnout was 64%, the electoral commission said.",
        "64 percent:turnout [turnout]",
    ),
    (
        "The ruling party won 37 of 64 seats.",
        "37/64 count:seats [seats]",
    ),
    (
        "Between 5 and 6 thousand troops crossed the river.",
        "5000-6000 count:troops [troops]",
    ),
    (
        "Between 5,000 and 6,000 protesters gathered in the square.",
        "5000-6000 count:protester [protesters]",
    ),
    (
        "Police said 5,000-6,000 people joined the march.",
        "5000-6000 count:people [people]",
    ),
    (
        "The government approved a $1.2 billion aid package.",
        "1200000000 money:usd:package [aid package]",
    ),
    (
        "The city will spend €300m on new tram lines.",
        "300000000 money:eur:city [city]",
    ),
    (
        "Ministers pledged 2 million rubles to each family.",
        "2000000 money:rub:minister [ministers]",
    ),
    (
        "The quake, of magnitude 6.2, struck at 3:40 a.m.",
        "6.2 measure:magnitude:unknown []; date \"3:40 a.m.\"",
    ),
    (
        "A 6.2-magnitude earthquake killed at least 40 people.",
        "6.2 measure:magnitude:earthquake [earthquake]; >=40 count:people:killed [people]",
    ),
    (
        "At least 40 people were killed and 120 injured in the blast.",
        ">=40 count:people:killed [people]; 120 count:people:wounded [injured]",
    ),
    (
        "Up to 500 migrants were rescued off the coast on June 19.",
        "<=500 count:migrants:rescued [migrants]; date \"June 19\"",
    ),
    (
        "Fewer than 100 journalists remain in the city.",
        "<100 count:journalists [journalists]",
    ),
    (
        "The convoy travelled 120 miles in 3 hours.",
        "120 measure:mile:convoy [convoy]; 3 measure:hour:unknown []",
    ),
    (
        "The 3rd Brigade lost 12 soldiers in the ambush.",
        "12 count:troops:killed [soldiers]",
    ),
    ("A 34-year-old man was arrested at the scene.", ""),
    ("One of the hostages was released on Monday.", ""),
    (
        "The ministry hotline, 555-0142, received 3,000 calls.",
        "3000 count:call [calls]",
    ),
    (
        "In August 2024 the army deployed 2,500 reservists to the border.",
        "date \"2024\"; 2500 count:troops:sent [reservists]",
    ),
    (
        "Inflation reached 12.5 percent in March, the central bank said.",
        "12.5 percent:inflation [inflation]",
    ),
    (
        "Unemployment fell to 7.4 per cent.",
        "7.4 percent:unemployment [unemployment]",
    ),
    (
        "Rebels freed 14 hostages and kept 9.",
        "14 count:hostages:released [hostages]; 9 count:unknown []",
    ),
    (
        "Officials said the strike killed 27 civilians, including 9 children.",
        "27 count:civilians:killed [civilians]; 9 count:children [children]",
    ),
    ("No figure was given for the number of casualties.", ""),
    ("The fire destroyed 300 homes.", "300 count:homes [homes]"),
    (
        "The navy sent 2 frigates and 1,200 marines.",
        "2 count:frigate:sent [frigates]; 1200 count:troops [marines]",
    ),
    (
        "Twenty-five journalists have been detained since the protests began.",
        "25 count:journalists:arrested [journalists]",
    ),
    (
        "A dozen police officers were hurt in the clashes.",
        "12 count:police:wounded [police officers]",
    ),
    ("Dozens of people were injured.", ""),
    ("Thousands of troops massed on the border.", ""),
    (
        "The budget for 2025 is $4.5bn, up from $3.9bn.",
        "date \"2025\"; 4500000000 money:usd:unknown []; 3900000000 money:usd:unknown []",
    ),
    (
        "The death toll rose from 300 to 450 overnight.",
        "450 count:people:killed [death toll]",
    ),
    (
        "Over 1,500 prisoners were released under the amnesty.",
        ">1500 count:prisoners:released [prisoners]",
    ),
    (
        "Close to 900 fighters surrendered in Mariel.",
        "<~900 count:troops [fighters]",
    ),
    (
        "Rescuers pulled 18 survivors from the rubble, 48 hours after the quake.",
        "18 count:survivor [survivors]; 48 measure:hour:unknown []",
    ),
    (
        "The wall is 12 km long and 5 metres high.",
        "12 measure:km:long [long]; 5 measure:m:high [high]",
    ),
    (
        "Roughly a quarter of the voters stayed at home.",
        "~0.25 fraction:voters [voters]",
    ),
    (
        "About 14k troops remain in the enclave.",
        "~14000 count:troops [troops]",
    ),
    (
        "Some 14 000 troops remain in the enclave.",
        "~14000 count:troops [troops]",
    ),
    (
        "The army has 14.000 reservists, a spokesman said.",
        "14 count:troops [reservists]",
    ),
    (
        "The aid ship carried 2,000 tonnes of flour.",
        "2000 measure:tonne:flour [flour]",
    ),
    (
        "The minister said 1,2,3,4 were counted.",
        "1 count:unknown []; 2 count:unknown []; 3 count:unknown []; 4 count:unknown []",
    ),
    (
        "The casualties included 3 children.",
        "3 count:children [children]",
    ),
    (
        "No fewer than 250 people attended the funeral.",
        ">=250 count:people [people]",
    ),
    (
        "As many as 1,000 homes may have been damaged.",
        "<=1000 count:homes [homes]",
    ),
    (
        "The fighting left 2,300 dead and 4,100 wounded.",
        "2300 count:people:killed [dead]; 4100 count:people:wounded [wounded]",
    ),
    (
        "The rebels hold 30% of the province.",
        "30 percent:province [province]",
    ),
    (
        "Authorities detained 87 people overnight.",
        "87 count:people:arrested [people]",
    ),
    (
        "About 300,000 refugees crossed into Lorvania last year.",
        "~300000 count:refugees [refugees]",
    ),
    (
        "The pipeline carries 1.2 million barrels a day.",
        "1200000 measure:barrel:pipeline [pipeline]",
    ),
    (
        "Voters rejected the plan by a margin of 52 to 48.",
        "52 count:margin [margin]; 48 count:unknown []",
    ),
    (
        "The hospital treated 60 wounded soldiers.",
        "60 count:troops:wounded [wounded soldiers]",
    ),
    (
        "Prices rose by 3.5% in the second half of the year.",
        "3.5 percent:price [prices]",
    ),
    (
        "Half a million refugees have registered in Tarsa.",
        "500000 count:refugees [refugees]",
    ),
    (
        "The company cut 1,200 jobs, or 8% of its workforce.",
        "1200 count:job [jobs]; 8 percent:workforce [workforce]",
    ),
    (
        "Russia says it has lost fewer than 6,000 servicemen.",
        "<6000 count:troops:killed [servicemen]",
    ),
    (
        "The ceasefire took effect at 10:30 on Sunday.",
        "date \"10:30\"",
    ),
    (
        "Approximately 40 percent of the vote was counted.",
        "~40 percent:votes [vote]",
    ),
    (
        "The ministry put the number of dead at 1,250.",
        "1250 count:people:killed [dead]",
    ),
    (
        "A further 3,000 troops will be dispatched next month.",
        "3000 count:troops:sent [troops]",
    ),
    (
        "Shelling killed four people, including two children.",
        "4 count:people:killed [people]; 2 count:children [children]",
    ),
    (
        "The tanker spilled 500 tonnes of oil within 2 km of the shore.",
        "500 measure:tonne:oil [oil]; <=2 measure:km:shore [shore]",
    ),
    (
        "Villagers said 700 sheep died in the storm.",
        "700 count:sheep:killed [sheep]",
    ),
    ("The 1990s saw similar numbers.", "date \"1990s\""),
    ("Call +44 20 7946 0958 for details.", ""),
    ("Room 101 was sealed off.", ""),
    (
        "The fund holds US$3.2 billion.",
        "3200000000 money:usd:fund [fund]",
    ),
    (
        "Negotiators met for the 4th time on 12 March 2025.",
        "date \"12 March 2025\"",
    ),
    (
        "Tens of thousands marched; police put the crowd at 25,000.",
        "25000 count:crowd [crowd]",
    ),
    (
        "The evacuation of 3,400 civilians was completed.",
        "3400 count:civilians [civilians]",
    ),
    (
        "Ten people were killed and twenty-two wounded.",
        "10 count:people:killed [people]; 22 count:people:wounded [wounded]",
    ),
    (
        "Ninety-nine percent of ballots were valid.",
        "99 percent:votes [ballots]",
    ),
    (
        "The battalion advanced 3 miles.",
        "3 measure:mile:battalion [battalion]",
    ),
    (
        "Between 1.2 and 1.5 million people lost power.",
        "1200000-1500000 count:people [people]",
    ),
    (
        "Officials counted 5 to 6 million votes.",
        "5000000-6000000 count:votes [votes]",
    ),
    (
        "The strike wounded 14 civilians, police said.",
        "14 count:civilians:wounded [civilians]",
    ),
    (
        "Some 2,000 workers were laid off in June.",
        "~2000 count:workers [workers]",
    ),
    (
        "At most 70 soldiers were taken prisoner.",
        "<=70 count:troops [soldiers]",
    ),
    ("Under 10% of the aid has arrived.", "<10 percent:aid [aid]"),
    (
        "The dam holds 300 million cubic metres of water.",
        "300000000 measure:m3:water [water]",
    ),
    ("A third round of talks is set for Geneva.", ""),
    (
        "A third of the homes were damaged.",
        "0.333 fraction:homes [homes]",
    ),
    (
        "Just under 5,000 refugees arrived on the island last month.",
        "<~5000 count:refugees [refugees]",
    ),
    (
        "The army said it had lost no more than 250 soldiers, not the 1,000 claimed.",
        "<=250 count:troops:killed [soldiers]; 1000 count:unknown []",
    ),
    (
        "Emergency crews rescued 32 people and recovered 11 bodies.",
        "32 count:people:rescued [people]; 11 count:body [bodies]",
    ),
    (
        "At least 1,500 civilians have been killed since the offensive began, the UN said.",
        ">=1500 count:civilians:killed [civilians]",
    ),
    (
        "The UN says more than 3.7 million Valdorians have left the country.",
        ">3700000 count:valdorian [valdorians]",
    ),
    (
        "Valdoria claims to have destroyed 42 tanks and 17 aircraft.",
        "42 count:tank [tanks]; 17 count:aircraft [aircraft]",
    ),
    (
        "Officials estimate 250 to 300 people are still missing.",
        "250-300 count:people:missing [people]",
    ),
    (
        "The strike on the market killed 16 and wounded 45, local authorities said.",
        "16 count:people:killed [killed]; 45 count:people:wounded [wounded]",
    ),
    (
        "Exit polls gave the incumbent 54.3% against 41.2% for her rival.",
        "54.3 percent:incumbent [incumbent]; 41.2 percent:unknown []",
    ),
    (
        "The IMF approved a $15.6bn loan.",
        "15600000000 money:usd:loan [loan]",
    ),
    (
        "Around 40,000 people attended the rally, according to police; organisers said 100,000.",
        "~40000 count:people [people]; 100000 count:unknown []",
    ),
    (
        "The 2,000-strong contingent arrived on Tuesday.",
        "2000 count:contingent [contingent]",
    ),
    (
        "Temperatures reached 45 degrees Celsius.",
        "45 measure:degree:celsius [celsius]",
    ),
    (
        "Some 1.2m people live in the city.",
        "~1200000 count:people [people]",
    ),
    (
        "The navy said 3 of its 7 ships were damaged.",
        "3/7 count:ship [ships]",
    ),
    (
        "Nearly one in five residents lacks water.",
        "<~0.2 fraction:civilians [residents]",
    ),
];

#[test]
fn every_statement_reads_the_expected_figures() {
    assert!(STATEMENTS.len() >= 80);
    let wrong: Vec<String> = STATEMENTS
        .iter()
        .filter_map(|&(statement, expected)| {
            let read = show(&extract(statement));
            (read != expected)
                .then(|| format!("{statement}\n  expected {expected}\n  read     {read}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_text_of_a_figure_is_its_words_as_written() {
    let cases = [
        (
            "Valdoria has moved about 14,000 troops to within 30 km of the Kelmar Pass.",
            vec!["about 14,000 troops", "within 30 km of the Kelmar Pass"],
        ),
        (
            "About 14,000 North Korean troops were sent.",
            vec!["About 14,000 North Korean troops"],
        ),
        (
            "The death toll rose from 300 to 450 overnight.",
            vec!["from 300 to 450"],
        ),
        (
            "Between 5 and 6 thousand troops crossed.",
            vec!["Between 5 and 6 thousand troops"],
        ),
        ("The fund holds US$3.2 billion.", vec!["US$3.2 billion"]),
        (
            "Two-thirds of the residents fled.",
            vec!["Two-thirds of the residents"],
        ),
        (
            "The ruling party won 37 of 64 seats.",
            vec!["37 of 64 seats"],
        ),
        (
            "Up to 500 migrants were rescued on June 19.",
            vec!["Up to 500 migrants", "June 19"],
        ),
        ("Some 14 000 troops remain.", vec!["Some 14 000 troops"]),
        ("Turnout was 64%, officials said.", vec!["64%"]),
        (
            "About 1,200 soldiers or so were sent.",
            vec!["About 1,200 soldiers"],
        ),
        (
            "Some 1,200 soldiers were sent, or more.",
            vec!["Some 1,200 soldiers"],
        ),
    ];
    for (statement, expected) in cases {
        let texts: Vec<String> = extract(statement).into_iter().map(|f| f.text).collect();
        assert_eq!(texts, expected, "{statement}");
    }
}

#[test]
fn a_qualifier_may_follow_the_figure() {
    assert_eq!(
        show(&extract("It sent 1,200 troops or so.")),
        "~1200 count:troops:sent [troops]"
    );
    assert_eq!(
        show(&extract("It sent 1,200 troops or more.")),
        ">=1200 count:troops:sent [troops]"
    );
}

#[test]
fn every_qualifier_phrase_is_read() {
    let cases = [
        ("about", "~"),
        ("around", "~"),
        ("roughly", "~"),
        ("some", "~"),
        ("approximately", "~"),
        ("an estimated", "~"),
        ("circa", "~"),
        ("nearly", "<~"),
        ("almost", "<~"),
        ("close to", "<~"),
        ("just under", "<~"),
        ("more than", ">"),
        ("over", ">"),
        ("upwards of", ">"),
        ("in excess of", ">"),
        ("at least", ">="),
        ("no fewer than", ">="),
        ("no less than", ">="),
        ("up to", "<="),
        ("at most", "<="),
        ("no more than", "<="),
        ("as many as", "<="),
        ("fewer than", "<"),
        ("less than", "<"),
        ("under", "<"),
        ("below", "<"),
        ("", ""),
    ];
    for (words, sign) in cases {
        let statement = format!("Officials said {words} 1,200 soldiers were killed.");
        assert_eq!(
            show(&extract(&statement)),
            format!("{sign}1200 count:troops:killed [soldiers]"),
            "{statement}"
        );
    }
}

#[test]
fn the_same_value_written_differently_reads_the_same() {
    for written in [
        "14,000",
        "14 000",
        "14\u{a0}000",
        "14k",
        "fourteen thousand",
        "14 thousand",
        "14.0 thousand",
    ] {
        let figures = extract(&format!("The army sent {written} troops."));
        assert_eq!(
            show(&figures),
            "14000 count:troops:sent [troops]",
            "{written}"
        );
    }
}

#[test]
fn spelled_numbers_are_read() {
    let cases = [
        ("two hundred and fifty", "250"),
        ("twenty-five", "25"),
        ("a dozen", "12"),
        ("two dozen", "24"),
        ("a hundred", "100"),
        ("a thousand", "1000"),
        ("three million", "3000000"),
        ("one million two hundred thousand", "1200000"),
        ("half a million", "500000"),
        ("ninety-nine", "99"),
    ];
    for (words, value) in cases {
        let statement = format!("Officials said {words} refugees were registered.");
        assert_eq!(
            show(&extract(&statement)),
            format!("{value} count:refugees [refugees]"),
            "{statement}"
        );
    }
}

#[test]
fn traps_are_no_figures() {
    for statement in [
        "A 34-year-old man was arrested.",
        "The man, 34 years old, was arrested.",
        "The suspect, aged 34, was arrested.",
        "One of the soldiers was arrested.",
        "One person was arrested.",
        "The 3rd brigade and the 21st division withdrew.",
        "Call 555-0142 or +1 202 555 0199.",
        "Route 66 and Article 5 were cited, as was No. 7.",
        "Dozens were hurt and hundreds fled; thousands of troops massed.",
        "A third round of talks ended.",
        "The first half of the year was calm.",
        "",
        "   ",
    ] {
        assert_eq!(show(&extract(statement)), "", "{statement:?}");
    }
}

#[test]
fn dates_and_times_are_dates() {
    let cases = [
        ("The law passed in 2024.", "date \"2024\""),
        ("It happened on June 19.", "date \"June 19\""),
        ("It happened on 19 June 2024.", "date \"19 June 2024\""),
        ("It happened on March 3, 2025.", "date \"March 3, 2025\""),
        ("The curfew starts at 10:30 pm.", "date \"10:30 pm\""),
        ("The curfew starts at 9 p.m.", "date \"9 p.m.\""),
        ("The 1990s were worse.", "date \"1990s\""),
    ];
    for (statement, expected) in cases {
        assert_eq!(show(&extract(statement)), expected, "{statement}");
    }
}

#[test]
fn units_are_read() {
    let cases = [
        ("The aid is worth €300m.", "300000000 money:eur:aid [aid]"),
        (
            "The aid is worth A$5 million.",
            "5000000 money:aud:aid [aid]",
        ),
        (
            "The aid is worth USD 5 million.",
            "5000000 money:usd:aid [aid]",
        ),
        (
            "They paid 5 million EUR for it.",
            "5000000 money:eur:unknown []",
        ),
        (
            "They paid 2 million pounds for it.",
            "2000000 money:gbp:unknown []",
        ),
        ("The ridge is 300m high.", "300 measure:m:high [high]"),
        ("They marched 30 miles.", "30 measure:mile:unknown []"),
        (
            "It covers 40 square kilometres of forest.",
            "40 measure:km2:forest [forest]",
        ),
        (
            "Support fell 4 percentage points.",
            "4 measure:percentage-point:support [support]",
        ),
        (
            "Support fell to 40 per cent.",
            "40 percent:support [support]",
        ),
        (
            "Support fell to 40 percent.",
            "40 percent:support [support]",
        ),
        ("Support fell to 40%.", "40 percent:support [support]"),
        (
            "Three-quarters of the residents left.",
            "0.75 fraction:civilians [residents]",
        ),
        (
            "A magnitude 5.8 quake struck.",
            "5.8 measure:magnitude:quake [quake]",
        ),
        ("The talks lasted 10 days.", "10 measure:day:talk [talks]"),
    ];
    for (statement, expected) in cases {
        assert_eq!(show(&extract(statement)), expected, "{statement}");
    }
}

#[test]
fn odd_numbers_neither_panic_nor_misread() {
    let cases = [
        (
            "1,2,3,4",
            "1 count:unknown []; 2 count:unknown []; 3 count:unknown []; 4 count:unknown []",
        ),
        ("5-", "5 count:unknown []"),
        ("-5", "5 count:unknown []"),
        ("3.", "3 count:unknown []"),
        (".5", "0.5 count:unknown []"),
        ("0", "0 count:unknown []"),
        (
            "6,000-5,000 troops",
            "6000 count:unknown []; 5000 count:troops [troops]",
        ),
        ("14,0000 troops", "14 count:unknown []"),
    ];
    for (statement, expected) in cases {
        assert_eq!(show(&extract(statement)), expected, "{statement:?}");
    }
}

#[test]
fn huge_numbers_are_skipped() {
    let huge = format!("1{} troops", "0".repeat(40));
    assert_eq!(show(&extract(&huge)), "");
    assert_eq!(
        show(&extract("9 trillion trillion troops")),
        "9000000000000 count:unknown []"
    );
    assert_eq!(
        show(&extract("A budget of $9 trillion.")),
        "9000000000000 money:usd:budget [budget]"
    );
}

#[test]
fn odd_unicode_never_panics() {
    for statement in [
        "١٤٬٠٠٠ جندي",
        "１４，０００人の兵士",
        "\u{200b}14\u{200b},000 troops",
        "14\u{0301},000 troops",
        "Ⅻ troops",
        "½ of the troops",
        "💥 14,000 🪖",
        "14,000\u{2060} troops",
        "\u{feff}about\u{00a0}14,000\u{202f}000 troops",
        "солдат 14 000",
        "ǅ 12 ǅ",
    ] {
        let figures = extract(statement);
        assert!(figures.len() <= Figure::MAX_PER_STATEMENT);
        let _ = Wording::of(statement).key();
    }
}

#[test]
fn at_most_max_per_statement_figures_are_read() {
    let statement: String = (1..=40).map(|n| format!("{n} troops, ")).collect();
    let figures = extract(&statement);
    assert_eq!(figures.len(), Figure::MAX_PER_STATEMENT);
    assert_eq!(figures[0].low, Milli(1_000));
    assert_eq!(figures[15].low, Milli(16_000));
}

/// Hostile statements of the longest allowed length: each must end and
/// read at most `MAX_PER_STATEMENT` figures (no timing asserted).
#[test]
fn hostile_statements_are_bounded() {
    let max = Statement::MAX_CHARS;
    let fill = |unit: &str| unit.repeat(max / unit.len() + 1);
    let cases = [
        fill("9"),
        fill("about "),
        fill("one "),
        fill("twenty "),
        fill("thousand "),
        fill("one hundred "),
        fill("1,"),
        fill("1 "),
        fill("1-"),
        fill("between 1 and "),
        fill("from 1 to "),
        fill("$"),
        fill("two-thirds of "),
        fill("a "),
        fill(". "),
        fill("troops were killed "),
        fill("more than "),
        fill("é"),
        format!("{} 14,000 troops", fill("about ")),
    ];
    for statement in cases {
        let figures = extract(&statement);
        assert!(
            figures.len() <= Figure::MAX_PER_STATEMENT,
            "{}",
            &statement[..20]
        );
        let wording = Wording::of(&statement);
        assert_eq!(wording.key().len(), 16);
    }
}

/// What the store and the gRPC layer rely on, over every statement here.
#[test]
fn keys_and_texts_stay_within_their_bounds() {
    let long = format!("About 14,000 {} troops were sent.", "very ".repeat(60));
    let statements = STATEMENTS.iter().map(|&(s, _)| s.to_owned()).chain([long]);
    for statement in statements {
        for figure in extract(&statement) {
            let family = &figure.counted.family;
            let key = figure.index_key();
            let allowed =
                |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ":_-".contains(c);
            assert!(
                !family.is_empty() && family.len() <= 64 && family.chars().all(allowed),
                "{family}"
            );
            assert!(key.len() <= 80 && key.chars().all(allowed), "{key}");
            assert!(figure.text.chars().count() <= 120, "{}", figure.text);
            assert!(figure.counted.phrase.chars().count() <= 80);
            assert!(figure.low <= figure.high, "{statement}");
            let (low, high) = figure.bounds();
            assert!(
                low <= figure.low && figure.high <= high || figure.qualifier != Qualifier::Exact
            );
        }
    }
}
