//! The lookup cache: hits and misses, positive and negative TTLs, no
//! caching of errors, writes through the cache clear it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_directory::file::FileDirectory;
use mail_directory::{
    Address, CacheConfig, Cached, Directory, Domain, Resolved, UserChange, UserSpec,
};

fn addr(a: &str) -> Address {
    Address::parse(a).expect("test address parses")
}

async fn setup() -> (tempfile::TempDir, Arc<FileDirectory>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = Arc::new(FileDirectory::open(&tmp.path().join("d.toml")).expect("open"));
    d.add_domain(&Domain {
        name: "c.test".into(),
        aliases: vec![],
    })
    .await
    .expect("domain");
    d.add_user(&UserSpec {
        uid: "amy".into(),
        address: "amy@c.test".into(),
        mail_host: Some("s1".into()),
        ..UserSpec::default()
    })
    .await
    .expect("user");
    (tmp, d)
}

#[tokio::test]
async fn hits_misses_and_ttls() {
    let (_tmp, backend) = setup().await;
    let cached = Cached::new(
        backend.clone(),
        &CacheConfig {
            capacity: 100,
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_millis(300),
        },
    );
    let amy = addr("amy@c.test");
    assert!(cached.resolve(&amy).await.expect("lookup").user().is_some());
    assert!(cached.resolve(&amy).await.expect("lookup").user().is_some());
    assert_eq!(cached.stats().hits, 1);
    assert_eq!(cached.stats().misses, 1);

    // A change made behind the cache's back is not seen within the TTL.
    backend
        .modify_user(
            "amy",
            &UserChange {
                mail_host: Some("s2".into()),
                ..UserChange::default()
            },
        )
        .await
        .expect("modify");
    let u = cached.resolve(&amy).await.expect("lookup");
    assert_eq!(
        u.user().and_then(|u| u.mail_host.as_deref()),
        Some("s1"),
        "positive TTL holds"
    );

    // Negative answers expire after the shorter TTL.
    let bo = addr("bo@c.test");
    assert_eq!(cached.resolve(&bo).await.expect("lookup"), Resolved::None);
    backend
        .add_user(&UserSpec {
            uid: "bo".into(),
            address: "bo@c.test".into(),
            ..UserSpec::default()
        })
        .await
        .expect("add bo");
    assert_eq!(
        cached.resolve(&bo).await.expect("lookup"),
        Resolved::None,
        "negative entry still cached"
    );
    let started = Instant::now();
    loop {
        if cached.resolve(&bo).await.expect("lookup").user().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "negative TTL never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cached.stats().hits >= 2);

    // Writes through the cache clear it.
    cached
        .modify_user(
            "amy",
            &UserChange {
                mail_host: Some("s3".into()),
                ..UserChange::default()
            },
        )
        .await
        .expect("modify");
    let u = cached.resolve(&amy).await.expect("lookup");
    assert_eq!(u.user().and_then(|u| u.mail_host.as_deref()), Some("s3"));
}

#[tokio::test]
async fn errors_are_not_cached() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("d.toml");
    std::fs::write(&path, "this is = = not toml").expect("write");
    assert!(
        FileDirectory::open(&path).is_err(),
        "a broken file is an error"
    );
    let (_tmp, backend) = setup().await;
    let cached = Cached::new(backend.clone(), &CacheConfig::default());
    // Break the file under the running backend: lookups fail temporarily.
    std::fs::write(backend.path(), "users = 3\n").expect("break file");
    let err = cached
        .resolve(&addr("amy@c.test"))
        .await
        .expect_err("broken file");
    assert!(err.is_temporary(), "{err}");
    let err = cached
        .resolve(&addr("amy@c.test"))
        .await
        .expect_err("still broken, not cached");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(cached.stats().hits, 0);
}
