//! The last step of ARCHITECTURE.md's "Adding an RPC", checked against the
//! methods the server offers: every method of `claimdesk.v1.ClaimService`
//! is in `.ci/run`'s `RPCS` list, has a grpcurl example among the README
//! examples CI runs, and has a worst-request case in `benches/hostile.rs`.
//! Each check reads the file as text and returns what is missing, so that
//! it can also be fed a text that lacks a method.

use std::{collections::BTreeSet, fs, path::Path};

use syn::{Expr, Lit, Token, punctuated::Punctuated, visit::Visit};

const SERVICE: &str = "claimdesk.v1.ClaimService";
const EXAMPLES_START: &str = "<!-- ci: grpcurl-examples -->";
const EXAMPLES_END: &str = "<!-- /ci: grpcurl-examples -->";

/// The methods of the claim service as served, by name.
fn served() -> Vec<String> {
    let prefix = format!("/{SERVICE}/");
    let served: Vec<String> = claimdesk::grpc::served_methods()
        .into_iter()
        .filter_map(|m| m.path.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    assert!(
        served.len() > 10,
        "the served methods are found: {served:?}"
    );
    served
}

/// The text of `path`, relative to the crate root.
fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// Whether `c` may be part of an identifier.
fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Where `word` occurs in `text` with no identifier character on either
/// side.
fn word_positions<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            !ident_char(text[..at].chars().next_back())
                && !ident_char(text[at + word.len()..].chars().next())
        })
}

/// `text` with every whole-word `word` replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut from = 0;
    for at in word_positions(text, word).collect::<Vec<_>>() {
        out.push_str(&text[from..at]);
        out.push_str(with);
        from = at + word.len();
    }
    out.push_str(&text[from..]);
    out
}

// ---- .ci/run: the RPCS array ----

/// The words of the `RPCS=(...)` array of `.ci/run`.
fn ci_rpcs(run: &str) -> Result<Vec<String>, String> {
    let start = run
        .lines()
        .position(|l| l.starts_with("RPCS=("))
        .ok_or(".ci/run has no line starting with `RPCS=(`")?;
    let mut words = Vec::new();
    for line in run.lines().skip(start) {
        let line = line.strip_prefix("RPCS=(").unwrap_or(line);
        let (inside, closed) = match line.split_once(')') {
            Some((inside, _)) => (inside, true),
            None => (line, false),
        };
        words.extend(inside.split_whitespace().map(str::to_owned));
        if closed {
            return Ok(words);
        }
    }
    Err(".ci/run's `RPCS=(` array is never closed with `)`".to_owned())
}

/// What `.ci/run`'s `RPCS` list lacks or holds beyond `served`.
fn ci_run_problems(run: &str, served: &[String]) -> Vec<String> {
    let listed = match ci_rpcs(run) {
        Ok(listed) => listed,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    for name in served {
        if !listed.contains(name) {
            problems.push(format!(
                "{SERVICE}/{name} is served but missing from .ci/run: add {name} to the \
                 `RPCS=(...)` array near the top of .ci/run"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for name in &listed {
        if !served.contains(name) {
            problems.push(format!(
                ".ci/run's `RPCS=(...)` lists {name}, which {SERVICE} does not serve: remove it \
                 (or correct its spelling)"
            ));
        } else if !seen.insert(name) {
            problems.push(format!(
                ".ci/run's `RPCS=(...)` lists {name} more than once: keep one"
            ));
        }
    }
    problems
}

// ---- README.md: the grpcurl examples CI runs ----

/// The commands of the ```sh (or ```bash) blocks between the examples'
/// markers, as `.ci/readme-examples.sh` finds them: each a line with its
/// continuations (`\` at the end of a line) joined, comments left out.
fn readme_example_commands(readme: &str) -> Result<Vec<String>, String> {
    let mut in_section = false;
    let mut seen_section = false;
    // Some(true) inside an example block, Some(false) inside another fence.
    let mut fence: Option<bool> = None;
    let mut commands = Vec::new();
    let mut command = String::new();
    for line in readme.lines() {
        match fence {
            Some(example) if line.starts_with("```") => {
                if example && !command.is_empty() {
                    commands.push(std::mem::take(&mut command));
                }
                fence = None;
            }
            Some(true) => {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                match line.strip_suffix('\\') {
                    Some(continued) => command.push_str(continued),
                    None => {
                        command.push_str(line);
                        commands.push(std::mem::take(&mut command));
                    }
                }
            }
            Some(false) => {}
            None if line.trim_end() == EXAMPLES_START => {
                in_section = true;
                seen_section = true;
            }
            None if line.trim_end() == EXAMPLES_END => in_section = false,
            None if in_section && line.starts_with("```") => {
                let info = line.trim_start_matches('`').trim();
                fence = Some(info == "sh" || info == "bash");
            }
            None => {}
        }
    }
    if !seen_section {
        return Err(format!(
            "README.md has no `{EXAMPLES_START}` line: the grpcurl examples CI runs start there \
             and end at `{EXAMPLES_END}`"
        ));
    }
    if in_section || fence.is_some() {
        return Err(format!(
            "README.md's grpcurl examples are not closed: a fence or `{EXAMPLES_START}` is left \
             open"
        ));
    }
    Ok(commands)
}

/// What lacks a grpcurl example in the README examples CI runs.
fn readme_problems(readme: &str, served: &[String]) -> Vec<String> {
    let commands = match readme_example_commands(readme) {
        Ok(commands) => commands,
        Err(e) => return vec![e],
    };
    let calls = |name: &str| {
        let path = format!("{SERVICE}/{name}");
        commands.iter().any(|c| {
            word_positions(c, "grpcurl").next().is_some()
                && word_positions(c, &path).next().is_some()
        })
    };
    served
        .iter()
        .filter(|name| !calls(name))
        .map(|name| {
            format!(
                "{SERVICE}/{name} has no grpcurl example in README.md: add a ```sh block calling \
                 it between `{EXAMPLES_START}` and `{EXAMPLES_END}` (the \"Try it with grpcurl\" \
                 section), with `<!-- ci: expect ... -->` lines and sample output, and check \
                 what it did at the end of .ci/readme-examples.sh"
            )
        })
        .collect()
}

// ---- benches/hostile.rs: a worst request of every RPC ----

/// A case of the benchmark: `case(label, method, message, code)`, or a
/// `Case { label, method, decode: decode_as::<Message>, .. }`.
#[derive(Debug, Default)]
struct BenchCase {
    label: Option<String>,
    method: Option<String>,
    /// The path of the request message's type, e.g. `pb::GetClaimRequest`.
    request: Option<String>,
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

#[derive(Default)]
struct CaseFinder {
    cases: Vec<BenchCase>,
}

impl<'ast> Visit<'ast> for CaseFinder {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        // `fn case` builds a `Case` of its arguments: not a case itself.
        if item.sig.ident != "case" {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(func) = &*call.func
            && func.path.is_ident("case")
        {
            let args: Vec<&Expr> = call.args.iter().collect();
            self.cases.push(BenchCase {
                label: args.first().copied().and_then(string_literal),
                method: args.get(1).copied().and_then(string_literal),
                request: match args.get(2) {
                    Some(Expr::Struct(message)) => Some(path_text(&message.path)),
                    _ => None,
                },
            });
        }
        syn::visit::visit_expr_call(self, call);
    }

    /// Macros (`vec![case(..), ..]`) are tokens to syn: read those of
    /// expressions separated by commas as such.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if let Ok(exprs) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
    }

    fn visit_expr_struct(&mut self, literal: &'ast syn::ExprStruct) {
        if literal.path.is_ident("Case") {
            let mut case = BenchCase::default();
            for field in &literal.fields {
                let syn::Member::Named(member) = &field.member else {
                    continue;
                };
                match member.to_string().as_str() {
                    "label" => case.label = string_literal(&field.expr),
                    "method" => case.method = string_literal(&field.expr),
                    "decode" => {
                        case.request = match &field.expr {
                            Expr::Path(decode) => {
                                decode
                                    .path
                                    .segments
                                    .last()
                                    .and_then(|s| match &s.arguments {
                                        syn::PathArguments::AngleBracketed(generics) => {
                                            match generics.args.first() {
                                                Some(syn::GenericArgument::Type(
                                                    syn::Type::Path(message),
                                                )) => Some(path_text(&message.path)),
                                                _ => None,
                                            }
                                        }
                                        _ => None,
                                    })
                            }
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            self.cases.push(case);
        }
        syn::visit::visit_expr_struct(self, literal);
    }
}

/// Every case the benchmark's code builds.
fn bench_cases(bench: &str) -> Result<Vec<BenchCase>, String> {
    let file = syn::parse_file(bench)
        .map_err(|e| format!("benches/hostile.rs does not parse as Rust: {e}"))?;
    let mut finder = CaseFinder::default();
    finder.visit_file(&file);
    if finder.cases.is_empty() {
        return Err(
            "benches/hostile.rs builds no `case(...)` nor `Case { .. }`: has the way it names \
             its cases changed? Update tests/api/checklist.rs to read it"
                .to_owned(),
        );
    }
    Ok(finder.cases)
}

/// What lacks a worst-request case in `benches/hostile.rs`, and cases
/// that are not what their label says. A method's case is labelled
/// `"<Method>: <what is worst about it>"` (so `CLAIMDESK_BENCH_ONLY=<Method>`
/// picks it), calls `<Method>` and sends a `pb::<Method>Request`.
fn bench_problems(bench: &str, served: &[String]) -> Vec<String> {
    let cases = match bench_cases(bench) {
        Ok(cases) => cases,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    for case in &cases {
        let (Some(label), Some(method)) = (&case.label, &case.method) else {
            problems.push(format!(
                "benches/hostile.rs has a case whose label or method is not a string literal \
                 ({case:?}): write both as literals so that this check can read them"
            ));
            continue;
        };
        if !served.contains(method) {
            problems.push(format!(
                "benches/hostile.rs's case \"{label}\" calls {method}, which {SERVICE} does not \
                 serve: correct or remove it"
            ));
        }
        let Some((named, _)) = label.split_once(": ") else {
            continue;
        };
        let request = format!("pb::{named}Request");
        if served.iter().any(|s| s == named)
            && (method != named || case.request.as_deref() != Some(request.as_str()))
        {
            problems.push(format!(
                "benches/hostile.rs's case \"{label}\" is labelled {named} but calls {method} \
                 with {}: make it call \"{named}\" with a {request}",
                case.request
                    .as_deref()
                    .unwrap_or("a message this check cannot read")
            ));
        }
    }
    for name in served {
        let request = format!("pb::{name}Request");
        let covered = cases.iter().any(|c| {
            c.label
                .as_deref()
                .is_some_and(|l| l.starts_with(&format!("{name}: ")))
                && c.method.as_deref() == Some(name.as_str())
                && c.request.as_deref() == Some(request.as_str())
        });
        if !covered {
            problems.push(format!(
                "{SERVICE}/{name} has no worst-request case in benches/hostile.rs: add \
                 `case(\"{name}: <what is worst about it>\", \"{name}\", {request} {{ .. }}, \
                 <expected code>)` to `cases()`, next to its case in tests/api/hostile.rs"
            ));
        }
    }
    problems
}

// ---- the checks, on the files of the repository ----

#[test]
fn every_served_method_is_in_the_rpcs_list_of_ci_run() {
    let problems = ci_run_problems(&read(".ci/run"), &served());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_served_method_has_a_grpcurl_example_that_ci_runs_in_the_readme() {
    let problems = readme_problems(&read("README.md"), &served());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_served_method_has_a_worst_request_case_in_the_hostile_bench() {
    let problems = bench_problems(&read("benches/hostile.rs"), &served());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The method of the generated client that calls `method`
/// (`SubmitClaim` → `submit_claim`).
fn client_method(method: &str) -> String {
    let mut snake = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}

/// The client commands (every file of `src/cli/`), one text.
fn cli_sources() -> String {
    let mut files: Vec<_> = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli"))
        .expect("src/cli is a directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| fs::read_to_string(path).expect("a source file reads"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The served methods no client command calls: `.submit_claim(` and so on
/// nowhere in `sources`.
fn cli_problems(sources: &str, served: &[String]) -> Vec<String> {
    served
        .iter()
        .filter(|method| !sources.contains(&format!(".{}(", client_method(method))))
        .map(|method| {
            format!(
                "{method}: no client command calls it (`.{}(` in src/cli/); add a \
                 `claimdesk` subcommand for it (src/cli/claim.rs or queue.rs) and its test in \
                 tests/api/cli/",
                client_method(method)
            )
        })
        .collect()
}

#[test]
fn every_served_method_has_a_client_command() {
    let problems = cli_problems(&cli_sources(), &served());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- the checks find what they look for ----

/// Asserts that `problems` is exactly one, naming `what` and `file`.
fn assert_one_problem(problems: &[String], what: &str, file: &str) {
    assert_eq!(problems.len(), 1, "{what}: {problems:#?}");
    assert!(
        problems[0].contains(what) && problems[0].contains(file),
        "the problem names {what} and {file}: {}",
        problems[0]
    );
}

/// For every served method: its name, and what `check` finds in `file`
/// once `remove` has taken the method out of it.
fn without_each_method(
    file: &str,
    remove: impl Fn(&str, &str) -> String,
    check: fn(&str, &[String]) -> Vec<String>,
) -> Vec<(String, Vec<String>)> {
    let text = read(file);
    let served = served();
    served
        .iter()
        .map(|name| {
            let without = remove(&text, name);
            assert_ne!(without, text, "{file} names {name}");
            (name.clone(), check(&without, &served))
        })
        .collect()
}

#[test]
fn the_ci_run_check_finds_a_method_left_out_listed_twice_or_not_served() {
    let run = read(".ci/run");
    let served = served();
    let removed = |run: &str, name: &str| replace_word(run, name, "");
    for (name, problems) in without_each_method(".ci/run", removed, ci_run_problems) {
        assert_one_problem(&problems, &format!("{SERVICE}/{name} "), ".ci/run");
        assert!(problems[0].contains("RPCS"), "{}", problems[0]);
    }

    let extra = run.replacen("RPCS=(", "RPCS=(RenameClaim ", 1);
    assert_one_problem(&ci_run_problems(&extra, &served), "RenameClaim", ".ci/run");
    let twice = run.replacen("RPCS=(", "RPCS=(GetClaim ", 1);
    assert_one_problem(
        &ci_run_problems(&twice, &served),
        "GetClaim more than once",
        ".ci/run",
    );
    let start = run.find("RPCS=(").expect("the list");
    let end = start + run[start..].find(')').expect("the list is closed");
    let unclosed = format!("{}\n", &run[..end]);
    assert_one_problem(
        &ci_run_problems(&unclosed, &served),
        "never closed",
        ".ci/run",
    );
    let absent = run.replace("RPCS=(", "METHODS=(");
    assert_one_problem(&ci_run_problems(&absent, &served), "RPCS=(", ".ci/run");
}

#[test]
fn the_readme_check_finds_a_method_without_an_example_that_ci_runs() {
    let served = served();
    let renamed = |readme: &str, name: &str| {
        let path = format!("{SERVICE}/{name}");
        replace_word(readme, &path, &format!("{SERVICE}/Renamed{name}"))
    };
    for (name, problems) in without_each_method("README.md", renamed, readme_problems) {
        assert_one_problem(&problems, &format!("{SERVICE}/{name} "), "README.md");
    }

    // Only grpcurl commands of the ```sh blocks between the markers count.
    let blocks = |calls: &[&str]| {
        calls
            .iter()
            .map(|c| format!("```sh\n{c}\n```\n"))
            .collect::<String>()
    };
    let others: Vec<String> = served
        .iter()
        .filter(|n| *n != "DisputeClaim")
        .map(|n| format!("grpcurl -plaintext -d '{{}}' \\\n  localhost:50051 {SERVICE}/{n}"))
        .collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let section = |extra: &str| {
        format!(
            "# claimdesk\n\n{EXAMPLES_START}\n\n{}{extra}{EXAMPLES_END}\n",
            blocks(&others)
        )
    };
    let dispute = format!("grpcurl -plaintext localhost:50051 {SERVICE}/DisputeClaim");
    assert!(readme_problems(&section(&blocks(&[&dispute])), &served).is_empty());
    let missing = format!("{SERVICE}/DisputeClaim ");
    for without in [
        section(""),
        section(&format!("```text\n{dispute}\n```\n")),
        section(&format!("```sh\n# {dispute}\n```\n")),
        section(&blocks(&[&format!("echo {SERVICE}/DisputeClaim")])),
        section(&blocks(&[&format!("grpcurl {SERVICE}/DisputeClaimLater")])),
        format!("{}\n{}", section(""), blocks(&[&dispute])),
    ] {
        assert_one_problem(&readme_problems(&without, &served), &missing, "README.md");
    }
    let unmarked = section("").replace(EXAMPLES_START, "");
    assert_one_problem(
        &readme_problems(&unmarked, &served),
        EXAMPLES_START,
        "README.md",
    );
    let unclosed = section("```sh\ngrpcurl\n");
    assert_one_problem(
        &readme_problems(&unclosed, &served),
        "not closed",
        "README.md",
    );
}

#[test]
fn the_bench_check_finds_a_method_without_a_case_or_a_case_not_as_labelled() {
    let bench = read("benches/hostile.rs");
    let served = served();
    let renamed = |bench: &str, name: &str| {
        bench.replace(&format!("\"{name}\""), &format!("\"{name}Renamed\""))
    };
    for (name, problems) in without_each_method("benches/hostile.rs", renamed, bench_problems) {
        let missing = format!("{SERVICE}/{name} has no worst-request case");
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&missing) && p.contains("benches/hostile.rs")),
            "{name}: {problems:#?}"
        );
    }

    let renamed = bench.replace("\"ReassignClaim\"", "\"ReassignClaims\"");
    let problems = bench_problems(&renamed, &served);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("calls ReassignClaims, which")),
        "{problems:#?}"
    );
    let other_message = bench.replace("pb::DisputeClaimRequest {", "pb::VerifyClaimRequest {");
    let problems = bench_problems(&other_message, &served);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0]
            .contains("labelled DisputeClaim but calls DisputeClaim with pb::VerifyClaimRequest")
    );
    assert!(problems[1].contains(&format!("{SERVICE}/DisputeClaim has no worst-request case")));
    let unlabelled = bench.replace("\"WithdrawClaim: 1 MiB reason\"", "\"1 MiB reason\"");
    assert_one_problem(
        &bench_problems(&unlabelled, &served),
        &format!("{SERVICE}/WithdrawClaim "),
        "benches/hostile.rs",
    );
    assert_one_problem(
        &bench_problems("fn main() {}", &served),
        "builds no `case(...)`",
        "benches/hostile.rs",
    );
}

#[test]
fn the_cli_check_finds_a_method_no_command_calls() {
    let sources = cli_sources();
    let served = served();
    assert_eq!(
        client_method("MarkClaimInconclusive"),
        "mark_claim_inconclusive"
    );
    for method in &served {
        let call = format!(".{}(", client_method(method));
        let without = sources.replace(&call, ".elsewhere(");
        assert_ne!(without, sources, "src/cli/ calls {method}");
        assert_one_problem(&cli_problems(&without, &served), method, "src/cli/");
    }
}
