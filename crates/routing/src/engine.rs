//! The rewrite engine: address in, [`Route`] out.
//!
//! Rules are tried in file order. A rule applies when its domain pattern
//! matches and every lookup in its templates finds something; then either
//! it refuses the address (`error`), or it routes it (`route` selects the
//! channel by host name), or it rewrites it and the new address goes
//! through the rules again from the top. That chain stops at an address it
//! has seen before (a loop) or after `routing.max_rewrites` rewrites.

use std::collections::HashMap;
use std::path::Path;

use crate::address::Mailbox;
use crate::config::{
    Channel, ChannelKind, DEFAULT_ADDRESS, RoutingConfig, Settings, parse_error_text,
    parse_host_port,
};
use crate::directory::{Entry, RoutingDirectory};
use crate::error::{Error, RouteError};
use crate::mapping::Mapping;
use crate::pattern::DomainPattern;
use crate::route::{Destination, Route, Step, StepKind};
use crate::template::{DirQuery, Piece, Template, Vars, expand_simple};

/// A rule ready to run.
#[derive(Debug)]
struct Rule {
    label: String,
    pattern: DomainPattern,
    when: Option<Template>,
    address: Template,
    route: Option<Template>,
    destination: Option<Template>,
    error: Option<(u16, String, String)>,
}

/// The channel table and rewrite rules of one MTA, compiled.
#[derive(Debug)]
pub struct Router {
    settings: Settings,
    channels: Vec<Channel>,
    by_host: HashMap<String, usize>,
    rules: Vec<Rule>,
    mappings: HashMap<String, Mapping>,
}

/// Lookups made during one routing run, so a chain asks each question once.
#[derive(Default)]
struct Memo {
    domains: HashMap<String, Option<String>>,
    entries: HashMap<String, Entry>,
}

/// The result of evaluating a template.
enum Eval {
    Value(String),
    /// A lookup found nothing: why, in words.
    Failed(String),
}

impl Router {
    /// Compiles a validated configuration.
    pub fn new(config: RoutingConfig) -> Result<Self, Error> {
        let bad = |key: String, message: String| {
            Error::Config(mail_core::config::ConfigError::Invalid {
                path: "(routing)".into(),
                problems: vec![mail_core::config::Problem { key, message }],
            })
        };
        let mut mappings = HashMap::new();
        for (name, entries) in &config.mappings {
            let m = Mapping::new(entries).map_err(|e| {
                bad(
                    format!("mapping.{name}"),
                    e.first().map(|e| e.reason.clone()).unwrap_or_default(),
                )
            })?;
            mappings.insert(name.clone(), m);
        }
        let mut rules = Vec::new();
        for (i, r) in config.rewrites.iter().enumerate() {
            let key = |k: &str| format!("rewrite[{i}].{k}");
            let t = |k: &str, s: &Option<String>| -> Result<Option<Template>, Error> {
                s.as_deref()
                    .map(|s| Template::parse(s).map_err(|e| bad(key(k), e)))
                    .transpose()
            };
            let error = match &r.error {
                Some(e) => Some(parse_error_text(e).map_err(|m| bad(key("error"), m))?),
                None => None,
            };
            rules.push(Rule {
                label: match &r.name {
                    Some(n) => format!("rule {i} \"{n}\""),
                    None => format!("rule {i}"),
                },
                pattern: DomainPattern::parse(&r.domain).map_err(|e| bad(key("domain"), e))?,
                when: t("when", &r.when)?,
                address: Template::parse(r.address.as_deref().unwrap_or(DEFAULT_ADDRESS))
                    .map_err(|e| bad(key("address"), e))?,
                route: t("route", &r.route)?,
                destination: t("destination", &r.destination)?,
                error,
            });
        }
        let mut by_host = HashMap::new();
        for (i, c) in config.channels.iter().enumerate() {
            for h in &c.hosts {
                by_host.insert(h.to_ascii_lowercase(), i);
            }
        }
        Ok(Self {
            settings: config.routing,
            channels: config.channels,
            by_host,
            rules,
            mappings,
        })
    }

    /// Loads, validates and compiles the routing file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::new(RoutingConfig::load(path)?)
    }

    /// Parses, validates and compiles `text` (`path` names it in errors).
    pub fn from_text(path: &Path, text: &str) -> Result<Self, Error> {
        Self::new(RoutingConfig::parse(path, text)?)
    }

    /// The channel called `name`, with its keywords.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Every channel, in file order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The channel a routing host selects.
    pub fn channel_for_host(&self, host: &str) -> Option<&Channel> {
        self.by_host
            .get(&host.to_ascii_lowercase())
            .and_then(|i| self.channels.get(*i))
    }

    /// `[routing]` settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Routes `address` (a recipient, with or without `<>`).
    #[tracing::instrument(level = "debug", skip(self, dir), fields(channel))]
    pub async fn route<D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        address: &str,
    ) -> Result<Route, RouteError> {
        let mut steps = Vec::new();
        let result = self.run(dir, address, &mut steps).await;
        match result {
            Ok(r) => {
                tracing::Span::current().record("channel", r.channel.as_str());
                Ok(r)
            }
            Err(error) => Err(RouteError {
                input: address.to_string(),
                steps,
                error,
            }),
        }
    }

    async fn run<D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        input: &str,
        steps: &mut Vec<Step>,
    ) -> Result<Route, Error> {
        // RFC 5321 4.1.1.3 and 4.5.1: `<Postmaster>` without a domain must
        // be accepted; it names this host's postmaster, so it routes as
        // postmaster@$L and the rules take it from there.
        let bare = input.trim().trim_start_matches('<').trim_end_matches('>');
        let local_postmaster;
        let parsed = if bare.eq_ignore_ascii_case("postmaster") {
            local_postmaster = format!("postmaster@{}", self.settings.local_host);
            local_postmaster.as_str()
        } else {
            input
        };
        let (mut current, note) = Mailbox::parse_noting(parsed)?;
        let mut said = format!("{current}");
        if parsed != input {
            said.push_str(", <Postmaster> without a domain is this host's (RFC 5321 4.1.1.3)");
        }
        if note.stripped_brackets {
            said.push_str(", angle brackets removed");
        }
        if note.lowercased {
            said.push_str(", domain lower-cased");
        }
        if let Some(u) = &note.idn_from {
            said.push_str(&format!(", IDN domain {u} as {}", current.domain()));
        }
        push(steps, StepKind::Input, said);
        let mut chain = vec![current.to_string()];
        let mut memo = Memo::default();
        'chain: loop {
            for (index, rule) in self.rules.iter().enumerate() {
                let Some(host_part) = rule.pattern.matches(current.domain()) else {
                    continue;
                };
                let applied = self
                    .apply(dir, index, rule, &current, host_part, &mut memo, steps)
                    .await?;
                let new = match applied {
                    Applied::Skipped => continue,
                    Applied::Route(chosen) => {
                        let mut route = self.decide(input, chosen, steps)?;
                        if !chain.contains(&route.final_address) {
                            chain.push(route.final_address.clone());
                        }
                        route.hosted = self.any_hosted(dir, &chain, &mut memo).await?;
                        route.chain = chain;
                        return Ok(route);
                    }
                    Applied::Rewrite(new) => new,
                };
                let new_s = new.to_string();
                push(
                    steps,
                    StepKind::Rewrite,
                    format!(
                        "{}: {current} -> {new_s}, routed again ({} of at most {})",
                        rule.label,
                        chain.len(),
                        self.settings.max_rewrites
                    ),
                );
                if let Some(pos) = chain.iter().position(|a| a.eq_ignore_ascii_case(&new_s)) {
                    let mut cycle = chain[pos..].to_vec();
                    cycle.push(new_s);
                    return Err(Error::Loop { chain: cycle });
                }
                chain.push(new_s);
                if chain.len() > self.settings.max_rewrites {
                    return Err(Error::TooManyRewrites {
                        limit: self.settings.max_rewrites,
                        chain,
                    });
                }
                current = new;
                continue 'chain;
            }
            return Err(Error::NoRule {
                address: current.to_string(),
                domain: current.domain().to_string(),
            });
        }
    }

    /// Runs one rule whose pattern matched `current`.
    #[allow(clippy::too_many_arguments)]
    async fn apply<'r, D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        index: usize,
        rule: &'r Rule,
        current: &Mailbox,
        host_part: &str,
        memo: &mut Memo,
        steps: &mut Vec<Step>,
    ) -> Result<Applied<'r>, Error> {
        push(
            steps,
            StepKind::Rule,
            format!(
                "{}: domain pattern {} matches {}",
                rule.label,
                rule.pattern,
                current.domain()
            ),
        );
        let vars = Vars {
            user: current.local(),
            user_base: current.base_local(),
            user_detail: current.detail(),
            domain: current.domain(),
            host: host_part,
            local_host: &self.settings.local_host,
        };
        let skip = |steps: &mut Vec<Step>, why: String| {
            // Nothing was looked up since the match: one line says both.
            if steps.last().is_some_and(|s| s.kind == StepKind::Rule) {
                steps.pop();
            }
            push(
                steps,
                StepKind::Skip,
                format!("{} ({}) skipped: {why}", rule.label, rule.pattern),
            );
            Ok(Applied::Skipped)
        };
        let mut used: Option<Entry> = None;
        // Every template must succeed, in this order, for the rule to apply.
        let mut values = Values::default();
        let templates = [
            ("when", rule.when.as_ref(), &mut values.when),
            (
                "address",
                rule.error.is_none().then_some(&rule.address),
                &mut values.address,
            ),
            ("route", rule.route.as_ref(), &mut values.route),
            (
                "destination",
                rule.destination.as_ref(),
                &mut values.destination,
            ),
        ];
        for (key, t, slot) in templates {
            let Some(t) = t else { continue };
            match self
                .eval(dir, t, &vars, current, memo, &mut used, steps)
                .await?
            {
                Eval::Value(v) => *slot = Some(v),
                Eval::Failed(why) => return skip(steps, format!("{key} = \"{t}\": {why}")),
            }
        }
        if let Some((code, status, message)) = &rule.error {
            return Err(Error::Refused {
                address: current.to_string(),
                rule: index,
                code: *code,
                status: status.clone(),
                message: message.clone(),
            });
        }
        let new_text = values.address.unwrap_or_default();
        let new = Mailbox::parse(&new_text).map_err(|e| Error::BadTemplateResult {
            rule: index,
            key: "address",
            value: new_text.clone(),
            reason: e.to_string(),
        })?;
        match values.route {
            Some(routing_host) => Ok(Applied::Route(Chosen {
                index,
                rule,
                address: new,
                routing_host,
                destination: values.destination,
                entry: used.unwrap_or(Entry::None),
            })),
            // A rewrite to the same address changes nothing (a
            // mailRoutingAddress naming the user itself, `local_host` equal
            // to the domain): not a loop, just a rule that does not apply.
            None if new == *current => skip(
                steps,
                format!("address = \"{}\" leaves {current} unchanged", rule.address),
            ),
            None => Ok(Applied::Rewrite(new)),
        }
    }

    /// Turns the deciding rule's values into a [`Route`].
    fn decide(&self, input: &str, c: Chosen<'_>, steps: &mut Vec<Step>) -> Result<Route, Error> {
        let Chosen {
            index,
            rule,
            address,
            routing_host,
            destination,
            entry,
        } = c;
        let host = routing_host.trim().to_ascii_lowercase();
        push(
            steps,
            StepKind::Route,
            format!("{}: address {address}, routing host {host}", rule.label),
        );
        let Some(channel) = self.channel_for_host(&host) else {
            return Err(Error::NoChannel { rule: index, host });
        };
        push(
            steps,
            StepKind::Channel,
            format!(
                "{} (kind {}) is selected by its host name {host}",
                channel.name,
                channel.kind.as_str()
            ),
        );
        let bad_channel = |reason: &str| Error::BadChannel {
            rule: index,
            channel: channel.name.clone(),
            reason: reason.to_string(),
        };
        let port = channel.default_port();
        let host_port = |key: &'static str, text: &str| {
            parse_host_port(text).map_err(|reason| Error::BadTemplateResult {
                rule: index,
                key,
                value: text.to_string(),
                reason,
            })
        };
        let (dest, why) = match (channel.kind, &destination) {
            (ChannelKind::Submit, _) => {
                return Err(bad_channel("a submit channel only receives mail"));
            }
            (ChannelKind::Bounce | ChannelKind::Reprocess, _) => {
                (Destination::Local, String::new())
            }
            (ChannelKind::SmtpMx, Some(d)) => {
                let (domain, p) = host_port("destination", d)?;
                (
                    Destination::Mx {
                        domain,
                        port: p.unwrap_or(port),
                    },
                    format!("from the rule's destination \"{}\"", rule_dest(rule)),
                )
            }
            (ChannelKind::SmtpMx, None) => (
                Destination::Mx {
                    domain: address.domain().to_string(),
                    port,
                },
                "MX lookup of the address's domain".to_string(),
            ),
            (ChannelKind::Lmtp | ChannelKind::SmtpRelay, Some(d)) => {
                let (h, p) = host_port("destination", d)?;
                (
                    Destination::Host {
                        host: h,
                        port: p.unwrap_or(port),
                    },
                    format!("from the rule's destination \"{}\"", rule_dest(rule)),
                )
            }
            (ChannelKind::Lmtp | ChannelKind::SmtpRelay, None) => {
                let Some(relay) = &channel.relay else {
                    return Err(bad_channel(
                        "the rule gives no destination and the channel has no relay",
                    ));
                };
                let (h, p) = parse_host_port(relay).map_err(|r| bad_channel(&r))?;
                (
                    Destination::Host {
                        host: h,
                        port: p.unwrap_or(port),
                    },
                    format!("the channel's relay {relay}"),
                )
            }
        };
        let text = if why.is_empty() {
            dest.to_string()
        } else {
            format!("{dest} ({why})")
        };
        push(steps, StepKind::Destination, text);
        match &entry {
            Entry::User(u) => {
                if !u.forward_to.is_empty() {
                    push(
                        steps,
                        StepKind::Note,
                        format!(
                            "user {} forwards to {}{}; the inbound relay applies it",
                            u.uid,
                            u.forward_to.join(", "),
                            if u.keep_local_copy {
                                " and keeps a copy"
                            } else {
                                ""
                            }
                        ),
                    );
                }
                if u.status != mail_directory::AccountStatus::Active {
                    let (code, status, text) = u.status.smtp_reply();
                    push(
                        steps,
                        StepKind::Note,
                        format!(
                            "account {} is {}: the relay answers {code} {status} {text}",
                            u.uid, u.status
                        ),
                    );
                }
                if u.has_vacation {
                    push(
                        steps,
                        StepKind::Note,
                        format!("user {} has a vacation autoreply", u.uid),
                    );
                }
            }
            Entry::Group(g) => push(
                steps,
                StepKind::Note,
                format!(
                    "group {}: the relay expands it (mail_routing::expand) and routes each member",
                    g.name
                ),
            ),
            Entry::None => {}
        }
        Ok(Route {
            input: input.to_string(),
            steps: std::mem::take(steps),
            final_address: address.to_string(),
            channel: channel.name.clone(),
            kind: channel.kind,
            routing_host: host,
            destination: dest,
            entry,
            rule: index,
            chain: Vec::new(),
            hosted: false,
        })
    }

    /// Whether any address of the chain is in a hosted domain.
    async fn any_hosted<D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        chain: &[String],
        memo: &mut Memo,
    ) -> Result<bool, Error> {
        for address in chain {
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            let hosted = match memo.domains.get(domain) {
                Some(h) => h.is_some(),
                None => {
                    let h = dir.hosted_domain(domain).await?;
                    memo.domains.insert(domain.to_string(), h.clone());
                    h.is_some()
                }
            };
            if hosted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Evaluates `t`; records successful lookups as steps.
    #[allow(clippy::too_many_arguments)]
    async fn eval<D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        t: &Template,
        vars: &Vars<'_>,
        current: &Mailbox,
        memo: &mut Memo,
        used: &mut Option<Entry>,
        steps: &mut Vec<Step>,
    ) -> Result<Eval, Error> {
        let mut out = String::new();
        for piece in t.pieces() {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Var(v) => out.push_str(vars.get(*v)),
                Piece::Map(name, key) => {
                    let key = expand_simple(key, vars);
                    let Some(table) = self.mappings.get(name) else {
                        return Ok(Eval::Failed(format!("no mapping table {name:?}")));
                    };
                    match table.lookup(&key) {
                        Some((value, matched)) => {
                            let how = if matched == key.to_lowercase() {
                                String::new()
                            } else {
                                format!(" (by key {matched:?})")
                            };
                            steps.push(Step {
                                kind: StepKind::Lookup,
                                text: format!("mapping {name}: {key} -> {value}{how}"),
                            });
                            out.push_str(&value);
                        }
                        None => {
                            return Ok(Eval::Failed(format!(
                                "mapping {name} has no entry for {key:?}"
                            )));
                        }
                    }
                }
                Piece::Dir(q) => match self.ask(dir, *q, current, memo, used, steps).await? {
                    Eval::Value(v) => out.push_str(&v),
                    failed => return Ok(failed),
                },
            }
        }
        Ok(Eval::Value(out))
    }

    async fn ask<D: RoutingDirectory + ?Sized>(
        &self,
        dir: &D,
        q: DirQuery,
        current: &Mailbox,
        memo: &mut Memo,
        used: &mut Option<Entry>,
        steps: &mut Vec<Step>,
    ) -> Result<Eval, Error> {
        let domain = current.domain();
        if q == DirQuery::Domain {
            let hosted = match memo.domains.get(domain) {
                Some(h) => h.clone(),
                None => {
                    let h = dir.hosted_domain(domain).await?;
                    memo.domains.insert(domain.to_string(), h.clone());
                    h
                }
            };
            return Ok(match hosted {
                Some(canonical) => {
                    let alias = if canonical == domain {
                        String::new()
                    } else {
                        format!(" (an alias of {canonical})")
                    };
                    steps.push(Step {
                        kind: StepKind::Lookup,
                        text: format!("directory: {domain} is a hosted domain{alias}"),
                    });
                    Eval::Value(canonical)
                }
                None => Eval::Failed(format!("{domain} is not a hosted domain")),
            });
        }
        let key = current.to_string();
        let entry = match memo.entries.get(&key) {
            Some(e) => e.clone(),
            None => {
                let e = dir.lookup(&key).await?;
                memo.entries.insert(key.clone(), e.clone());
                e
            }
        };
        let found = match (&entry, q) {
            (Entry::User(u), DirQuery::User) => {
                if u.status == mail_directory::AccountStatus::Deleted {
                    return Ok(Eval::Failed(format!(
                        "{key} belongs to user {}, whose account is deleted",
                        u.uid
                    )));
                }
                // Keep the subaddress: the store files `user+detail` mail
                // into the folder `detail`.
                let value = match (current.detail(), u.address.split_once('@')) {
                    ("", _) | (_, None) => u.address.clone(),
                    (detail, Some((local, domain))) => format!("{local}+{detail}@{domain}"),
                };
                Ok((value, format!("{key} is user {} ({})", u.uid, u.address)))
            }
            (Entry::User(u), DirQuery::MailHost) => match &u.mail_host {
                Some(h) => Ok((h.clone(), format!("user {} has mailHost {h}", u.uid))),
                None => Err(format!("user {} has no mailHost", u.uid)),
            },
            (Entry::User(u), DirQuery::Routing) => match &u.routing_address {
                Some(a) => Ok((
                    a.clone(),
                    format!("user {} has mailRoutingAddress {a}", u.uid),
                )),
                None => Err(format!("user {} has no mailRoutingAddress", u.uid)),
            },
            (Entry::Group(g), DirQuery::Group) => match &g.address {
                Some(a) => Ok((a.clone(), format!("{key} is group {} ({a})", g.name))),
                None => Err(format!("group {} has no address", g.name)),
            },
            (Entry::Group(g), _) => Err(format!("{key} is group {}, not a user", g.name)),
            (Entry::User(u), DirQuery::Group) => {
                Err(format!("{key} is user {}, not a group", u.uid))
            }
            (Entry::None, _) => Err(format!("{key} is in no directory entry")),
            (_, DirQuery::Domain) => Err(String::new()),
        };
        Ok(match found {
            Ok((value, text)) => {
                steps.push(Step {
                    kind: StepKind::Lookup,
                    text: format!("directory: {text}"),
                });
                *used = Some(entry);
                Eval::Value(value)
            }
            Err(why) => Eval::Failed(why),
        })
    }
}

/// What one rule did.
enum Applied<'r> {
    /// A lookup found nothing, or the rewrite changed nothing.
    Skipped,
    /// Rewritten without a route: the chain goes on.
    Rewrite(Mailbox),
    /// Routed.
    Route(Chosen<'r>),
}

/// The values of a rule's templates.
#[derive(Default)]
struct Values {
    when: Option<String>,
    address: Option<String>,
    route: Option<String>,
    destination: Option<String>,
}

fn push(steps: &mut Vec<Step>, kind: StepKind, text: String) {
    steps.push(Step { kind, text });
}

/// The deciding rule and what its templates produced.
struct Chosen<'a> {
    index: usize,
    rule: &'a Rule,
    address: Mailbox,
    routing_host: String,
    destination: Option<String>,
    entry: Entry,
}

fn rule_dest(rule: &Rule) -> &str {
    rule.destination.as_ref().map_or("", Template::source)
}
