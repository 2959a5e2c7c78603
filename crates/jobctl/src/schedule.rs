//! The in-memory schedule over the durable state: which job goes next on
//! each channel, which are deferred until when, who holds which lease, and
//! what each worker is doing. Every change is written to [`State`] before
//! the schedule changes, so the schedule can always be rebuilt from disk.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use mail_proto::jobctl::v1::{
    Attempt, ChannelStats, DeletedJob, Job, JobState, Outcome, RecipientResult, ReportResponse,
    WorkerInfo,
};

use crate::config::JobctlConfig;
use crate::error::Error;
use crate::retry::Retry;
use crate::state::{State, Tombstone};

/// Order of ready jobs on one channel: higher priority first, then new mail
/// ahead of retries (so a deferred backlog cannot starve fresh mail), then
/// oldest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyKey {
    priority: Reverse<i32>,
    is_retry: bool,
    since: i64,
    queue_id: String,
}

impl ReadyKey {
    fn of(job: &Job) -> Self {
        Self {
            priority: Reverse(job.priority),
            is_retry: job.attempts > 0,
            since: if job.attempts > 0 {
                job.next_attempt_at
            } else {
                job.queued_at
            },
            queue_id: job.queue_id.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Lease {
    worker: String,
    until: i64,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    lease: Option<Lease>,
    /// Attempts recorded in the history (the next attempt's sequence number).
    recorded: u32,
}

#[derive(Debug, Clone)]
struct Worker {
    channel: String,
    relay: String,
    leased: u32,
    since: i64,
    last_seen: i64,
}

/// Workers not heard from for this long are dropped from the table.
const WORKER_GONE: i64 = 300;

/// Most deleted jobs listed in one Lease answer.
const DELETED_PER_LEASE: usize = 256;

/// What became of a submitted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Queued (or its envelope replaced).
    Queued,
    /// An operator deleted it: the relay removes the file instead.
    Deleted,
}

/// A deleted job whose relay has not confirmed the file's removal.
#[derive(Debug)]
struct Pending {
    tombstone: Tombstone,
    /// Listed in a Lease answer since jobctl started: a parked Lease of
    /// the relay returns early only for news.
    offered: bool,
}

/// The schedule. Not thread-safe on its own: the server keeps it behind a
/// mutex and never holds that across an await.
#[derive(Debug)]
pub struct Schedule {
    state: State,
    config: JobctlConfig,
    jobs: HashMap<String, Entry>,
    /// Ready jobs by (relay, channel).
    ready: HashMap<(String, String), BTreeSet<ReadyKey>>,
    /// Deferred jobs by due time.
    deferred: BTreeSet<(i64, String)>,
    /// Leased jobs by lease expiry.
    leases: BTreeSet<(i64, String)>,
    workers: HashMap<String, Worker>,
    /// Deleted jobs by relay, then queue id.
    deleted: HashMap<String, std::collections::BTreeMap<String, Pending>>,
    /// The same, by deletion time, for forgetting old ones.
    deleted_at: BTreeSet<(i64, String)>,
}

fn relay_channel(job: &Job) -> (String, String) {
    (job.relay.clone(), job.channel.clone())
}

impl Schedule {
    /// Rebuilds the schedule from the database. Jobs that were leased when
    /// the controller stopped become ready again.
    pub fn open(state: State, config: JobctlConfig, now: i64) -> Result<Self, Error> {
        let mut s = Self {
            state,
            config,
            jobs: HashMap::new(),
            ready: HashMap::new(),
            deferred: BTreeSet::new(),
            leases: BTreeSet::new(),
            workers: HashMap::new(),
            deleted: HashMap::new(),
            deleted_at: BTreeSet::new(),
        };
        for (mut job, recorded) in s.state.load()? {
            if job.state == JobState::Active as i32 {
                job.state = JobState::Ready as i32;
            }
            s.insert(job, recorded, now);
        }
        for t in s.state.load_deleted()? {
            s.remember_deleted(t);
        }
        Ok(s)
    }

    fn remember_deleted(&mut self, tombstone: Tombstone) {
        self.deleted_at
            .insert((tombstone.at, tombstone.queue_id.clone()));
        self.deleted
            .entry(tombstone.relay.clone())
            .or_default()
            .insert(
                tombstone.queue_id.clone(),
                Pending {
                    tombstone,
                    offered: false,
                },
            );
    }

    fn forget_deleted(&mut self, relay: &str, ids: &[String]) -> Result<(), Error> {
        let Some(pending) = self.deleted.get_mut(relay) else {
            return Ok(());
        };
        let mut gone = Vec::new();
        for id in ids {
            if let Some(p) = pending.remove(id) {
                self.deleted_at.remove(&(p.tombstone.at, id.clone()));
                gone.push(id.as_str());
            }
        }
        if pending.is_empty() {
            self.deleted.remove(relay);
        }
        if !gone.is_empty() {
            self.state.forget_deleted(gone)?;
        }
        Ok(())
    }

    /// The jobs of `relay` an operator deleted whose files it still holds,
    /// after forgetting those it reports `removed`. The flag is true when
    /// one of them was not listed to the relay before: a waiting Lease
    /// returns for it at once.
    pub fn deleted_for(
        &mut self,
        relay: &str,
        removed: &[String],
    ) -> Result<(Vec<DeletedJob>, bool), Error> {
        self.forget_deleted(relay, removed)?;
        let Some(pending) = self.deleted.get_mut(relay) else {
            return Ok((Vec::new(), false));
        };
        let mut news = false;
        let list = pending
            .values_mut()
            .take(DELETED_PER_LEASE)
            .map(|p| {
                news |= !p.offered;
                p.offered = true;
                DeletedJob {
                    queue_id: p.tombstone.queue_id.clone(),
                    channel: p.tombstone.channel.clone(),
                }
            })
            .collect();
        Ok((list, news))
    }

    /// Whether `relay` has deleted jobs it was not told about yet.
    pub fn has_news_for(&self, relay: &str) -> bool {
        self.deleted
            .get(relay)
            .is_some_and(|p| p.values().any(|p| !p.offered))
    }

    /// Forgets deletions older than `config.forget_deleted_after` whose
    /// relay never confirmed them (a relay taken out of service).
    fn expire_deleted(&mut self, now: i64) {
        let keep = self.config.forget_deleted_after.as_secs() as i64;
        let mut old: Vec<(String, String)> = Vec::new();
        for (at, id) in &self.deleted_at {
            if now - at < keep {
                break;
            }
            if let Some(relay) = self
                .deleted
                .iter()
                .find(|(_, p)| p.contains_key(id))
                .map(|(r, _)| r.clone())
            {
                old.push((relay, id.clone()));
            }
        }
        for (relay, id) in old {
            tracing::warn!(queue_id = %id, relay = %relay, "relay never confirmed removing a deleted job's file; forgotten");
            if let Err(e) = self.forget_deleted(&relay, std::slice::from_ref(&id)) {
                tracing::error!(error = %e, "cannot forget a deletion");
            }
        }
    }

    /// Puts a job in the right index for its state.
    fn insert(&mut self, job: Job, recorded: u32, now: i64) {
        let id = job.queue_id.clone();
        match JobState::try_from(job.state).unwrap_or(JobState::Ready) {
            JobState::Held => {}
            JobState::Deferred if job.next_attempt_at > now => {
                self.deferred.insert((job.next_attempt_at, id.clone()));
            }
            _ => {
                self.ready
                    .entry(relay_channel(&job))
                    .or_default()
                    .insert(ReadyKey::of(&job));
            }
        }
        self.jobs.insert(
            id,
            Entry {
                job,
                lease: None,
                recorded,
            },
        );
    }

    /// Removes a job from whichever index holds it.
    fn unindex(&mut self, id: &str) {
        let Some(e) = self.jobs.get(id) else { return };
        if let Some(set) = self.ready.get_mut(&relay_channel(&e.job)) {
            set.remove(&ReadyKey::of(&e.job));
        }
        self.deferred
            .remove(&(e.job.next_attempt_at, id.to_string()));
        if let Some(l) = &e.lease {
            self.leases.remove(&(l.until, id.to_string()));
        }
    }

    /// The number of jobs known.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when no job is queued.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Accepts a new job from a relay. Submitting a queue id twice replaces
    /// the envelope only while the job is not leased (a relay resubmitting
    /// after its own restart); a job an operator deleted is not queued
    /// again.
    pub fn submit(&mut self, mut job: Job, now: i64) -> Result<Submitted, Error> {
        if job.queue_id.is_empty() || job.queue_id.contains('\0') {
            return Err(Error::Invalid("queue_id must be non-empty text".into()));
        }
        if job.channel.is_empty() || job.relay.is_empty() {
            return Err(Error::Invalid("channel and relay are required".into()));
        }
        if job.recipients.is_empty() {
            return Err(Error::Invalid("a job needs at least one recipient".into()));
        }
        if self
            .deleted
            .get(&job.relay)
            .is_some_and(|p| p.contains_key(&job.queue_id))
        {
            return Ok(Submitted::Deleted);
        }
        if let Some(e) = self.jobs.get(&job.queue_id) {
            if let Some(l) = &e.lease {
                return Err(Error::Leased {
                    queue_id: job.queue_id,
                    holder: l.worker.clone(),
                });
            }
            let id = job.queue_id.clone();
            self.unindex(&id);
        }
        if job.queued_at == 0 {
            job.queued_at = now;
        }
        job.state = JobState::Ready as i32;
        job.attempts = 0;
        job.next_attempt_at = now;
        self.state.put_job(&job)?;
        self.insert(job, 0, now);
        Ok(Submitted::Queued)
    }

    /// Moves due deferred jobs to ready and expired leases back to ready;
    /// returns how many jobs became ready. Whoever calls it must wake the
    /// waiting Lease calls when that is not zero: the jobs may be on any
    /// channel, and nobody else will (a tick from a Lease call for another
    /// channel, not noticed, left a due job waiting for the whole of its
    /// workers' Lease wait).
    pub fn tick(&mut self, now: i64) -> u32 {
        let mut ready = 0;
        while let Some((at, id)) = self.deferred.first().cloned() {
            if at > now {
                break;
            }
            self.deferred.remove(&(at, id.clone()));
            if let Some(e) = self.jobs.get_mut(&id) {
                e.job.state = JobState::Ready as i32;
                self.ready
                    .entry(relay_channel(&e.job))
                    .or_default()
                    .insert(ReadyKey::of(&e.job));
                ready += 1;
            }
        }
        while let Some((until, id)) = self.leases.first().cloned() {
            if until > now {
                break;
            }
            self.leases.remove(&(until, id.clone()));
            if let Some(e) = self.jobs.get_mut(&id) {
                if let Some(l) = e.lease.take() {
                    tracing::warn!(queue_id = %id, worker = %l.worker, "lease expired; job offered again");
                    if let Some(w) = self.workers.get_mut(&l.worker) {
                        w.leased = w.leased.saturating_sub(1);
                    }
                }
                e.job.state = JobState::Ready as i32;
                self.ready
                    .entry(relay_channel(&e.job))
                    .or_default()
                    .insert(ReadyKey::of(&e.job));
                ready += 1;
            }
        }
        self.workers.retain(|_, w| now - w.last_seen < WORKER_GONE);
        self.expire_deleted(now);
        ready
    }

    /// Voids every lease held for `relay`'s jobs: the relay's process
    /// restarted, so the workers that held them are gone and would only
    /// give them back when the leases run out (`[delivery] lease`, ten
    /// minutes by default). Returns how many jobs became ready. Leases are
    /// not persisted, so nothing is written.
    pub fn relay_started(&mut self, relay: &str) -> u32 {
        let mut released = 0;
        for (id, e) in self.jobs.iter_mut() {
            if e.job.relay != relay {
                continue;
            }
            let Some(l) = e.lease.take() else {
                continue;
            };
            self.leases.remove(&(l.until, id.clone()));
            e.job.state = JobState::Ready as i32;
            self.ready
                .entry(relay_channel(&e.job))
                .or_default()
                .insert(ReadyKey::of(&e.job));
            released += 1;
        }
        // The old process's workers: the new one registers its own (worker
        // ids may repeat across restarts, so the counts start over).
        self.workers.retain(|_, w| w.relay != relay);
        released
    }

    /// The earliest time at which [`Schedule::tick`] has something to do.
    pub fn next_due(&self) -> Option<i64> {
        let d = self.deferred.first().map(|(t, _)| *t);
        let l = self.leases.first().map(|(t, _)| *t);
        match (d, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The channel of a queued job.
    pub fn channel_of(&self, queue_id: &str) -> Option<String> {
        self.jobs.get(queue_id).map(|e| e.job.channel.clone())
    }

    /// Whether a job of `channel` is ready for some relay: after a report
    /// frees a slot of a channel at its `max_workers`, waiting workers
    /// must be woken to take it.
    pub fn has_ready_on(&self, channel: &str) -> bool {
        self.ready
            .iter()
            .any(|((_, c), set)| c == channel && !set.is_empty())
    }

    fn active_on(&self, channel: &str) -> u32 {
        self.workers
            .values()
            .filter(|w| w.channel == channel)
            .map(|w| w.leased)
            .sum()
    }

    /// Hands up to `max` ready jobs of `relay`/`channel` to `worker`.
    pub fn lease(
        &mut self,
        worker: &str,
        relay: &str,
        channel: &str,
        max: u32,
        lease: Duration,
        now: i64,
    ) -> Vec<Job> {
        let lease_secs = lease.min(self.config.max_lease).as_secs().max(1) as i64;
        let room = self
            .config
            .policy(channel)
            .max_workers
            .saturating_sub(self.active_on(channel));
        let take = max.max(1).min(room) as usize;
        let w = self.workers.entry(worker.to_string()).or_insert(Worker {
            channel: channel.to_string(),
            relay: relay.to_string(),
            leased: 0,
            since: now,
            last_seen: now,
        });
        w.last_seen = now;
        w.channel = channel.to_string();
        w.relay = relay.to_string();
        let mut out = Vec::new();
        let key = (relay.to_string(), channel.to_string());
        while out.len() < take {
            let Some(next) = self.ready.get_mut(&key).and_then(|s| s.pop_first()) else {
                break;
            };
            let Some(e) = self.jobs.get_mut(&next.queue_id) else {
                continue;
            };
            let until = now + lease_secs;
            e.lease = Some(Lease {
                worker: worker.to_string(),
                until,
            });
            e.job.state = JobState::Active as i32;
            self.leases.insert((until, next.queue_id.clone()));
            out.push(e.job.clone());
        }
        if let Some(w) = self.workers.get_mut(worker) {
            if w.leased == 0 && !out.is_empty() {
                w.since = now;
            }
            w.leased += out.len() as u32;
        }
        out
    }

    /// Records a worker's results for one job and decides what happens next.
    pub fn report(
        &mut self,
        worker: &str,
        queue_id: &str,
        results: Vec<RecipientResult>,
        now: i64,
    ) -> Result<ReportResponse, Error> {
        let Some(e) = self.jobs.get(queue_id) else {
            return Err(Error::NotFound(queue_id.to_string()));
        };
        if let Some(l) = &e.lease
            && l.worker != worker
        {
            return Err(Error::Leased {
                queue_id: queue_id.to_string(),
                holder: l.worker.clone(),
            });
        }
        let was_held = e.job.state == JobState::Held as i32;
        self.unindex(queue_id);
        if let Some(w) = self.workers.get_mut(worker) {
            w.last_seen = now;
            if w.leased > 0 {
                w.leased -= 1;
                if w.leased == 0 {
                    w.since = now;
                }
            }
        }
        let Some(e) = self.jobs.get_mut(queue_id) else {
            return Err(Error::NotFound(queue_id.to_string()));
        };
        e.lease = None;
        let policy = Retry::of(&e.job);
        for r in &results {
            let outcome = Outcome::try_from(r.outcome).unwrap_or(Outcome::Retry);
            let ok = matches!(outcome, Outcome::Delivered | Outcome::Failed);
            if ok {
                e.job.recipients.retain(|rc| rc.address != r.address);
            } else if outcome == Outcome::Retry {
                e.job.last_error = r.detail.clone();
            }
        }
        let attempt = Attempt {
            at: now,
            worker_id: worker.to_string(),
            results,
        };
        let mut resp = ReportResponse::default();
        if e.job.recipients.is_empty() {
            self.state.delete_job(queue_id)?;
            self.jobs.remove(queue_id);
            resp.done = true;
            return Ok(resp);
        }
        e.job.attempts += 1;
        let age = Duration::from_secs((now - e.job.queued_at).max(0) as u64);
        if age >= policy.max_lifetime {
            resp.expired = e.job.recipients.iter().map(|r| r.address.clone()).collect();
            self.state.delete_job(queue_id)?;
            self.jobs.remove(queue_id);
            resp.done = true;
            return Ok(resp);
        }
        let notice_due = policy.delay_notice_after.is_some_and(|after| age >= after);
        if notice_due && !e.job.delay_notified {
            e.job.delay_notified = true;
            resp.delay_notice = e.job.recipients.iter().map(|r| r.address.clone()).collect();
        }
        e.job.next_attempt_at = now + policy.backoff(e.job.attempts).as_secs() as i64;
        e.job.state = if was_held {
            JobState::Held as i32
        } else {
            JobState::Deferred as i32
        };
        resp.next_attempt_at = e.job.next_attempt_at;
        let seq = e.recorded;
        e.recorded += 1;
        self.state.put_job_with_attempt(&e.job, seq, &attempt)?;
        let job = e.job.clone();
        if !was_held {
            self.deferred.insert((job.next_attempt_at, job.queue_id));
        }
        Ok(resp)
    }

    /// Jobs matching a channel (empty: all) and state (UNSPECIFIED: all),
    /// oldest first.
    pub fn list(&self, channel: &str, state: JobState, limit: u32) -> Vec<Job> {
        let mut v: Vec<Job> = self
            .jobs
            .values()
            .filter(|e| channel.is_empty() || e.job.channel == channel)
            .filter(|e| state == JobState::Unspecified || e.job.state == state as i32)
            .map(|e| e.job.clone())
            .collect();
        v.sort_by(|a, b| (a.queued_at, &a.queue_id).cmp(&(b.queued_at, &b.queue_id)));
        if limit > 0 {
            v.truncate(limit as usize);
        }
        v
    }

    /// One job and its attempt history.
    pub fn show(&self, queue_id: &str) -> Result<(Job, Vec<Attempt>), Error> {
        let e = self
            .jobs
            .get(queue_id)
            .ok_or_else(|| Error::NotFound(queue_id.to_string()))?;
        Ok((e.job.clone(), self.state.history(queue_id)?))
    }

    /// Stops a job from being offered until released. A leased job finishes
    /// its current attempt and is held afterwards.
    pub fn hold(&mut self, queue_id: &str) -> Result<(), Error> {
        let leased = self
            .jobs
            .get(queue_id)
            .ok_or_else(|| Error::NotFound(queue_id.to_string()))?
            .lease
            .is_some();
        if !leased {
            self.unindex(queue_id);
        }
        let e = self
            .jobs
            .get_mut(queue_id)
            .ok_or_else(|| Error::NotFound(queue_id.to_string()))?;
        e.job.state = JobState::Held as i32;
        self.state.put_job(&e.job)?;
        Ok(())
    }

    /// Makes a held job ready now.
    pub fn release(&mut self, queue_id: &str, now: i64) -> Result<(), Error> {
        self.retry(queue_id, now)
    }

    /// Makes a held or deferred job ready now (a leased job is left alone).
    pub fn retry(&mut self, queue_id: &str, now: i64) -> Result<(), Error> {
        let e = self
            .jobs
            .get(queue_id)
            .ok_or_else(|| Error::NotFound(queue_id.to_string()))?;
        if e.lease.is_some() {
            return Ok(());
        }
        self.unindex(queue_id);
        let e = self
            .jobs
            .get_mut(queue_id)
            .ok_or_else(|| Error::NotFound(queue_id.to_string()))?;
        e.job.state = JobState::Ready as i32;
        e.job.next_attempt_at = now;
        self.state.put_job(&e.job)?;
        let job = e.job.clone();
        self.ready
            .entry(relay_channel(&job))
            .or_default()
            .insert(ReadyKey::of(&job));
        Ok(())
    }

    /// Deletes a job for an operator. The relay that holds its file learns
    /// of it from its next Lease answer (or, should it restart first, from
    /// the answer to its resubmission) and removes the file; the deletion
    /// is kept until the relay confirms. A worker holding the job finishes
    /// its attempt; its report is then refused (not found).
    pub fn delete(&mut self, queue_id: &str, now: i64) -> Result<(), Error> {
        let Some(e) = self.jobs.get(queue_id) else {
            return Err(Error::NotFound(queue_id.to_string()));
        };
        let tombstone = Tombstone {
            queue_id: queue_id.to_string(),
            relay: e.job.relay.clone(),
            channel: e.job.channel.clone(),
            at: now,
        };
        let holder = e.lease.as_ref().map(|l| l.worker.clone());
        self.state.delete_job_by_operator(&tombstone)?;
        self.unindex(queue_id);
        self.jobs.remove(queue_id);
        // The lease counted against the channel's max_workers; its report
        // will be refused, so give the slot back now.
        if let Some(w) = holder.and_then(|h| self.workers.get_mut(&h)) {
            w.leased = w.leased.saturating_sub(1);
            if w.leased == 0 {
                w.since = now;
            }
        }
        self.remember_deleted(tombstone);
        Ok(())
    }

    /// The oldest `queued_at` per channel among jobs that are not held
    /// (an operator's hold is deliberate; mail stuck otherwise is what an
    /// alert on queue age is for).
    pub fn oldest_queued(&self) -> std::collections::BTreeMap<String, i64> {
        let mut by = std::collections::BTreeMap::new();
        for e in self.jobs.values() {
            if e.job.state == JobState::Held as i32 {
                continue;
            }
            let at = by.entry(e.job.channel.clone()).or_insert(e.job.queued_at);
            *at = (*at).min(e.job.queued_at);
        }
        by
    }

    /// Per-channel counts and the worker table.
    pub fn stats(&self) -> (Vec<ChannelStats>, Vec<WorkerInfo>) {
        let mut by: std::collections::BTreeMap<String, ChannelStats> = Default::default();
        for e in self.jobs.values() {
            let c = by
                .entry(e.job.channel.clone())
                .or_insert_with(|| ChannelStats {
                    channel: e.job.channel.clone(),
                    ..Default::default()
                });
            match JobState::try_from(e.job.state).unwrap_or(JobState::Ready) {
                JobState::Active => c.active += 1,
                JobState::Deferred => c.deferred += 1,
                JobState::Held => c.held += 1,
                _ => c.ready += 1,
            }
        }
        let mut workers: Vec<WorkerInfo> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerInfo {
                worker_id: id.clone(),
                channel: w.channel.clone(),
                relay: w.relay.clone(),
                busy: w.leased > 0,
                since: w.since,
                leased: w.leased,
            })
            .collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        for w in &workers {
            let c = by.entry(w.channel.clone()).or_insert_with(|| ChannelStats {
                channel: w.channel.clone(),
                ..Default::default()
            });
            if w.busy {
                c.workers_busy += 1;
            } else {
                c.workers_idle += 1;
            }
        }
        (by.into_values().collect(), workers)
    }
}
