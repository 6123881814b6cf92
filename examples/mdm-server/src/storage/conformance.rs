//! The storage test suite, public so that a third backend can run it (feature
//! `storage-conformance`): every rule the server relies on, through the role traits only.
//!
//! ```no_run
//! # async fn demo() {
//! use mdm_server::storage::{self, conformance};
//! let open: conformance::Opener = Box::new(|| {
//!     Box::pin(async { storage::open("sqlite:/tmp/suite.sqlite").await.unwrap() })
//! });
//! conformance::run_suite(open).await;
//! # }
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test suite: a failed check panics, naming what the backend got wrong"
)]
#![allow(
    clippy::field_reassign_with_default,
    reason = "filters are built as a caller outside the crate must (they are non_exhaustive)"
)]

use crate::queue::{self, Policy};
use crate::storage::{
    self, BadReport, BindOutcome, EnrollmentFilter, EnrollmentKey, EnrollmentToken, NewCommand,
    PushCert, PushInfo, Rebinding, Refusal, ReportOutcome, Storage, StorageError,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Opens a handle on the store under test.
pub type Opener = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Storage>>>>>;

const NOW: i64 = 1_700_000_000;

fn key(id: &str) -> EnrollmentKey {
    let device = id.split(':').next().unwrap();
    let kind = if id.contains(':') { "User" } else { "Device" };
    let mut k = EnrollmentKey::new(id, device, kind);
    k.udid = Some(device.to_owned());
    k
}

fn cmd(uuid: &str) -> NewCommand {
    NewCommand::new(
        uuid,
        "DeviceInformation",
        format!("<plist>{uuid}</plist>").into_bytes(),
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn next(s: &dyn Storage, id: &str, idle: bool) -> Option<String> {
    next_at(s, id, idle, NOW).await
}

async fn next_at(s: &dyn Storage, id: &str, idle: bool, now: i64) -> Option<String> {
    let _ = idle; // Idle or not, the rules are the same (in-flight commands are re-sent).
    queue::next(s, id, now, &Policy::default())
        .await
        .unwrap()
        .map(|c| c.uuid)
}

/// A `NotNow` answer as the service records it: the report, then the back-off.
async fn not_now_at(s: &dyn Storage, id: &str, uuid: &str, now: i64) -> Option<i64> {
    assert_eq!(
        s.record_report(id, uuid, "NotNow", b"nn", now)
            .await
            .unwrap(),
        ReportOutcome::Recorded
    );
    queue::not_now(s, id, uuid, now, &Policy::default())
        .await
        .unwrap()
}

async fn enrollment_lifecycle(s: &dyn Storage) {
    let id = unique("DEV");
    let k = key(&id);
    assert!(s.enrollment(&id).await.unwrap().is_none());
    s.authenticate(&k, b"auth", NOW).await.unwrap();
    let e = s.enrollment(&id).await.unwrap().unwrap();
    assert!(!e.enrolled);
    assert_eq!(e.authenticate.as_deref(), Some(&b"auth"[..]));
    assert_eq!(e.key.device_id, id);
    assert!(e.push.is_none());

    let push = PushInfo::new(vec![1, 2, 3], "MAGIC", "com.apple.mgmt.External.x");
    assert!(
        s.token_update(&k, &push, Some(b"unlock"), b"tu", NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !s.token_update(&k, &push, None, b"tu2", NOW + 2)
            .await
            .unwrap()
    );
    let e = s.enrollment(&id).await.unwrap().unwrap();
    assert!(e.enrolled);
    assert_eq!(e.push.as_ref(), Some(&push));
    assert_eq!(
        e.unlock_token.as_deref(),
        Some(&b"unlock"[..]),
        "kept when not resent"
    );
    assert_eq!(e.token_update.as_deref(), Some(&b"tu2"[..]));
    assert_eq!(e.enrolled_at, Some(NOW + 1));
    assert_eq!(e.last_seen_at, NOW + 2);

    s.set_bootstrap_token(&id, Some(b"bst"), NOW + 3)
        .await
        .unwrap();
    let e = s.enrollment(&id).await.unwrap().unwrap();
    assert_eq!(e.bootstrap_token.as_deref(), Some(&b"bst"[..]));
    s.set_bootstrap_token(&id, None, NOW + 3).await.unwrap();
    assert!(
        s.enrollment(&id)
            .await
            .unwrap()
            .unwrap()
            .bootstrap_token
            .is_none()
    );

    // last_seen_at moves in steps of TOUCH_GRANULARITY, sparing a write per message.
    let step = storage::TOUCH_GRANULARITY;
    assert!(s.touch(&id, NOW + 4).await.unwrap());
    assert_eq!(
        s.enrollment(&id).await.unwrap().unwrap().last_seen_at,
        NOW + 3
    );
    assert!(s.touch(&id, NOW + 3 + step).await.unwrap());
    assert_eq!(
        s.enrollment(&id).await.unwrap().unwrap().last_seen_at,
        NOW + 3 + step
    );
    assert!(!s.touch("no-such-enrollment", NOW).await.unwrap());

    s.check_out(&id, NOW + 5).await.unwrap();
    let e = s.enrollment(&id).await.unwrap().unwrap();
    assert!(!e.enrolled);
    assert_eq!(e.checked_out_at, Some(NOW + 5));
    // Re-enrollment: Authenticate then TokenUpdate enrolls again.
    s.authenticate(&k, b"auth2", NOW + 6).await.unwrap();
    assert!(
        s.token_update(&k, &push, None, b"tu3", NOW + 7)
            .await
            .unwrap()
    );
    let e = s.enrollment(&id).await.unwrap().unwrap();
    assert!(e.enrolled);
    assert_eq!(e.checked_out_at, None);
    assert_eq!(e.created_at, NOW);

    // A user channel starts with TokenUpdate.
    let user = format!("{id}:USER1");
    assert!(
        s.token_update(&key(&user), &push, None, b"u", NOW)
            .await
            .unwrap()
    );
    assert_eq!(s.enrollment(&user).await.unwrap().unwrap().key.kind, "User");
}

async fn listing_and_paging(s: &dyn Storage) {
    let device = unique("LIST");
    let ids: Vec<String> = vec![
        device.clone(),
        format!("{device}:a"),
        format!("{device}:b"),
        format!("{device}:c"),
    ];
    let push = PushInfo::new(vec![9], "M", "T");
    for id in &ids {
        s.authenticate(&key(id), b"a", NOW).await.unwrap();
    }
    s.token_update(&key(&ids[1]), &push, None, b"t", NOW)
        .await
        .unwrap();

    let mut filter = EnrollmentFilter::default();
    filter.device_id = Some(device.clone());
    filter.limit = 100;
    let all = s.list_enrollments(&filter).await.unwrap();
    let got: Vec<_> = all.iter().map(|e| e.key.id.clone()).collect();
    assert_eq!(got, ids, "sorted by ID");

    filter.limit = 2;
    let page1 = s.list_enrollments(&filter).await.unwrap();
    assert_eq!(page1.len(), 2);
    filter.after = Some(page1[1].key.id.clone());
    let page2 = s.list_enrollments(&filter).await.unwrap();
    assert_eq!(page2.len(), 2);
    assert_eq!(page2[0].key.id, ids[2]);

    let mut f = EnrollmentFilter::default();
    f.device_id = Some(device.clone());
    f.enrolled = Some(true);
    f.limit = 100;
    let enrolled = s.list_enrollments(&f).await.unwrap();
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0].key.id, ids[1]);
    f.enrolled = None;
    f.kind = Some("Device".into());
    assert_eq!(s.list_enrollments(&f).await.unwrap().len(), 1);

    // The facts of a device's channels: the same enrollments as listing them.
    let channels = s.channel_facts(&device, 100).await.unwrap();
    let got: Vec<_> = channels.iter().map(|(k, _)| k.id.clone()).collect();
    assert_eq!(got, ids, "sorted by ID, checked out or not");
    assert_eq!(channels[1].0, key(&ids[1]));
    assert!(channels.iter().all(|(_, facts)| facts.is_none()));
    assert_eq!(s.channel_facts(&device, 2).await.unwrap().len(), 2);
    assert!(s.channel_facts("nobody", 10).await.unwrap().is_empty());
}

async fn fifo_and_reports(s: &dyn Storage) {
    let (e1, e2) = (unique("Q1"), unique("Q2"));
    let (a, b) = (unique("A"), unique("B"));
    s.enqueue(&cmd(&a), &[e1.clone(), e2.clone()], NOW)
        .await
        .unwrap();
    s.enqueue(&cmd(&b), std::slice::from_ref(&e1), NOW)
        .await
        .unwrap();

    let first = queue::next(s, &e1, NOW, &Policy::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.uuid, a);
    assert_eq!(first.request_type, "DeviceInformation");
    assert_eq!(first.body, format!("<plist>{a}</plist>").into_bytes());
    // Not answered yet (in flight): sent again.
    assert_eq!(next(s, &e1, false).await.as_deref(), Some(a.as_str()));
    assert_eq!(
        s.record_report(&e1, &a, "Acknowledged", b"ack", NOW)
            .await
            .unwrap(),
        ReportOutcome::Recorded
    );
    assert_eq!(next(s, &e1, true).await.as_deref(), Some(b.as_str()));
    // e2's copy is independent.
    assert_eq!(next(s, &e2, true).await.as_deref(), Some(a.as_str()));

    // Repeated reports change nothing.
    assert_eq!(
        s.record_report(&e1, &a, "Error", b"late", NOW)
            .await
            .unwrap(),
        ReportOutcome::Repeated
    );
    let rec = s.command(&a, NOW).await.unwrap().unwrap();
    let t1 = rec.targets.iter().find(|t| t.enrollment_id == e1).unwrap();
    assert_eq!(t1.status, "Acknowledged");
    assert_eq!(t1.report.as_deref(), Some(&b"ack"[..]));
    assert_eq!(t1.sent_at, Some(NOW));
    let t2 = rec.targets.iter().find(|t| t.enrollment_id == e2).unwrap();
    assert_eq!(t2.status, "Queued");
    assert_eq!(rec.targets.len(), 2);

    // Unknown command.
    assert_eq!(
        s.record_report(&e1, "nope", "Acknowledged", b"x", NOW)
            .await
            .unwrap(),
        ReportOutcome::UnknownCommand
    );
    // Error and CommandFormatError are final.
    s.record_report(&e1, &b, "Error", b"err", NOW)
        .await
        .unwrap();
    assert_eq!(next(s, &e1, true).await, None);
    s.record_report(&e2, &a, "CommandFormatError", b"cfe", NOW)
        .await
        .unwrap();
    assert_eq!(next(s, &e2, true).await, None);
    assert_eq!(
        s.command(&a, NOW).await.unwrap().unwrap().targets[1].status,
        if e1 < e2 {
            "CommandFormatError"
        } else {
            "Acknowledged"
        }
    );

    // Duplicate command UUID.
    assert!(matches!(
        s.enqueue(&cmd(&a), std::slice::from_ref(&e1), NOW).await,
        Err(StorageError::DuplicateCommand(u)) if u == a
    ));
    assert!(s.command("missing", NOW).await.unwrap().is_none());
}

async fn not_now_does_not_starve_or_loop(s: &dyn Storage) {
    let backoff = Policy::default().not_now_backoff;
    let e = unique("NN");
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("C{i}"))).collect();
    for id in &ids {
        s.enqueue(&cmd(id), std::slice::from_ref(&e), NOW)
            .await
            .unwrap();
    }
    // Idle → first command; NotNow → the next one, never the NotNow'd one again.
    assert_eq!(next(s, &e, true).await.as_ref(), Some(&ids[0]));
    assert_eq!(not_now_at(s, &e, &ids[0], NOW).await, Some(NOW + backoff));
    assert_eq!(next(s, &e, false).await.as_ref(), Some(&ids[1]));
    not_now_at(s, &e, &ids[1], NOW).await;
    assert_eq!(next(s, &e, false).await.as_ref(), Some(&ids[2]));
    s.record_report(&e, &ids[2], "Acknowledged", b"ok", NOW)
        .await
        .unwrap();
    assert_eq!(next(s, &e, false).await, None, "the session ends: no loop");
    assert_eq!(
        next(s, &e, true).await,
        None,
        "backed off: not even on Idle"
    );
    let q = s.queue(&e, NOW, 100).await.unwrap();
    assert_eq!(q.len(), 2);
    assert!(
        q.iter()
            .all(|q| q.status == "NotNow" && q.not_now_count == 1)
    );
    // A command queued during the back-off goes before them (they moved behind).
    let late = unique("LATE");
    s.enqueue(&cmd(&late), std::slice::from_ref(&e), NOW + 1)
        .await
        .unwrap();
    let after = NOW + backoff;
    assert_eq!(next_at(s, &e, true, after).await, Some(late.clone()));
    s.record_report(&e, &late, "Acknowledged", b"ok", after)
        .await
        .unwrap();
    // Then the NotNow'd ones, in their order; a second NotNow doubles the back-off.
    assert_eq!(next_at(s, &e, false, after).await.as_ref(), Some(&ids[0]));
    assert_eq!(
        not_now_at(s, &e, &ids[0], after).await,
        Some(after + 2 * backoff)
    );
    assert_eq!(next_at(s, &e, false, after).await.as_ref(), Some(&ids[1]));
    s.record_report(&e, &ids[1], "Acknowledged", b"ok", after)
        .await
        .unwrap();
    assert_eq!(next_at(s, &e, true, after + 2 * backoff - 1).await, None);
    assert_eq!(
        next_at(s, &e, true, after + 2 * backoff).await.as_ref(),
        Some(&ids[0])
    );
    s.record_report(&e, &ids[0], "Acknowledged", b"ok", after)
        .await
        .unwrap();
    assert_eq!(next_at(s, &e, true, after + 3 * backoff).await, None);
    assert!(s.queue(&e, NOW, 100).await.unwrap().is_empty());
}

/// The primitives of the queue contract: priority order, idempotency keys, in-flight
/// targets (re-queued, listed as stalled), cancelling one target.
async fn queue_primitives(s: &dyn Storage) {
    let e = unique("PR");
    let (low, high, mid) = (unique("LOW"), unique("HIGH"), unique("MID"));
    for (uuid, priority) in [(&low, -1), (&high, 10), (&mid, 0)] {
        let mut c = cmd(uuid);
        c.priority = priority;
        s.enqueue(&c, std::slice::from_ref(&e), NOW).await.unwrap();
    }
    let order: Vec<_> = s
        .queue(&e, NOW, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.uuid)
        .collect();
    assert_eq!(order, [high.clone(), mid.clone(), low.clone()]);
    assert_eq!(s.queue(&e, NOW, 1).await.unwrap().len(), 1);
    assert_eq!(s.command(&high, NOW).await.unwrap().unwrap().priority, 10);

    // Idempotency keys are unique; the command is found by its key.
    let key = unique("KEY");
    let mut k1 = cmd(&unique("K1"));
    k1.idempotency_key = Some(key.clone());
    s.enqueue(&k1, std::slice::from_ref(&e), NOW).await.unwrap();
    let mut k2 = cmd(&unique("K2"));
    k2.idempotency_key = Some(key.clone());
    assert!(matches!(
        s.enqueue(&k2, std::slice::from_ref(&e), NOW).await,
        Err(StorageError::DuplicateIdempotencyKey(k)) if k == key
    ));
    assert_eq!(
        s.command_for_key(&key).await.unwrap(),
        Some(k1.uuid.clone())
    );
    assert!(
        s.command(&k2.uuid, NOW).await.unwrap().is_none(),
        "nothing stored"
    );
    assert_eq!(s.command_for_key("no-such-key").await.unwrap(), None);
    assert_eq!(s.cancel_target(&e, &k1.uuid, NOW).await.unwrap(), 1);
    assert_eq!(s.cancel_target(&e, &k1.uuid, NOW).await.unwrap(), 0);

    // take: first_sent_at stays at the first send; in flight since then.
    let taken = s.take(&e, &high, NOW).await.unwrap().unwrap();
    assert_eq!(taken.uuid, high);
    s.take(&e, &high, NOW + 5).await.unwrap().unwrap();
    let t = s.waiting_target(&e, &high).await.unwrap().unwrap();
    assert_eq!((t.first_sent_at, t.sent_at), (Some(NOW), Some(NOW + 5)));
    let stalled = s.in_flight_since(NOW, 100).await.unwrap();
    assert!(
        stalled
            .iter()
            .any(|f| f.uuid == high && f.enrollment_id == e)
    );
    assert!(
        !s.in_flight_since(NOW - 1, 100)
            .await
            .unwrap()
            .iter()
            .any(|f| f.uuid == high)
    );
    // requeue: no longer in flight, ready now.
    assert_eq!(s.requeue(&high, Some(&e), NOW + 10).await.unwrap(), 1);
    assert_eq!(s.requeue(&high, None, NOW + 10).await.unwrap(), 0);
    let t = s.waiting_target(&e, &high).await.unwrap().unwrap();
    assert_eq!((t.first_sent_at, t.ready_at), (None, NOW + 10));
    // An answered target is not taken, deferred or listed.
    s.record_report(&e, &high, "Acknowledged", b"ok", NOW)
        .await
        .unwrap();
    assert!(s.take(&e, &high, NOW).await.unwrap().is_none());
    assert!(!s.defer(&e, &high, NOW).await.unwrap());
    assert!(s.waiting_target(&e, &high).await.unwrap().is_none());
    // An expired command is not taken.
    let mut old = cmd(&unique("OLD"));
    old.expires_at = Some(NOW + 1);
    s.enqueue(&old, std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    assert!(s.take(&e, &old.uuid, NOW + 1).await.unwrap().is_none());
    assert!(s.take(&e, &old.uuid, NOW).await.unwrap().is_some());
}

/// `take_next`: the head read in queue order, the chosen target handed over (as `take`),
/// the count of targets read, nothing taken when nothing is chosen.
async fn take_next_primitive(s: &dyn Storage) {
    let e = unique("TN");
    let uuids: Vec<_> = (0..3).map(|i| unique(&format!("TN{i}"))).collect();
    for u in &uuids {
        s.enqueue(&cmd(u), std::slice::from_ref(&e), NOW)
            .await
            .unwrap();
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let chooser: storage::Chooser = Box::new(move |entries| {
        log.lock()
            .unwrap()
            .push(entries.iter().map(|q| q.uuid.clone()).collect::<Vec<_>>());
        None
    });
    let none = s.take_next(&e, NOW, 2, chooser).await.unwrap();
    assert_eq!((none.command, none.read), (None, 2));
    assert_eq!(
        *seen.lock().unwrap(),
        [uuids[..2].to_vec()],
        "the head, in order"
    );
    assert!(
        s.waiting_target(&e, &uuids[0])
            .await
            .unwrap()
            .unwrap()
            .sent_at
            .is_none()
    );

    // The chosen one (the second) is handed over: sent, in flight, its body returned.
    let second = s
        .take_next(&e, NOW + 1, 100, Box::new(|_| Some(1)))
        .await
        .unwrap();
    assert_eq!(second.read, 3);
    let command = second.command.unwrap();
    assert_eq!(command.uuid, uuids[1]);
    assert_eq!(command.request_type, "DeviceInformation");
    assert_eq!(
        command.body,
        format!("<plist>{}</plist>", uuids[1]).into_bytes()
    );
    let t = s.waiting_target(&e, &uuids[1]).await.unwrap().unwrap();
    assert_eq!((t.first_sent_at, t.sent_at), (Some(NOW + 1), Some(NOW + 1)));
    // Taken again later: first_sent_at stays.
    s.take_next(&e, NOW + 2, 100, Box::new(|_| Some(1)))
        .await
        .unwrap()
        .command
        .unwrap();
    let t = s.waiting_target(&e, &uuids[1]).await.unwrap().unwrap();
    assert_eq!((t.first_sent_at, t.sent_at), (Some(NOW + 1), Some(NOW + 2)));
    // A choice past the end takes nothing; answered targets are not read.
    let past = s
        .take_next(&e, NOW, 100, Box::new(|_| Some(7)))
        .await
        .unwrap();
    assert_eq!((past.command, past.read), (None, 3));
    for u in &uuids {
        s.record_report(&e, u, "Acknowledged", b"ok", NOW)
            .await
            .unwrap();
    }
    let empty = s
        .take_next(&e, NOW, 100, Box::new(|_| Some(0)))
        .await
        .unwrap();
    assert_eq!((empty.command, empty.read), (None, 0));

    // record_report_and_take_next: the report recorded, then the next one handed over.
    let (a, b) = (unique("RA"), unique("RB"));
    for u in [&a, &b] {
        s.enqueue(&cmd(u), std::slice::from_ref(&e), NOW)
            .await
            .unwrap();
    }
    let (outcome, next) = s
        .record_report_and_take_next(&e, &a, "Acknowledged", b"ack", NOW, &[], 8, {
            Box::new(|entries| entries.iter().position(|q| q.sent_at.is_none()))
        })
        .await
        .unwrap();
    assert_eq!((outcome, next.read), (ReportOutcome::Recorded, 1));
    assert_eq!(next.command.unwrap().uuid, b);
    let rec = s.command(&a, NOW).await.unwrap().unwrap();
    assert_eq!(rec.targets[0].status, "Acknowledged");
    assert_eq!(rec.targets[0].report.as_deref(), Some(&b"ack"[..]));
    let (outcome, next) = s
        .record_report_and_take_next(&e, &a, "Error", b"late", NOW, &[], 8, Box::new(|_| None))
        .await
        .unwrap();
    assert_eq!((outcome, next.command), (ReportOutcome::Repeated, None));
}

async fn expiry_and_cancel(s: &dyn Storage) {
    let e = unique("EX");
    let (x, y, z) = (unique("X"), unique("Y"), unique("Z"));
    let mut expiring = cmd(&x);
    expiring.expires_at = Some(NOW + 10);
    s.enqueue(&expiring, std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    s.enqueue(&cmd(&y), std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    s.enqueue(&cmd(&z), std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    assert_eq!(s.queue(&e, NOW, 100).await.unwrap().len(), 3);
    // Past its expiry, X is skipped and shown as expired.
    let later = NOW + 20;
    assert_eq!(next_at(s, &e, true, later).await, Some(y.clone()));
    let rec = s.command(&x, later).await.unwrap().unwrap();
    assert_eq!(rec.targets[0].status, "Expired");
    assert_eq!(rec.expires_at, Some(NOW + 10));
    assert_eq!(s.queue(&e, later, 100).await.unwrap().len(), 2);

    // Cancel one command, then the whole queue.
    assert_eq!(s.cancel_command(&y, NOW).await.unwrap(), 1);
    assert_eq!(next(s, &e, true).await.as_ref(), Some(&x));
    assert_eq!(s.clear_queue(&e, NOW).await.unwrap(), 2);
    assert_eq!(next(s, &e, true).await, None);
    assert_eq!(s.clear_queue(&e, NOW).await.unwrap(), 0);
    assert_eq!(
        s.command(&z, NOW).await.unwrap().unwrap().targets[0].status,
        "Cancelled"
    );
    // A NotNow on a cancelled command does not bring it back...
    assert_eq!(
        s.record_report(&e, &z, "NotNow", b"nn", NOW).await.unwrap(),
        ReportOutcome::Repeated
    );
    assert_eq!(next(s, &e, true).await, None);
    // ...but a real answer (it was already sent) is recorded.
    assert_eq!(
        s.record_report(&e, &z, "Acknowledged", b"ok", NOW)
            .await
            .unwrap(),
        ReportOutcome::Recorded
    );
    assert_eq!(
        s.command(&z, NOW).await.unwrap().unwrap().targets[0].status,
        "Acknowledged"
    );
}

async fn bad_reports_and_push_certs(s: &dyn Storage) {
    let marker = unique("BAD");
    let bad = BadReport::new(
        Some(marker.clone()),
        None,
        "not a plist",
        b"garbage".to_vec(),
        NOW,
    );
    s.record_bad_report(&bad).await.unwrap();
    let found = s.bad_reports(1000).await.unwrap();
    assert!(found.contains(&bad));

    let topic = unique("com.apple.mgmt.External");
    assert!(s.push_cert(&topic).await.unwrap().is_none());
    s.store_push_cert(&PushCert::new(&topic, "CERT1", "KEY1"), NOW)
        .await
        .unwrap();
    s.store_push_cert(&PushCert::new(&topic, "CERT2", "KEY2"), NOW + 1)
        .await
        .unwrap();
    let c = s.push_cert(&topic).await.unwrap().unwrap();
    assert_eq!((c.cert_pem.as_str(), c.key_pem.as_str()), ("CERT2", "KEY2"));
    assert_eq!(c.updated_at, NOW + 1);
}

async fn bindings_renewals_and_declarations(s: &dyn Storage) {
    // The newest push certificate (the profile's topic).
    let topic = unique("com.apple.mgmt.External.latest");
    s.store_push_cert(&PushCert::new(&topic, "C", "K"), NOW + 10_000)
        .await
        .unwrap();
    assert_eq!(s.latest_push_cert().await.unwrap().unwrap().topic, topic);

    // Certificate bindings per device, replaced on rebind.
    let device = unique("BOUND");
    assert_eq!(s.cert_binding(&device).await.unwrap(), None);
    let fp1 = unique("fp-1");
    let fp2 = unique("fp-2");
    let bind = |previous: Option<&str>, fp: &str, reason: &str| {
        Rebinding::new(&device, previous.map(str::to_owned), fp, reason)
    };
    assert_eq!(
        s.rebind_cert(&bind(None, &fp1, "new enrollment"), NOW)
            .await
            .unwrap(),
        BindOutcome::Bound
    );
    // Only from the binding the caller saw.
    assert_eq!(
        s.rebind_cert(&bind(None, &fp2, "stale"), NOW)
            .await
            .unwrap(),
        BindOutcome::Changed
    );
    let mut renewal = bind(Some(&fp1), &fp2, "renewal");
    renewal.token_id = Some("tok".into());
    assert_eq!(
        s.rebind_cert(&renewal, NOW + 1).await.unwrap(),
        BindOutcome::Bound
    );
    assert_eq!(
        s.cert_binding(&device).await.unwrap().as_deref(),
        Some(fp2.as_str())
    );
    assert_eq!(
        s.cert_owner(&fp2).await.unwrap().as_deref(),
        Some(device.as_str())
    );
    assert_eq!(s.cert_owner(&fp1).await.unwrap(), None);
    // touch_if_bound: the binding, and the touch only when it is the one presented.
    s.authenticate(&key(&device), b"auth", NOW).await.unwrap();
    let later = NOW + 2 * storage::TOUCH_GRANULARITY;
    assert_eq!(
        s.touch_if_bound(&device, &device, &fp1, later)
            .await
            .unwrap(),
        (Some(fp2.clone()), None)
    );
    assert_eq!(
        s.enrollment(&device).await.unwrap().unwrap().last_seen_at,
        NOW,
        "not touched with another certificate"
    );
    assert_eq!(
        s.touch_if_bound(&device, &device, &fp2, later)
            .await
            .unwrap(),
        (Some(fp2.clone()), Some(true))
    );
    assert_eq!(
        s.enrollment(&device).await.unwrap().unwrap().last_seen_at,
        later
    );
    let user = format!("{device}:user");
    assert_eq!(
        s.touch_if_bound(&user, &device, &fp2, later).await.unwrap(),
        (Some(fp2.clone()), Some(false)),
        "bound, but no such enrollment"
    );
    assert_eq!(
        s.touch_if_bound(&device, &unique("UNBOUND"), &fp2, later)
            .await
            .unwrap(),
        (None, None)
    );
    // A certificate bound to one device is never bound to another.
    let other = unique("OTHER");
    assert_eq!(
        s.rebind_cert(&Rebinding::new(&other, None, &fp2, "takeover"), NOW + 2)
            .await
            .unwrap(),
        BindOutcome::TakenBy(device.clone())
    );
    assert_eq!(s.cert_binding(&other).await.unwrap(), None);
    // The history, oldest first.
    let history = s.binding_history(&device).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].old_fingerprint, None);
    assert_eq!(history[0].new_fingerprint, fp1);
    assert_eq!(history[0].reason, "new enrollment");
    assert_eq!(history[1].old_fingerprint.as_deref(), Some(fp1.as_str()));
    assert_eq!(history[1].new_fingerprint, fp2);
    assert_eq!(history[1].token_id.as_deref(), Some("tok"));
    assert_eq!(history[1].at, NOW + 1);
    assert!(s.binding_history(&other).await.unwrap().is_empty());
    assert!(s.cert_was_bound(&fp1).await.unwrap());
    assert!(s.cert_was_bound(&fp2).await.unwrap());
    assert!(!s.cert_was_bound(&unique("fp-never")).await.unwrap());

    // Renewals: new -> old; a repeat changes nothing.
    let new = unique("fp-new");
    assert_eq!(s.renewed_from(&new).await.unwrap(), None);
    s.record_renewal("fp-2", &new, NOW).await.unwrap();
    s.record_renewal("fp-other", &new, NOW).await.unwrap();
    assert_eq!(s.renewed_from(&new).await.unwrap().as_deref(), Some("fp-2"));

    // Declarations per enrollment, in identifier order; the DDM status.
    let e = unique("DDM");
    assert!(s.declarations(&e).await.unwrap().is_empty());
    s.put_declaration(&e, "b", b"{\"v\":1}", NOW).await.unwrap();
    s.put_declaration(&e, "a", b"{}", NOW).await.unwrap();
    s.put_declaration(&e, "b", b"{\"v\":2}", NOW).await.unwrap();
    let all = s.declarations(&e).await.unwrap();
    assert_eq!(
        all,
        vec![
            ("a".to_owned(), b"{}".to_vec()),
            ("b".to_owned(), b"{\"v\":2}".to_vec())
        ]
    );
    assert!(s.delete_declaration(&e, "a").await.unwrap());
    assert!(!s.delete_declaration(&e, "a").await.unwrap());
    assert_eq!(s.declarations(&e).await.unwrap().len(), 1);
    assert_eq!(s.ddm_status(&e).await.unwrap(), None);
    s.set_ddm_status(&e, b"{\"x\":1}", NOW).await.unwrap();
    s.set_ddm_status(&e, b"{\"x\":2}", NOW).await.unwrap();
    assert_eq!(
        s.ddm_status(&e).await.unwrap().as_deref(),
        Some(&b"{\"x\":2}"[..])
    );
}

async fn tokens_and_challenges(s: &dyn Storage) {
    let secret = unique("secret");
    let mut token = EnrollmentToken::new(unique("tok"), &secret, 2, NOW + 100, NOW);
    token.device = Some("SERIAL-1".into());
    token.may_reenroll = Some("UDID-1".into());
    s.create_enrollment_token(&token).await.unwrap();
    let listed = s.enrollment_tokens(1000).await.unwrap();
    assert!(listed.contains(&token), "{listed:?}");

    // Each profile takes a use and stores a challenge; then the token is used up.
    let (c1, c2, c3) = (unique("ch"), unique("ch"), unique("ch"));
    let t = s
        .take_enrollment_token(&secret, &c1, NOW + 50, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.id.as_str(), t.uses), (token.id.as_str(), 1));
    s.take_enrollment_token(&secret, &c2, NOW + 50, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.take_enrollment_token(&secret, &c3, NOW + 50, NOW)
            .await
            .unwrap(),
        Err(Refusal::UsedUp)
    );
    assert_eq!(
        s.take_enrollment_token("nope", &c3, NOW + 50, NOW)
            .await
            .unwrap(),
        Err(Refusal::Unknown)
    );
    // The refused ones stored no challenge.
    assert_eq!(
        s.consume_challenge(&c3, "fp-x", NOW).await.unwrap(),
        Err(Refusal::Unknown)
    );

    // A challenge is consumed once, and the certificate remembers its token.
    let fp = unique("fp-issued");
    assert_eq!(s.issued_token(&fp).await.unwrap(), None);
    let used = s
        .consume_challenge(&c1, &fp, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.id, token.id);
    assert_eq!(
        s.consume_challenge(&c1, "fp-again", NOW + 2).await.unwrap(),
        Err(Refusal::UsedUp)
    );
    let issued = s.issued_token(&fp).await.unwrap().unwrap();
    assert_eq!(issued.id, token.id);
    assert_eq!(issued.device.as_deref(), Some("SERIAL-1"));
    assert_eq!(issued.may_reenroll.as_deref(), Some("UDID-1"));
    assert_eq!(s.issued_token("fp-again").await.unwrap(), None);
    // Expired challenges are refused.
    assert_eq!(
        s.consume_challenge(&c2, "fp-late", NOW + 50).await.unwrap(),
        Err(Refusal::Expired)
    );

    // Expiry and revocation.
    let secret2 = unique("secret");
    let token2 = EnrollmentToken::new(unique("tok"), &secret2, 5, NOW + 10, NOW);
    s.create_enrollment_token(&token2).await.unwrap();
    assert_eq!(
        s.take_enrollment_token(&secret2, &unique("ch"), NOW + 50, NOW + 10)
            .await
            .unwrap(),
        Err(Refusal::Expired)
    );
    let c4 = unique("ch");
    s.take_enrollment_token(&secret2, &c4, NOW + 50, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.revoke_enrollment_token(&token2.id, NOW + 1)
            .await
            .unwrap()
    );
    assert!(!s.revoke_enrollment_token("no-such", NOW + 1).await.unwrap());
    assert_eq!(
        s.take_enrollment_token(&secret2, &unique("ch"), NOW + 50, NOW + 2)
            .await
            .unwrap(),
        Err(Refusal::Revoked)
    );
    assert_eq!(
        s.consume_challenge(&c4, "fp-revoked", NOW + 2)
            .await
            .unwrap(),
        Err(Refusal::Revoked)
    );
    let listed = s.enrollment_tokens(1000).await.unwrap();
    let t2 = listed.iter().find(|t| t.id == token2.id).unwrap();
    assert_eq!((t2.uses, t2.revoked_at), (1, Some(NOW + 1)));
}

/// State written through one instance is seen by another (a restart, or a second server).
async fn shared_between_instances(open: &Opener) {
    let s1 = open().await;
    let e = unique("SHARED");
    let c = unique("CMD");
    s1.authenticate(&key(&e), b"a", NOW).await.unwrap();
    s1.enqueue(&cmd(&c), std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    let s2 = open().await;
    assert!(s2.enrollment(&e).await.unwrap().is_some());
    assert_eq!(next(&*s2, &e, true).await, Some(c.clone()));
    s2.record_report(&e, &c, "Acknowledged", b"ok", NOW)
        .await
        .unwrap();
    assert_eq!(next(&*s1, &e, true).await, None);
}

/// Retention: finished and expired commands and old bad reports go; anything still queued
/// (or `NotNow`), or finished recently, stays.
async fn pruning(s: &dyn Storage) {
    let (e, f) = (unique("PR"), unique("PR2"));
    let [done, pending, not_now, recent, expired, partial] =
        ["done", "pending", "notnow", "recent", "expired", "partial"].map(unique);
    for uuid in [&done, &pending, &not_now, &recent] {
        s.enqueue(&cmd(uuid), std::slice::from_ref(&e), NOW)
            .await
            .unwrap();
    }
    let mut expiring = cmd(&expired);
    expiring.expires_at = Some(NOW + 10);
    s.enqueue(&expiring, std::slice::from_ref(&e), NOW)
        .await
        .unwrap();
    s.enqueue(&cmd(&partial), &[e.clone(), f.clone()], NOW)
        .await
        .unwrap();
    let report = b"<plist/>";
    for (uuid, status, at) in [
        (&done, "Acknowledged", NOW),
        (&not_now, "NotNow", NOW),
        (&recent, "Error", NOW + 500),
        (&partial, "Acknowledged", NOW),
    ] {
        assert_eq!(
            s.record_report(&e, uuid, status, report, at).await.unwrap(),
            ReportOutcome::Recorded
        );
    }
    let old = unique("old-bad");
    s.record_bad_report(&BadReport::new(Some(old.clone()), None, "x", vec![], NOW))
        .await
        .unwrap();
    let new = unique("new-bad");
    s.record_bad_report(&BadReport::new(
        Some(new.clone()),
        None,
        "x",
        vec![],
        NOW + 200,
    ))
    .await
    .unwrap();

    let pruned = s.prune(NOW + 100).await.unwrap();
    assert!(pruned.commands >= 2, "{pruned:?}");
    assert!(pruned.bad_reports >= 1, "{pruned:?}");
    let exists = |uuid: String| async move { s.command(&uuid, NOW).await.unwrap().is_some() };
    assert!(!exists(done.clone()).await, "finished long ago: pruned");
    assert!(!exists(expired.clone()).await, "expired long ago: pruned");
    assert!(exists(pending.clone()).await, "queued: kept");
    assert!(exists(not_now.clone()).await, "NotNow: kept");
    assert!(exists(recent.clone()).await, "finished recently: kept");
    assert!(
        exists(partial.clone()).await,
        "one target still queued: kept"
    );
    let bad: Vec<_> = s
        .bad_reports(1_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|b| b.enrollment_id)
        .collect();
    assert!(!bad.contains(&old) && bad.contains(&new), "{bad:?}");
    // The queue is intact: the pending command is still handed out.
    let queued: Vec<_> = s
        .queue(&e, NOW, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.uuid)
        .collect();
    assert!(
        queued.contains(&pending) && queued.contains(&not_now),
        "{queued:?}"
    );
    assert_eq!(next(s, &f, true).await.as_deref(), Some(partial.as_str()));
    // Pruning again changes nothing that is kept.
    s.prune(NOW + 100).await.unwrap();
    assert!(exists(pending).await);
}

/// Runs every check against the stores `open` gives. Each call of `open` must give a
/// handle on the same data (a second instance, or a restart). Panics at the first check a
/// backend fails, naming it.
pub async fn run_suite(open: Opener) {
    let s = open().await;
    enrollment_lifecycle(&*s).await;
    listing_and_paging(&*s).await;
    fifo_and_reports(&*s).await;
    not_now_does_not_starve_or_loop(&*s).await;
    queue_primitives(&*s).await;
    take_next_primitive(&*s).await;
    expiry_and_cancel(&*s).await;
    bad_reports_and_push_certs(&*s).await;
    bindings_renewals_and_declarations(&*s).await;
    tokens_and_challenges(&*s).await;
    shared_between_instances(&open).await;
    pruning(&*s).await;
}
