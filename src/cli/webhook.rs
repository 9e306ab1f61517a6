//! `idgate webhook …`: the product's webhook endpoints (Standard Webhooks), managed by the
//! operator. `add` prints the endpoint's `whsec_…` secret alone on stdout (shown once).

use clap::Subcommand;

use super::now;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::{Store, orgs, webhooks as store};
use crate::webhooks::{self, Actor, Input, ReplayFrom, guard::Allow};

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its signing secret alone on stdout (shown once).
    Add {
        url: String,
        /// Event types or patterns, comma-separated (user.*,group.created); default: all.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Only these orgs' events (repeatable); default: every org.
        #[arg(long = "org")]
        orgs: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Backfill: also send the kept events from this seq on.
        #[arg(long)]
        from_seq: Option<i64>,
    },
    /// List the endpoints with their state and lanes.
    List,
    /// Remove an endpoint (by id or URL).
    Remove { endpoint: String },
    /// New secret (printed alone on stdout); the old one keeps signing for 24 hours.
    RotateSecret { endpoint: String },
    /// Stop sending (events are kept and sent on `enable`).
    Pause { endpoint: String },
    /// Send again, re-arming stalled lanes.
    Enable { endpoint: String },
    /// Send every event again from a seq (`--from-seq`) or a time (`--since`, RFC 3339).
    Replay {
        endpoint: String,
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        from_seq: Option<i64>,
        #[arg(long)]
        since: Option<String>,
    },
    /// Mark a stalled lane's next event done without sending it (audited).
    Skip {
        endpoint: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        seq: i64,
    },
}

const CLI: Actor<'static> = Actor {
    name: "cli",
    org_ids: None,
};

/// An endpoint by its id or its URL.
fn endpoint(store: &Store, which: &str) -> Result<store::Endpoint> {
    let all = store.read_now(store::list)?;
    let mut found = all
        .into_iter()
        .filter(|e| e.public_id == which || e.url == which);
    match (found.next(), found.next()) {
        (Some(e), None) => Ok(e),
        (Some(_), Some(_)) => Err(Error::Invalid(format!(
            "several endpoints have the URL {which:?}; name one by its id (idgate webhook list)"
        ))),
        (None, _) => Err(Error::NotFound(format!("no webhook endpoint {which:?}"))),
    }
}

pub fn webhook_command(store: &Store, config: &Config, cmd: &WebhookCommand) -> Result<i32> {
    let sealer = Sealer::for_data_dir(&config.data_dir)?;
    let allow = Allow::new(config.outbound_allow_networks.clone());
    match cmd {
        WebhookCommand::Add {
            url,
            types,
            orgs: slugs,
            description,
            from_seq,
        } => {
            let input = Input {
                url: url.clone(),
                description: description.clone(),
                types: types.clone(),
                orgs: (!slugs.is_empty()).then(|| slugs.clone()),
            };
            let (e, secret) = store.write_now(|c| {
                webhooks::create(c, &sealer, &allow, &input, *from_seq, &CLI, &now())
            })?;
            println!("{secret}");
            eprintln!(
                "Added {} → {}. It receives the events committed after seq {}. This is the only \
                 time the secret is shown: verify the webhook-signature header with it \
                 (Standard Webhooks).",
                e.public_id, e.url, e.start_after
            );
            Ok(0)
        }
        WebhookCommand::List => {
            let (all, lanes, orgs) =
                store.read_now(|c| Ok((store::list(c)?, store::lanes(c)?, orgs::list_orgs(c)?)))?;
            let slug = |id: i64| {
                orgs.iter()
                    .find(|o| o.id == id)
                    .map_or(id.to_string(), |o| o.slug.clone())
            };
            for e in all {
                let scope = e.org_ids.as_ref().map_or("all orgs".to_string(), |ids| {
                    ids.iter().map(|id| slug(*id)).collect::<Vec<_>>().join(",")
                });
                let types = if e.types.is_empty() {
                    "*".into()
                } else {
                    e.types.join(",")
                };
                println!(
                    "{}\t{}\t{}\t{types}\t{scope}{}",
                    e.public_id,
                    e.url,
                    e.state,
                    e.state_reason
                        .as_deref()
                        .map(|r| format!("\t({r})"))
                        .unwrap_or_default()
                );
                for l in lanes.iter().filter(|l| l.endpoint_id == e.id) {
                    println!(
                        "  lane {}\tdelivered through seq {}{}{}",
                        slug(l.org_id),
                        l.delivered,
                        if l.attempts > 0 {
                            format!("\t{} failed attempts", l.attempts)
                        } else {
                            String::new()
                        },
                        match (&l.stalled, &l.last_error) {
                            (Some(t), e) =>
                                format!("\tSTALLED since {t}: {}", e.as_deref().unwrap_or("")),
                            (None, Some(e)) if l.attempts > 0 => format!("\tlast error: {e}"),
                            _ => String::new(),
                        }
                    );
                }
            }
            Ok(0)
        }
        WebhookCommand::Remove { endpoint: which } => {
            let e = endpoint(store, which)?;
            store.write_now(|c| webhooks::remove(c, &e, &CLI, &now()))?;
            eprintln!("removed {} ({})", e.public_id, e.url);
            Ok(0)
        }
        WebhookCommand::RotateSecret { endpoint: which } => {
            let e = endpoint(store, which)?;
            let at = crate::clock::Clock::System.now();
            let (secret, until) =
                store.write_now(|c| webhooks::rotate(c, &sealer, &e, &CLI, at))?;
            println!("{secret}");
            eprintln!(
                "New secret for {}. Until {until} every message is signed with the old and the \
                 new secret: switch the receiver to the new one before then.",
                e.public_id
            );
            Ok(0)
        }
        WebhookCommand::Pause { endpoint: which } | WebhookCommand::Enable { endpoint: which } => {
            let e = endpoint(store, which)?;
            let state = if matches!(cmd, WebhookCommand::Pause { .. }) {
                "paused"
            } else {
                "enabled"
            };
            store.write_now(|c| webhooks::set_state(c, &e, state, &CLI, &now()))?;
            eprintln!("{} is {state}", e.public_id);
            Ok(0)
        }
        WebhookCommand::Replay {
            endpoint: which,
            from_seq,
            since,
        } => {
            let e = endpoint(store, which)?;
            let from = match (from_seq, since) {
                (Some(seq), _) => ReplayFrom::Seq(*seq),
                (None, Some(t)) => ReplayFrom::Time(t.clone()),
                (None, None) => return Err(Error::Invalid("give --from-seq or --since".into())),
            };
            let after = store.write_now(|c| webhooks::replay(c, &e, &from, &CLI, &now()))?;
            eprintln!("{} sends every event after seq {after} again", e.public_id);
            Ok(0)
        }
        WebhookCommand::Skip {
            endpoint: which,
            org,
            seq,
        } => {
            let e = endpoint(store, which)?;
            store.write_now(|c| {
                let org = orgs::require_org(c, org)?;
                webhooks::skip(c, &e, org.id, *seq, &CLI, &now())
            })?;
            eprintln!("skipped seq {seq} on {}'s lane of {}", org, e.public_id);
            Ok(0)
        }
    }
}
