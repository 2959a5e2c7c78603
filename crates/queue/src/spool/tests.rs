use super::*;

fn envelope(spool: &Spool, channel: &str, rcpts: &[&str]) -> Envelope {
    Envelope::new(
        spool.next_id(),
        channel,
        "store1",
        "bob@example.net",
        rcpts.iter().map(|r| QueuedRecipient::new(*r)).collect(),
    )
}

fn files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn enqueue_read_mark_remove() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("open");
    let a = envelope(&spool, "lmtp", &["a@x.org", "b@x.org"]);
    let b = envelope(&spool, "tcp_local", &["c@y.org"]);
    let written = spool
        .enqueue(
            vec![a.clone(), b.clone()],
            b"Received: x\r\n".to_vec(),
            Content::Bytes(b"Subject: t\r\n\r\nbody\r\n".to_vec()),
        )
        .await
        .expect("enqueue");
    assert_eq!(written[0].size, 13 + 20);
    assert!(files(&dir.path().join(TMP)).is_empty());
    let (env, data) = spool.read("lmtp", &a.id).await.expect("read");
    let mut streamed = Vec::new();
    let entry = spool.open_entry("lmtp", &a.id).await.expect("entry");
    tokio::io::AsyncReadExt::read_to_end(
        &mut entry.open_data().await.expect("open"),
        &mut streamed,
    )
    .await
    .expect("stream");
    assert_eq!(streamed, data);
    assert_eq!(env.recipients.len(), 2);
    assert_eq!(data, b"Received: x\r\nSubject: t\r\n\r\nbody\r\n");

    let out = spool
        .mark(
            "lmtp",
            &a.id,
            vec![("A@x.org".into(), RcptState::Delivered)],
        )
        .await
        .expect("mark");
    assert_eq!(
        out,
        MarkOutcome {
            pending: 1,
            removed: false
        }
    );
    let env = spool
        .open_entry("lmtp", &a.id)
        .await
        .expect("open")
        .envelope;
    assert_eq!(env.recipients[0].state, RcptState::Delivered);
    assert!(matches!(
        spool
            .mark("lmtp", &a.id, vec![("zz@x.org".into(), RcptState::Failed)])
            .await,
        Err(Error::UnknownRecipient(_))
    ));
    let out = spool
        .mark("lmtp", &a.id, vec![("b@x.org".into(), RcptState::Failed)])
        .await
        .expect("mark");
    assert!(out.removed);
    assert!(matches!(
        spool.open_entry("lmtp", &a.id).await,
        Err(Error::NotFound { .. })
    ));
    let scan = spool.scan().await.expect("scan");
    assert_eq!(scan.entries.len(), 1);
    assert_eq!(scan.entries[0].id, b.id);
}

#[tokio::test]
async fn scan_cleans_up_after_a_crash() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("open");
    let a = envelope(&spool, "lmtp", &["a@x.org"]);
    let b = envelope(&spool, "lmtp", &["b@x.org"]);
    spool
        .enqueue(
            vec![a.clone()],
            Vec::new(),
            Content::Bytes(b"x\r\n".to_vec()),
        )
        .await
        .expect("a");
    spool
        .enqueue(
            vec![b.clone()],
            Vec::new(),
            Content::Bytes(b"y\r\n".to_vec()),
        )
        .await
        .expect("b");
    // a: delivered but not yet removed; b: truncated by hand; junk in tmp.
    spool
        .mark_blocking("lmtp", &a.id, &[("a@x.org".into(), RcptState::Delivered)])
        .expect("mark");
    let bpath = spool.path_of("lmtp", &b.id);
    let len = fs::metadata(&bpath).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(&bpath)
        .and_then(|f| f.set_len(len - 1))
        .expect("truncate");
    fs::write(dir.path().join(TMP).join("junk"), b"partial").expect("junk");
    spool.close();
    drop(spool);

    let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("reopen");
    assert!(files(&dir.path().join(TMP)).is_empty(), "tmp cleaned");
    let scan = spool.scan().await.expect("scan");
    assert!(scan.entries.is_empty());
    assert_eq!(scan.completed, 1);
    assert_eq!(scan.corrupt.len(), 1);
    assert!(files(&dir.path().join("lmtp")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_share_directory_fsyncs() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("open");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let spool = spool.clone();
            tokio::spawn(async move {
                let e = envelope(&spool, "lmtp", &["a@x.org"]);
                spool
                    .enqueue(
                        vec![e],
                        Vec::new(),
                        Content::Bytes(format!("m{i}\r\n").into_bytes()),
                    )
                    .await
                    .expect("enqueue")
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.expect("task")[0].id.clone());
    }
    assert_eq!(ids.len(), 40);
    assert_eq!(spool.scan().await.expect("scan").entries.len(), 40);
    let (requests, batches) = spool.commit_stats();
    assert_eq!(requests, 40);
    assert!(
        batches < requests,
        "{batches} batches for {requests} requests"
    );
}

#[tokio::test]
async fn invalid_channel_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("open");
    let ok = envelope(&spool, "lmtp", &["a@x.org"]);
    let bad = envelope(&spool, "../etc", &["a@x.org"]);
    let r = spool
        .enqueue(vec![ok, bad], Vec::new(), Content::Bytes(b"x".to_vec()))
        .await;
    assert!(matches!(r, Err(Error::InvalidChannel(_))));
    assert!(spool.scan().await.expect("scan").entries.is_empty());
    assert!(files(&dir.path().join(TMP)).is_empty());
}
