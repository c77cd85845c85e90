//! `claimdesk demo`: a short story of claims walked through review to each
//! outcome, on a throw-away server in this process (or on `--server`),
//! printed with the same code as the client commands. Every step runs as
//! the `claimdesk claim …` command it prints at the end, so the commands
//! reproduce the story against a real server.
//!
//! The story is made up, after a familiar kind of war report: sources that
//! disagree on troop and casualty figures, figures passed on from one party
//! to the next, and a casualty count nobody outside the fighting can check.
//! Two troop counts cannot both be true: the server suggests a
//! contradiction, which a checker confirms before verifying the better
//! sourced count, acknowledging it; the story's conflicts are listed side
//! by side.

use std::process::ExitCode;

use clap::Parser;

use super::{
    claim::{Answer, ClaimArgs, call},
    conflicts::{ConflictsArgs, list_conflicts},
    connect::Connection,
    error::{ClientError, EXIT_STATUS_HELP},
    inputs::claim_name,
    output::{Format, Printer, emit, relation_name, state_name},
    run,
};
use crate::{pb, testing::TestServer};

/// `claimdesk demo`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct DemoArgs {
    /// Play the story on this server (`http://HOST:PORT`) instead of a
    /// throw-away one, under a story name of its own; its claims stay
    /// there. The server must be in open mode, or CLAIMDESK_TOKEN must hold
    /// a chief's token. CLAIMDESK_SERVER is not read: the demo writes only
    /// where it is told to.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

const EDITOR: &str = "ana.editor";
const CHECKER: &str = "kim.checker";
const OTHER_CHECKER: &str = "lee.checker";
const STORY: &str = "kessel-demining";
/// Where the printed commands send their calls after a throw-away server.
const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// An argument of a step: text, the name of the claim an earlier step
/// submitted (`$C1` … in the printed commands), or the name of the first
/// link that claim was submitted with (`$L1` …).
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Claim(usize),
    Link(usize),
}

/// One `claimdesk claim …` command, run as `user`.
struct Step {
    user: &'static str,
    args: Vec<Arg>,
}

fn step(user: &'static str, args: &[&str]) -> Step {
    Step {
        user,
        args: args.iter().map(|a| Arg::Text((*a).to_owned())).collect(),
    }
}

/// `claimdesk claim <verb> $C<claim> <rest>` as `user`.
fn on(user: &'static str, verb: &[&str], claim: usize, rest: &[&str]) -> Step {
    let mut step = step(user, verb);
    step.args.push(Arg::Claim(claim));
    step.args
        .extend(rest.iter().map(|a| Arg::Text((*a).to_owned())));
    step
}

/// The story: six claims submitted, five walked to their outcomes, one
/// left waiting; the sixth contradicts the second, which the server
/// suggests and a checker confirms.
fn story(story: &str) -> Vec<Step> {
    let submit = |statement: &str, source: &str, rest: &[&str]| {
        let mut args = vec!["submit", statement, "--source", source, "--story", story];
        args.extend_from_slice(rest);
        step(EDITOR, &args)
    };
    vec![
        // 0: an account others can check.
        submit(
            "Engineers of Norland's army are clearing mines around the towns of the Kessel region.",
            "Eastmark Defence Ministry",
            &[
                "--url",
                "https://defence.eastmark.example/briefings/kessel-demining",
                "--tag",
                "demining",
                "--priority",
                "urgent",
            ],
        ),
        // 1: a troop figure other sources contradict.
        submit(
            "Norland has sent about 9,000 soldiers to Kessel, and more than 3,000 of them have been killed or wounded.",
            "President of Westland",
            &[
                "--tag",
                "troops",
                "--tag",
                "casualties",
                "--priority",
                "breaking",
            ],
        ),
        // 2: a casualty count passed on twice, which nobody can check.
        submit(
            "More than 5,000 Norland soldiers have died in the fighting for Kessel.",
            "Meridian News Agency",
            &[
                "--relayed-from",
                "Westland officials",
                "--relayed-from",
                "allied intelligence sources",
                "--tag",
                "casualties",
                "--priority",
                "urgent",
            ],
        ),
        // 3: a quote the copy drops.
        submit(
            "Norland will send another 6,000 military engineers to Eastmark.",
            "Daily Courier",
            &[
                "--relayed-from",
                "Westland's head of military intelligence",
                "--tag",
                "troops",
            ],
        ),
        // 4: left waiting in the queue.
        submit(
            "Mines keep civilians out of 37 of the 64 villages of Kessel's Dolsk district.",
            "Red Star Gazette",
            &[
                "--relayed-from",
                "Eastmark army engineers",
                "--tag",
                "demining",
                "--deadline",
                "+3h",
            ],
        ),
        on(CHECKER, &["start"], 0, &[]),
        on(
            CHECKER,
            &["evidence", "add"],
            0,
            &[
                "--source",
                "Orbis Imaging",
                "--stance",
                "supports",
                "--summary",
                "Satellite pictures show clearing teams and their vehicles at the places the ministry names",
                "--url",
                "https://orbis.example/kessel/2026-11-28",
            ],
        ),
        on(
            CHECKER,
            &["verify"],
            0,
            &[
                "--note",
                "Independent imagery matches the ministry's account.",
            ],
        ),
        on(CHECKER, &["start"], 1, &[]),
        on(
            CHECKER,
            &["evidence", "add"],
            1,
            &[
                "--source",
                "Meridian News Agency",
                "--stance",
                "refutes",
                "--summary",
                "Allied officials quoted by the agency count about 11,000 soldiers sent, not 9,000",
            ],
        ),
        on(
            CHECKER,
            &["dispute"],
            1,
            &[
                "--note",
                "Other officials' counts of the deployment differ by thousands.",
            ],
        ),
        on(OTHER_CHECKER, &["start"], 2, &[]),
        on(
            OTHER_CHECKER,
            &["evidence", "add"],
            2,
            &[
                "--source",
                "Kessel regional press office",
                "--stance",
                "context",
                "--summary",
                "No reporter can reach the front; every count of the dead comes from a side in the war",
            ],
        ),
        on(
            OTHER_CHECKER,
            &["inconclusive"],
            2,
            &[
                "--note",
                "Losses at the front cannot be checked independently: attribute the figure.",
            ],
        ),
        on(
            EDITOR,
            &["withdraw"],
            3,
            &[
                "--reason",
                "The intelligence office says the quote was garbled; the copy drops it.",
            ],
        ),
        // 5: a troop count that cannot be true with claim 1's: the server
        // suggests a contradiction.
        submit(
            "Norland has sent 12,000 soldiers to the Kessel region.",
            "Eastmark General Staff",
            &["--tag", "troops", "--priority", "urgent"],
        ),
        on(CHECKER, &["start"], 5, &[]),
        on(
            CHECKER,
            &["evidence", "add"],
            5,
            &[
                "--source",
                "Orbis Imaging",
                "--stance",
                "supports",
                "--summary",
                "Satellite pictures show camps and vehicles for some 12,000 soldiers",
            ],
        ),
        Step {
            user: CHECKER,
            args: vec![
                Arg::Text("resolve-link".into()),
                Arg::Link(5),
                Arg::Text("--confirm".into()),
                Arg::Text("--note".into()),
                Arg::Text("The two counts of the deployment cannot both stand.".into()),
            ],
        },
        on(
            CHECKER,
            &["verify"],
            5,
            &[
                "--acknowledge-contradictions",
                "--note",
                "Imagery supports this count; the lower one is disputed.",
            ],
        ),
    ]
}

/// `text` as one shell word.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A claim an earlier step submitted: its name, and the name of the first
/// link it was submitted with (empty if none).
#[derive(Debug, Clone)]
struct Submitted {
    name: String,
    link: String,
}

impl Step {
    /// The step's arguments after `claimdesk claim`, with the names of the
    /// claims submitted so far.
    fn args(&self, claims: &[Submitted]) -> Result<Vec<String>, ClientError> {
        let submitted = |i: usize| {
            claims.get(i).ok_or_else(|| {
                ClientError::Failed(format!("the demo's claim {} is not submitted yet", i + 1))
            })
        };
        self.args
            .iter()
            .map(|arg| match arg {
                Arg::Text(text) => Ok(text.clone()),
                Arg::Claim(i) => Ok(submitted(*i)?.name.clone()),
                Arg::Link(i) => {
                    let link = &submitted(*i)?.link;
                    if link.is_empty() {
                        return Err(ClientError::Failed(format!(
                            "the demo's claim {} was submitted without a link",
                            i + 1
                        )));
                    }
                    Ok(link.clone())
                }
            })
            .collect()
    }

    /// The step as shell commands: the command, after the one that reads
    /// the link it names, if any.
    fn command(&self, submitted: usize) -> String {
        let mut lines = Vec::new();
        let words: Vec<String> = self
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Text(text) => shell_word(text),
                Arg::Claim(i) => format!("\"$C{}\"", i + 1),
                Arg::Link(i) => {
                    let n = i + 1;
                    lines.push(format!(
                        "L{n}=$(claimdesk claim get \"$C{n}\" --output json | jq -r '.links[0].name')"
                    ));
                    format!("\"$L{n}\"")
                }
            })
            .collect();
        let line = format!("claimdesk claim {} --user {}", words.join(" "), self.user);
        lines.push(if self.is_submit() {
            format!("C{}=$({line} --output json | jq -r .name)", submitted + 1)
        } else {
            line
        });
        lines.join("\n")
    }

    fn is_submit(&self) -> bool {
        matches!(self.args.first(), Some(Arg::Text(verb)) if verb == "submit")
    }
}

/// `claimdesk claim …` as the demo runs it.
#[derive(Parser)]
#[command(name = "claimdesk")]
struct Replay {
    #[command(subcommand)]
    command: ReplayCommand,
}

#[derive(clap::Subcommand)]
enum ReplayCommand {
    Claim(ClaimArgs),
    Conflicts(ConflictsArgs),
}

/// `claimdesk <args> --server <server> --user <user>`, parsed.
fn parse(server: &str, user: &str, args: &[String]) -> Result<ReplayCommand, ClientError> {
    let argv = std::iter::once("claimdesk".to_owned())
        .chain(args.iter().cloned())
        .chain(["--server", server, "--user", user].map(str::to_owned));
    Replay::try_parse_from(argv)
        .map(|replay| replay.command)
        .map_err(|e| ClientError::Failed(format!("a step of the demo does not parse: {e}")))
}

/// Runs `claimdesk claim <args> --server <server> --user <user>`; its
/// answer.
async fn replay(server: &str, user: &str, args: &[String]) -> Result<Answer, ClientError> {
    let args: Vec<String> = std::iter::once("claim".to_owned())
        .chain(args.iter().cloned())
        .collect();
    let ReplayCommand::Claim(args) = parse(server, user, &args)? else {
        return Err(ClientError::Failed(
            "a step of the demo is no claim command".into(),
        ));
    };
    let connection: Connection = args.connect.connect().await?;
    call(&connection, args.command).await
}

/// Runs `claimdesk conflicts --story <story> --server <server> --user
/// <user>`; the conflicts.
async fn replay_conflicts(
    server: &str,
    user: &str,
    story: &str,
) -> Result<Vec<pb::Conflict>, ClientError> {
    let args = ["conflicts", "--story", story].map(str::to_owned);
    let ReplayCommand::Conflicts(args) = parse(server, user, &args)? else {
        return Err(ClientError::Failed(
            "the demo's listing is no conflicts command".into(),
        ));
    };
    let connection: Connection = args.connect.connect().await?;
    let mut client = connection.claims();
    list_conflicts(&mut client, &connection.server, &args.story, args.paging).await
}

/// Runs `claimdesk demo`.
pub fn demo(args: DemoArgs) -> ExitCode {
    run(async move {
        let Some(server) = args.server else {
            return with_scratch_server(async |url| play(url, STORY, DEFAULT_SERVER).await).await;
        };
        // A story name of its own, so that the lists show only this run.
        let suffix = ulid::Ulid::generate().to_string().to_lowercase();
        let story = format!("{STORY}-{}", &suffix[suffix.len() - 6..]);
        play(&server, &story, &server).await
    })
}

/// Runs `body` with the URL of a server in this process on a temporary
/// directory and a free port ([`TestServer`]); stops it afterwards.
async fn with_scratch_server(
    body: impl AsyncFnOnce(&str) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let failed = |e: &dyn std::fmt::Display| ClientError::Failed(format!("the demo's server: {e}"));
    let server = TestServer::start().await.map_err(|e| failed(&e))?;
    let result = body(&server.url()).await;
    match server.stop().await {
        Ok(_) => result,
        Err(e) => result.and(Err(failed(&e))),
    }
}

/// Plays the story on `server` under `story`, printing as it goes, then
/// the commands that replay it on `replay_on`.
async fn play(server: &str, story: &str, replay_on: &str) -> Result<(), ClientError> {
    let printer = Printer::new(Format::Human);
    let steps = self::story(story);
    let mut claims: Vec<Submitted> = Vec::new();
    let mut commands = Vec::new();
    emit(&format!("Story {story} on {server}\n"))?;
    for step in &steps {
        let command = step.command(claims.len());
        for line in command.lines() {
            emit(&format!("$ {line}"))?;
        }
        let Answer::Claim(claim) = replay(server, step.user, &step.args(&claims)?).await? else {
            return Err(ClientError::Failed(
                "a step of the demo answered no claim".into(),
            ));
        };
        if step.is_submit() {
            emit(&format!("  C{} = {}", claims.len() + 1, claim.name))?;
            for link in &claim.links {
                emit(&format!(
                    "  ! the server suggests {}: {} {}",
                    link.name,
                    relation_name(link.relation),
                    link.other
                ))?;
            }
            claims.push(Submitted {
                name: claim.name.clone(),
                link: claim
                    .links
                    .first()
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
            });
        }
        emit(&format!("  → {}: {}", state_name(claim.state), claim.label))?;
        commands.push(command);
    }

    emit(&format!("\nThe claims of {story}, each with its label:"))?;
    let listed = replay(
        server,
        EDITOR,
        &["list".into(), "--story".into(), story.into()],
    )
    .await?;
    emit(&listed.render(&printer.at_now()))?;
    let Answer::Claims(listed_claims) = &listed else {
        return Err(ClientError::Failed("listing answered no claims".into()));
    };
    for claim in listed_claims {
        emit(&format!("  {} — {}", claim.label, claim.statement))?;
    }
    let waiting = listed_claims
        .iter()
        .filter(|c| c.state == pb::claim::State::Unverified as i32)
        .count();
    emit(&format!("\nStill waiting in the queue: {waiting}"))?;

    emit(&format!(
        "\nThe open contradictions of {story}, each with both claims side by side:"
    ))?;
    emit(&format!(
        "$ claimdesk conflicts --story {}",
        shell_word(story)
    ))?;
    let conflicts = replay_conflicts(server, EDITOR, story).await?;
    emit(&printer.at_now().conflicts(&conflicts))?;

    let inconclusive = &claims
        .get(2)
        .ok_or_else(|| ClientError::Failed("the demo submitted too few claims".into()))?
        .name;
    emit(&format!("\nThe history of C3 ({inconclusive}):"))?;
    let history = replay(
        server,
        EDITOR,
        &["history".into(), claim_name(inconclusive)],
    )
    .await?;
    emit(&history.render(&printer.at_now()))?;

    emit("\nTo replay the story on a real server (open mode; jq reads the names):")?;
    emit(&format!(
        "  export CLAIMDESK_SERVER={}",
        shell_word(replay_on)
    ))?;
    for command in commands {
        for line in command.lines() {
            emit(&format!("  {line}"))?;
        }
    }
    emit(&format!(
        "  claimdesk claim list --story {}",
        shell_word(story)
    ))?;
    emit(&format!(
        "  claimdesk conflicts --story {}",
        shell_word(story)
    ))?;
    emit("  claimdesk claim history \"$C3\"")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_word("--tag"), "--tag");
        assert_eq!(shell_word("https://a.example/b"), "https://a.example/b");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("Kessel's"), r"'Kessel'\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn every_step_parses_as_a_claim_command_and_refers_to_submitted_claims() {
        let steps = story(STORY);
        let mut submitted = 0;
        for step in &steps {
            let names: Vec<Submitted> = (0..submitted)
                .map(|i| Submitted {
                    name: format!("claims/{i}"),
                    link: format!("claims/{i}/links/7"),
                })
                .collect();
            let args = step.args(&names).expect("refers to submitted claims only");
            let argv = ["claimdesk", "claim"]
                .into_iter()
                .map(str::to_owned)
                .chain(args)
                .chain(["--user".to_owned(), step.user.to_owned()]);
            if let Err(e) = Replay::try_parse_from(argv) {
                panic!("{}: {e}", step.command(submitted));
            }
            if step.is_submit() {
                assert!(
                    step.command(submitted)
                        .starts_with(&format!("C{}=$(", submitted + 1))
                );
                submitted += 1;
            }
        }
        assert_eq!(submitted, 6);
    }
}
