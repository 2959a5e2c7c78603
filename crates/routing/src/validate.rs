//! Semantic checks of a routing file, each problem under its key
//! (`channel[2].retry`, `rewrite[4].route`), all collected in one pass.
//! Beyond each value's own range, the rules are checked against the channel
//! table: a literal routing host must belong to a channel that can take
//! mail, and every mapping table a template names must exist.

use std::collections::BTreeMap;
use std::time::Duration;

use mail_core::config::{Validate, Validator};

use crate::address::check_domain_syntax;
use crate::config::{
    Channel, ChannelKind, RewriteRule, RoutingConfig, Settings, TlsPolicy, parse_error_text,
    parse_host_port,
};
use crate::mapping::Mapping;
use crate::pattern::DomainPattern;
use crate::template::{Template, valid_table_name};

fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Validate for Settings {
    fn validate(&self, v: &mut Validator) {
        if self.local_host != "localhost"
            && let Err(e) = check_domain_syntax(&self.local_host.to_ascii_lowercase())
        {
            v.error("local_host", e);
        }
        if !(1..=50).contains(&self.max_rewrites) {
            v.error("max_rewrites", "must be between 1 and 50");
        }
    }
}

impl Validate for Channel {
    fn validate(&self, v: &mut Validator) {
        if !valid_channel_name(&self.name) {
            v.error("name", "channel names use letters, digits, '_' and '-'");
        }
        let routable = !matches!(self.kind, ChannelKind::Submit);
        if routable && self.hosts.is_empty() {
            v.error(
                "hosts",
                "needs at least one host name (rules select the channel by it)",
            );
        }
        for h in &self.hosts {
            if let Err(e) = check_domain_syntax(&h.to_ascii_lowercase()) {
                v.error("hosts", format!("{h:?}: {e}"));
            }
        }
        if self.max_message_size == 0 {
            v.error("max_message_size", "must be larger than zero");
        }
        if self.max_workers == 0 {
            v.error("max_workers", "must be at least 1");
        }
        if self.min_workers > self.max_workers {
            v.error("min_workers", "must not exceed max_workers");
        }
        if self.max_per_destination == 0 || self.max_per_destination > self.max_workers {
            v.error("max_per_destination", "must be between 1 and max_workers");
        }
        if self.retry.is_empty() {
            v.error("retry", "needs at least one interval");
        }
        if self.retry.iter().any(Duration::is_zero) {
            v.error("retry", "intervals must be longer than zero");
        }
        if self.max_lifetime.is_zero() {
            v.error("max_lifetime", "must be longer than zero");
        }
        if self.delay_notice_after >= self.max_lifetime {
            v.error(
                "delay_notice_after",
                "must be shorter than max_lifetime, or no delay notice is ever sent",
            );
        }
        if self.tls_verify && self.tls_policy() == TlsPolicy::None {
            v.error("tls_verify", "has no effect with tls = \"none\"");
        }
        if self.tls.is_some() && !self.kind.connects() {
            v.error(
                "tls",
                format!("has no effect on a {} channel", self.kind.as_str()),
            );
        }
        match (&self.relay, self.kind) {
            (None, ChannelKind::SmtpRelay) => v.error(
                "relay",
                "an smtp_relay channel needs its relay host (host[:port])",
            ),
            (Some(_), k) if !matches!(k, ChannelKind::SmtpRelay | ChannelKind::Lmtp) => v.error(
                "relay",
                format!("has no effect on a {} channel", k.as_str()),
            ),
            (Some(r), _) => {
                if let Err(e) = parse_host_port(r) {
                    v.error("relay", e);
                }
            }
            (None, _) => {}
        }
        if self.port == Some(0) {
            v.error("port", "must be a port number from 1 to 65535");
        }
        if self.guaranteed && self.kind != ChannelKind::Lmtp {
            v.error("guaranteed", "only an lmtp channel can bypass quotas");
        }
    }
}

impl Validate for RoutingConfig {
    fn validate(&self, v: &mut Validator) {
        v.nested("routing", &self.routing);
        let mut hosts: BTreeMap<String, &str> = BTreeMap::new();
        for (i, c) in self.channels.iter().enumerate() {
            let key = format!("channel[{i}]");
            v.nested(&key, c);
            if let Some(j) = self.channels[..i].iter().position(|o| o.name == c.name) {
                v.error(
                    &format!("{key}.name"),
                    format!("channel {:?} is already defined as channel[{j}]", c.name),
                );
            }
            for h in &c.hosts {
                if let Some(other) = hosts.insert(h.to_ascii_lowercase(), &c.name) {
                    v.error(
                        &format!("{key}.hosts"),
                        format!("host {h:?} already selects channel {other:?}"),
                    );
                }
            }
        }
        for (name, entries) in &self.mappings {
            let key = format!("mapping.{name}");
            if !valid_table_name(name) {
                v.error(&key, "table names use letters, digits, '_' and '-'");
            }
            if let Err(errs) = Mapping::new(entries) {
                for e in errs {
                    v.error(&key, format!("entry {:?}: {}", e.key, e.reason));
                }
            }
        }
        for (i, r) in self.rewrites.iter().enumerate() {
            v.section(&format!("rewrite[{i}]"), |v| self.validate_rule(r, v));
        }
    }
}

impl RoutingConfig {
    fn validate_rule(&self, r: &RewriteRule, v: &mut Validator) {
        if let Err(e) = DomainPattern::parse(&r.domain) {
            v.error("domain", e);
        }
        let mut template = |key: &str, text: &Option<String>| -> Option<Template> {
            let t = Template::parse(text.as_deref()?)
                .map_err(|e| v.error(key, e))
                .ok()?;
            for m in t.mappings() {
                if !self.mappings.contains_key(m) {
                    v.error(
                        key,
                        format!("mapping table {m:?} is not defined ([mapping.{m}])"),
                    );
                }
            }
            Some(t)
        };
        template("when", &r.when);
        template("address", &r.address);
        let route = template("route", &r.route);
        let destination = template("destination", &r.destination);
        if let Some(e) = &r.error {
            if let Err(msg) = parse_error_text(e) {
                v.error("error", msg);
            }
            for (key, set) in [
                ("address", r.address.is_some()),
                ("route", r.route.is_some()),
                ("destination", r.destination.is_some()),
            ] {
                if set {
                    v.error(key, "an error rule refuses the address; it takes no address, route or destination");
                }
            }
            return;
        }
        if r.route.is_none() {
            if r.address.is_none() {
                v.error(
                    "",
                    "a rule needs route (to select a channel), address (to rewrite and route again) or error",
                );
            }
            if r.destination.is_some() {
                v.error(
                    "destination",
                    "needs route: without it the address is routed again",
                );
            }
            return;
        }
        // A literal routing host must select a channel that can take it.
        let Some(host) = route.as_ref().and_then(Template::literal) else {
            return;
        };
        let Some(channel) = self
            .channels
            .iter()
            .find(|c| c.hosts.iter().any(|h| h.eq_ignore_ascii_case(host.trim())))
        else {
            let known: Vec<&str> = self
                .channels
                .iter()
                .flat_map(|c| c.hosts.iter().map(String::as_str))
                .collect();
            v.error(
                "route",
                format!(
                    "{host:?} is no channel's host (known: {})",
                    known.join(", ")
                ),
            );
            return;
        };
        match channel.kind {
            ChannelKind::Submit => v.error(
                "route",
                format!("channel {:?} is a submit channel and only receives", channel.name),
            ),
            ChannelKind::Bounce | ChannelKind::Reprocess if destination.is_some() => v.error(
                "destination",
                format!("has no effect on the {} channel {:?}", channel.kind.as_str(), channel.name),
            ),
            ChannelKind::Lmtp if destination.is_none() && channel.relay.is_none() => v.error(
                "destination",
                format!(
                    "channel {:?} (lmtp) has no relay, so the rule must give the store (e.g. \"${{mailhost}}\")",
                    channel.name
                ),
            ),
            _ => {}
        }
    }
}
