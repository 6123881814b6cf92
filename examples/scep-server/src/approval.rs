//! The server's policy: scep-proto's challenge check, then automatic or manual approval.

use std::sync::Arc;

use scep_proto::FailInfo;
use scep_proto::policy::{self, Challenge, Policy, PolicyRequest, Stage, Verdict};

use crate::store::{Store, TransactionState};

/// How requests that pass the challenge are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approve {
    /// Issue at once.
    Auto,
    /// Answer PENDING until an operator moves the request to `approved/` or `rejected/`
    /// (`mdmctl scep approve|reject`). Renewals are issued at once.
    Manual,
}

/// The challenge (if any), then approval by the operator's files.
#[derive(Debug)]
pub struct ServerPolicy {
    challenge: Option<Challenge>,
    approve: Approve,
    store: Arc<Store>,
}

impl ServerPolicy {
    /// The policy for these settings.
    pub fn new(challenge: Option<String>, approve: Approve, store: Arc<Store>) -> Self {
        Self {
            challenge: challenge.map(Challenge::new),
            approve,
            store,
        }
    }
}

impl Policy for ServerPolicy {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        let first = match &self.challenge {
            Some(c) => c.decide(req),
            // No challenge: still no expired renewal signer, no far-off signingTime.
            None => policy::check_signing_time(req, 86_400)
                .or_else(|| {
                    (req.stage == Stage::Renewal)
                        .then(|| policy::check_renewal_signer(req))
                        .flatten()
                })
                .unwrap_or(Verdict::Issue),
        };
        if first != Verdict::Issue {
            return first;
        }
        match (req.stage, self.approve) {
            (Stage::Enrollment, Approve::Manual) => Verdict::Pending,
            (Stage::Poll, _) => match self.store.transaction(req.transaction_id) {
                Ok(TransactionState::Approved(_)) => Verdict::Issue,
                Ok(TransactionState::Rejected) => {
                    Verdict::reject(FailInfo::BAD_REQUEST, "rejected by the operator")
                }
                // Switched from manual to automatic: what waited is issued.
                Ok(TransactionState::Pending(_)) if self.approve == Approve::Auto => Verdict::Issue,
                Ok(TransactionState::Pending(_)) => Verdict::Pending,
                Ok(_) => Verdict::reject(FailInfo::BAD_CERT_ID, "no such pending request"),
                Err(e) => {
                    tracing::error!(error = %e, "reading the pending request");
                    Verdict::Pending
                }
            },
            _ => Verdict::Issue,
        }
    }
}
