//! Directory lookups per second against a real OpenLDAP, with and without
//! the lookup cache: starts a throw-away `slapd` (mail-testkit) loaded with
//! deploy/ldap's schema and demo LDIF, adds USERS more users, and runs the
//! same measurement as `mailctl bench directory`.
//!
//! ```text
//! cargo run --release -p mail-directory --example ldap_bench -- [USERS] [SECONDS] [CONCURRENCY]
//! ```
//! Defaults: 1000 users, 5 s per run, 8 lookups in flight. Needs the
//! Debian packages `slapd` and `ldap-utils` (scripts/test installs them).

use std::sync::Arc;
use std::time::Duration;

use mail_directory::{Directory, DirectoryConfig, UserSpec, bench};
use mail_testkit::{Slapd, deploy_ldap_dir};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let users = args.next().transpose()?.unwrap_or(1000);
    let seconds = args.next().transpose()?.unwrap_or(5);
    let concurrency = args.next().transpose()?.unwrap_or(8) as usize;

    let schema = deploy_ldap_dir();
    let slapd = Slapd::start(&schema, &schema.join("demo.ldif"))?;
    let config: DirectoryConfig = toml::from_str(&format!(
        "backend = \"ldap\"\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\n",
        slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password
    ))?;
    let dir = mail_directory::open_uncached(&config).await?;
    let domain = dir
        .list_users()
        .await?
        .first()
        .map(|u| u.address.domain().to_string())
        .ok_or("the demo LDIF has no users")?;
    for i in 0..users {
        dir.add_user(&UserSpec {
            uid: format!("bench{i}"),
            address: format!("bench{i}@{domain}"),
            ..UserSpec::default()
        })
        .await?;
    }
    let dir: Arc<dyn Directory> = dir;
    println!(
        "directory benchmark: slapd {} (mdb), concurrency {concurrency}, {seconds}s per run",
        slapd.url
    );
    let report = bench::run(
        dir,
        config.cache(),
        concurrency,
        Duration::from_secs(seconds.max(1)),
    )
    .await?;
    print!("{report}");
    Ok(())
}
