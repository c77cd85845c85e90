//! The word tables of figure reading, in one place so that the module
//! documentation can point at them. Each entry lists its words separated by
//! single spaces, so that a family reads on one line; [`lookup`] and
//! [`is_in`] split them. Every table is small: a lookup is a bounded scan.

use super::Qualifier;

/// The family of a count that says nothing of what is counted: it never
/// meets another figure.
pub(super) const UNKNOWN: &str = "unknown";

/// Qualifier phrases, matched on the words just before a value: each entry lists
/// phrases separated by commas.
pub(super) const QUALIFIERS: &[(Qualifier, &str)] = &[
    (
        Qualifier::About,
        "about, around, roughly, some, approximately, circa, estimated",
    ),
    (Qualifier::About, "an estimated, an approximate, perhaps"),
    (
        Qualifier::Nearly,
        "nearly, almost, close to, just under, just below, just shy of",
    ),
    (Qualifier::Nearly, "not quite"),
    (
        Qualifier::MoreThan,
        "more than, over, upwards of, in excess of, above, just over",
    ),
    (Qualifier::MoreThan, "well over, well above, exceeding"),
    (
        Qualifier::AtLeast,
        "at least, no fewer than, no less than, not fewer than, not less than",
    ),
    (Qualifier::AtLeast, "a minimum of"),
    (
        Qualifier::UpTo,
        "up to, at most, no more than, not more than, as many as, as much as",
    ),
    (Qualifier::UpTo, "a maximum of, within"),
    (
        Qualifier::FewerThan,
        "fewer than, less than, under, below, well under, well below",
    ),
];

/// What is counted: the family, then its words.
pub(super) const THINGS: &[(&str, &str)] = &[
    (
        "troops",
        "troops troop soldiers soldier servicemen serviceman servicewomen servicemembers",
    ),
    (
        "troops",
        "fighters personnel marines conscripts paratroopers reservists",
    ),
    ("people", "people persons individuals lives"),
    ("civilians", "civilians residents inhabitants villagers"),
    ("children", "children"),
    ("refugees", "refugees"),
    ("migrants", "migrants"),
    ("police", "police policemen policewomen"),
    ("prisoners", "prisoners detainees captives inmates pows"),
    ("hostages", "hostages"),
    ("voters", "voters electorate"),
    ("votes", "votes vote ballots"),
    ("seats", "seats"),
    ("workers", "workers employees staff"),
    ("homes", "homes houses dwellings"),
    ("journalists", "journalists reporters"),
];

/// What happened to what is counted: the family, then its words.
pub(super) const EVENTS: &[(&str, &str)] = &[
    (
        "killed",
        "killed dead deaths death died lost losses fatalities toll perished slain killing",
    ),
    ("casualties", "casualties"),
    ("wounded", "wounded injured injuries hurt"),
    (
        "sent",
        "sent deployed dispatched transferred moved redeployed",
    ),
    ("displaced", "displaced fled evacuated uprooted homeless"),
    ("arrested", "arrested detained arrests detentions"),
    ("missing", "missing"),
    ("captured", "captured"),
    ("released", "released freed"),
    ("rescued", "rescued"),
];

/// Words between a counted phrase and the verb saying what happened to it
/// ("troops *had been* deployed", "soldiers *who were reportedly* killed").
pub(super) const AUXILIARIES: &[&str] = &[
    "were was had have has been being are is be will would may might could reportedly allegedly",
    "also later already now all feared believed thought said to confirmed officially still who",
    "that which either been",
];

/// Words skipped when looking back from a value for what it is reported
/// for ("the death toll *rose to* 300", "turnout *was* 64%").
pub(super) const BACK_SKIP: &[&str] = &[
    "to at rose risen rise rises rising climbed reached reach stood stands stand amounted amount",
    "totalled totaled total totals topped hit was were is are has had have been now put of",
    "estimated numbered number be will would already by increased fell fallen dropped jumped the",
    "a an its their official final overall latest just from worth valued costing",
];

/// Words at which looking back stops: what is before them belongs to
/// another clause or to the attribution ("officials *said* more than 6,000
/// ...").
pub(super) const BOUNDARIES: &[&str] = &[
    "said says say told according and but while when after before as which who that than if",
    "because with reported announced claimed added estimates estimate",
];

/// Verbs that are not past tenses, looked past like them.
pub(super) const VERBS: &[&str] = &[
    "carries carry holds hold held spend spends spent won win wins cut cuts kept keep keeps left",
    "leaves received receive has have pledged pledge pledges owes owe paid pay pays sold sell",
    "sells bought buy buys took take takes gave give gives lent lend raised raise raises made",
    "make makes got get gets saw see sees counted recorded registered reports lists lasted",
    "struck strikes strike hits",
];

/// Time words that end a counted phrase ("87 people *overnight*").
pub(super) const TIME_WORDS: &[&str] = &[
    "overnight yesterday today tonight daily weekly monthly annually yearly so far alone each",
    "apiece altogether total in",
];

/// Function words that end a counted phrase.
pub(super) const PHRASE_STOPS: &[&str] = &[
    "the a an of in on at to from by for with near into across since during after before over",
    "under about around than and or but as were was had have has been being are is be will would",
    "could may might said says say told according who which that this these those it its their",
    "his her they there here per each a within between last this next ago earlier later",
    "reportedly allegedly officials along toward towards against through while when where not",
];

/// Words of `THINGS` that may modify the noun after them ("police
/// officers").
pub(super) const MODIFIERS: &[&str] = &["police staff"];

/// Words inside a counted phrase that say nothing of what is counted
/// ("1,200 *more* troops").
pub(super) const PHRASE_SKIPS: &[&str] = &["more additional extra new other further fresh"];

/// Determiners allowed after "of" before a counted phrase ("40% *of the*
/// vote", "14,000 *of its* troops").
pub(super) const DETERMINERS: &[&str] = &["the its their his her our those these all"];

/// Words before a number that make it a name, not a figure ("Route 66").
pub(super) const LABELS: &[&str] = &[
    "no number route article flight resolution chapter section page room gate platform line bus",
    "highway brigade division battalion regiment unit paragraph clause item level phase grade",
    "category version model channel district zone sector block building ward lot case code id",
    "apartment flat terminal pier berth runway round stage game match season",
];

pub(super) const MONTHS: &[&str] = &[
    "january february march april may june july august september october november december jan",
    "feb mar apr jun jul aug sep sept oct nov dec",
];

pub(super) const SMALL_NUMBERS: &[(i128, &str)] = &[
    (0, "zero"),
    (1, "one"),
    (2, "two"),
    (3, "three"),
    (4, "four"),
    (5, "five"),
    (6, "six"),
    (7, "seven"),
    (8, "eight"),
    (9, "nine"),
    (10, "ten"),
    (11, "eleven"),
    (12, "twelve"),
    (13, "thirteen"),
    (14, "fourteen"),
    (15, "fifteen"),
    (16, "sixteen"),
    (17, "seventeen"),
    (18, "eighteen"),
    (19, "nineteen"),
];

pub(super) const TENS: &[(i128, &str)] = &[
    (20, "twenty"),
    (30, "thirty"),
    (40, "forty"),
    (50, "fifty"),
    (60, "sixty"),
    (70, "seventy"),
    (80, "eighty"),
    (90, "ninety"),
];

/// Scale words and their power of ten.
pub(super) const SCALES: &[(i32, &str)] = &[
    (2, "hundred"),
    (3, "thousand k"),
    (6, "million mn mln m"),
    (9, "billion bn b"),
    (12, "trillion tn"),
];

/// Scale words read only when glued to the digits ("14k", "€300m").
pub(super) const GLUED_SCALES: &[&str] = &["k m b"];

/// Scale words read only for money: "300m" alone is 300 metres.
pub(super) const MONEY_SCALES: &[&str] = &["m b"];

/// Denominators of fractions spelled in words.
pub(super) const DENOMINATORS: &[(i128, &str)] = &[
    (2, "half halves"),
    (3, "third thirds"),
    (4, "quarter quarters fourth fourths"),
    (5, "fifth fifths"),
    (6, "sixth sixths"),
    (8, "eighth eighths"),
    (10, "tenth tenths"),
];

/// Currency symbols written before the value.
pub(super) const CURRENCY_SYMBOLS: &[(char, &str)] = &[
    ('$', "usd"),
    ('€', "eur"),
    ('£', "gbp"),
    ('¥', "jpy"),
    ('₽', "rub"),
    ('₴', "uah"),
    ('₹', "inr"),
    ('₩', "krw"),
    ('₺', "try"),
];

/// Letters glued before `$` that name another dollar ("A$", "HK$").
pub(super) const DOLLAR_PREFIXES: &[(&str, &str)] = &[
    ("usd", "us"),
    ("aud", "a au"),
    ("cad", "c ca"),
    ("hkd", "hk"),
    ("nzd", "nz"),
    ("sgd", "s"),
];

/// Currency codes, written before or after the value.
pub(super) const CURRENCY_CODES: &[&str] = &["usd eur gbp rub uah cny jpy inr chf cad aud krw"];

/// Currency words written after the value.
pub(super) const CURRENCY_WORDS: &[(&str, &str)] = &[
    ("usd", "dollars dollar"),
    ("eur", "euros euro"),
    ("gbp", "pounds sterling"),
    ("rub", "rubles roubles ruble rouble"),
    ("uah", "hryvnias hryvnia"),
    ("cny", "yuan renminbi"),
    ("jpy", "yen"),
    ("inr", "rupees"),
    ("chf", "francs"),
    ("try", "lira"),
];

/// Measure words written after the value: the canonical unit, then its
/// words.
pub(super) const MEASURES: &[(&str, &str)] = &[
    ("km", "km kms kilometres kilometers kilometre kilometer"),
    ("m", "m metres meters metre meter"),
    ("mile", "miles mile"),
    ("kg", "kg kilograms kilogram kilos"),
    ("tonne", "tonnes tonne tons ton"),
    ("litre", "litres liters"),
    ("barrel", "barrels"),
    ("hectare", "hectares"),
    ("acre", "acres"),
    ("hour", "hours hour hrs h"),
    ("minute", "minutes minute min mins"),
    ("second", "seconds"),
    ("day", "days day"),
    ("week", "weeks week"),
    ("month", "months month"),
    ("year", "years year"),
    ("mw", "mw megawatts"),
    ("gw", "gw"),
    ("degree", "degrees"),
    ("magnitude", "magnitude"),
];

/// Words after a number that make it a clock time.
pub(super) const CLOCK_WORDS: &[&str] = &["am pm gmt utc"];

/// Words dropped from a wording: they rarely tell two claims apart.
pub(super) const STOP_WORDS: &[&str] = &[
    "a an the had has have having were was is are be been being said says say saying told tells",
    "that which who according to of in on at by for with from and or but as it its their they",
    "them this these those than also reportedly reported there here will would could may might",
    "than so far just now since into onto",
];

/// Qualifier words of one meaning, and the forms of a few irregular verbs
/// of wire copy, made one in a wording.
pub(super) const WORDING_SYNONYMS: &[(&str, &str)] = &[
    ("rise", "rose risen rises rising"),
    ("fall", "fell fallen falls falling"),
    ("take", "took taken takes"),
    ("leave", "left leaves"),
    ("hold", "held holds"),
    ("win", "won wins"),
    ("give", "gave given"),
    ("strike", "struck strikes"),
    ("about", "around roughly some approximately estimated circa"),
    ("nearly", "almost"),
    ("more", "over above upwards exceeding"),
    ("fewer", "less under below"),
];

/// Qualifier words, never part of a counted phrase nor what a value is
/// reported for.
pub(super) const QUALIFIER_WORDS: &[&str] = &[
    "more over about around nearly almost least some roughly up approximately estimated",
    "fewer less under below above upwards",
];

/// Whether `word` is one of the words of `list`.
pub(super) fn is_in(list: &[&str], word: &str) -> bool {
    list.iter().any(|entry| entry.split(' ').any(|w| w == word))
}

/// The word of `list` equal to `word`, with the table's lifetime.
pub(super) fn find_in(list: &[&'static str], word: &str) -> Option<&'static str> {
    list.iter()
        .flat_map(|entry| entry.split(' '))
        .find(|&w| w == word)
}

/// The value of the first entry of `table` that lists `word`.
pub(super) fn lookup<T: Copy>(table: &[(T, &str)], word: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, words)| words.split(' ').any(|w| w == word))
        .map(|&(value, _)| value)
}

/// The currency code of a symbol written before a value.
pub(super) fn currency_symbol(c: char) -> Option<&'static str> {
    CURRENCY_SYMBOLS
        .iter()
        .find(|&&(s, _)| s == c)
        .map(|&(_, code)| code)
}

/// The qualifier phrases of [`QUALIFIERS`], one by one.
pub(super) fn qualifier_phrases() -> impl Iterator<Item = (Qualifier, &'static str)> {
    QUALIFIERS.iter().flat_map(|&(qualifier, phrases)| {
        phrases.split(", ").map(move |phrase| (qualifier, phrase))
    })
}
