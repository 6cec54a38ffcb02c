//! The alerts a run raises, written inside the run's own transaction: the store calls
//! [`AlertHook`] after the run's rows and before the commit, so an alert exists exactly
//! when the verdicts that caused it do. Plans with the run's own finish time, never the
//! wall clock. It never sends anything (the delivery worker does).

use super::{plan, route, AlertPolicy, AlertRecord};
use crate::store::{RunHook, RunInput, RunOutcome, RunTx, StoreError};
use chrono::{DateTime, Utc};

/// Plans and enqueues a run's alerts; afterwards `raised` holds the alert written, if
/// the run raised one.
pub struct AlertHook<'a> {
    policy: Option<&'a AlertPolicy>,
    pub raised: Option<AlertRecord>,
}

impl<'a> AlertHook<'a> {
    /// A hook for `policy` (none: alerting is off and the hook writes nothing).
    pub fn new(policy: Option<&'a AlertPolicy>) -> AlertHook<'a> {
        AlertHook {
            policy,
            raised: None,
        }
    }
}

impl RunHook for AlertHook<'_> {
    fn in_transaction(
        &mut self,
        tx: &mut RunTx<'_>,
        run: &RunInput,
        _: &RunOutcome,
    ) -> Result<(), StoreError> {
        let Some(policy) = self.policy else {
            return Ok(());
        };
        let now = DateTime::parse_from_rfc3339(&run.finished_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Other {
                path: String::new(),
                message: format!("run {} has an unreadable finish time: {e}", run.run_id),
            })?;
        let mut states = tx.alert_rule_states()?;
        let before = states.clone();
        let items = plan(run, &mut states, policy, now);
        for (rule, s) in &states {
            if before.get(rule) != Some(s) {
                tx.save_alert_rule_state(rule, s)?;
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        let routes = route(&items, &policy.section);
        let record = AlertRecord {
            key: uuid::Uuid::now_v7().to_string(),
            host: policy.host.clone(),
            run: run.run_id.clone(),
            created_at: run.finished_at.clone(),
            items,
            routes,
            test: false,
        };
        tx.enqueue_alert(&record)?;
        self.raised = Some(record);
        Ok(())
    }
}
