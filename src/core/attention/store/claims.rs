//! Claims on kept items: one winner among any number of agents claiming at once (a single
//! conditional `UPDATE` decides), leases renewed while the agent works and lapsing when it goes
//! away, and every act on a claim fenced by its version.

use super::{Claim, Duration, ItemKey, Refused, Store, Timestamp, key_binds, micros};
use crate::core::db::Bind;

/// What acting on a claim needs: the item, the agent, the version it holds, and now.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    /// The item.
    pub key: &'a ItemKey,
    /// The agent acting.
    pub agent: &'a str,
    /// The version of the claim it acts on.
    pub version: i64,
    /// Now.
    pub now: Timestamp,
}

impl Store {
    /// Claims `key` for `agent` until `now + lease`: the claim, or why not. Claiming an item
    /// one holds already gives back the claim it holds.
    pub async fn claim(
        &self,
        key: &ItemKey,
        agent: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Result<Claim, Refused>, sqlx::Error> {
        self.expire_one(key, now).await?;
        let until = micros(now + lease);
        let mut binds = key_binds(key).to_vec();
        binds.extend([
            Bind::Text(agent.into()),
            Bind::Int(until),
            Bind::Int(micros(now)),
        ]);
        let won: Option<(i64,)> = self
            .db
            .fetch_optional(
                "UPDATE attention_items SET claimed_by = $4, lease_until_us = $5, \
                 version = version + 1, transition = 'claimed', actor = $4, changed_us = $6 \
                 WHERE customer_id = $1 AND reason = $2 AND cause = $3 AND state = 'open' \
                 AND claimed_by IS NULL RETURNING version",
                &binds,
            )
            .await?;
        if let Some((version,)) = won {
            self.figures
                .claims
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Ok(Claim {
                version,
                lease_until_us: until,
            }));
        }
        // Lost: say why, or give back the claim the agent holds already.
        let Some(kept) = self.get(key).await? else {
            return Ok(Err(Refused::NotFound));
        };
        if kept.state != "open" {
            return Ok(Err(Refused::NotOpen(kept.state)));
        }
        let until_us = kept.lease_until_us.unwrap_or_default();
        Ok(match kept.claimed_by {
            Some(by) if by == agent => Ok(Claim {
                version: kept.version,
                lease_until_us: until_us,
            }),
            Some(by) => Err(Refused::ClaimedByOther { by, until_us }),
            // Released between the two statements: the agent may try again.
            None => Err(Refused::Stale {
                current: kept.version,
            }),
        })
    }

    /// Extends `act`'s claim to `now + lease`, if it is still the item's.
    pub async fn renew(
        &self,
        act: Act<'_>,
        lease: Duration,
    ) -> Result<Result<Claim, Refused>, sqlx::Error> {
        let until = micros(act.now + lease);
        let renewed = self
            .fenced(
                act,
                "UPDATE attention_items SET lease_until_us = $7, transition = 'renewed', \
                 actor = $4, changed_us = $6 WHERE customer_id = $1 AND reason = $2 \
                 AND cause = $3 AND state = 'open' AND claimed_by = $4 AND version = $5 \
                 AND lease_until_us > $6",
                Some(Bind::Int(until)),
            )
            .await?;
        Ok(renewed.map(|()| Claim {
            version: act.version,
            lease_until_us: until,
        }))
    }

    /// Gives `act`'s claim up: the item is back in the queue, with its original due.
    pub async fn release(&self, act: Act<'_>) -> Result<Result<(), Refused>, sqlx::Error> {
        self.fenced(
            act,
            "UPDATE attention_items SET claimed_by = NULL, lease_until_us = NULL, \
             transition = 'released', actor = $4, changed_us = $6 WHERE customer_id = $1 \
             AND reason = $2 AND cause = $3 AND state = 'open' AND claimed_by = $4 \
             AND version = $5 AND lease_until_us > $6",
            None,
        )
        .await
    }

    /// Records `outcome` and closes the item, if `act`'s claim is still the item's.
    pub async fn resolve(
        &self,
        act: Act<'_>,
        outcome: &str,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let resolved = self
            .fenced(
                act,
                "UPDATE attention_items SET state = 'resolved', outcome = $7, claimed_by = NULL, \
                 lease_until_us = NULL, transition = 'resolved', actor = $4, changed_us = $6 \
                 WHERE customer_id = $1 AND reason = $2 AND cause = $3 AND state = 'open' \
                 AND claimed_by = $4 AND version = $5 AND lease_until_us > $6",
                Some(Bind::Text(outcome.into())),
            )
            .await?;
        if resolved.is_ok() {
            let resolutions = &self.figures.resolutions;
            resolutions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(resolved)
    }

    /// Runs `sql` on `act`'s item — `$1`–`$3` its key, `$4` the agent, `$5` the version it
    /// acts on, `$6` now, `$7` `extra` if any — which changes it only while that claim is the item's
    /// and its lease holds; otherwise why not.
    async fn fenced(
        &self,
        act: Act<'_>,
        sql: &'static str,
        extra: Option<Bind>,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let mut binds = key_binds(act.key).to_vec();
        binds.extend([
            Bind::Text(act.agent.into()),
            Bind::Int(act.version),
            Bind::Int(micros(act.now)),
        ]);
        binds.extend(extra);
        if self.db.execute(sql, &binds).await? > 0 {
            return Ok(Ok(()));
        }
        Ok(Err(match self.get(act.key).await? {
            None => Refused::NotFound,
            Some(kept) if kept.state != "open" => Refused::NotOpen(kept.state),
            Some(kept) => Refused::Stale {
                current: kept.version,
            },
        }))
    }

    /// Gives back every item whose lease lapsed before `now`; how many.
    pub async fn expire(&self, now: Timestamp) -> Result<u64, sqlx::Error> {
        self.db
            .execute(
                "UPDATE attention_items SET claimed_by = NULL, lease_until_us = NULL, \
                 transition = 'expired', actor = claimed_by, changed_us = $1 \
                 WHERE claimed_by IS NOT NULL AND lease_until_us <= $1",
                &[Bind::Int(micros(now))],
            )
            .await
    }

    /// Gives back `key` if its lease lapsed, so that claiming it next is recorded after.
    async fn expire_one(&self, key: &ItemKey, now: Timestamp) -> Result<u64, sqlx::Error> {
        let mut binds = key_binds(key).to_vec();
        binds.push(Bind::Int(micros(now)));
        self.db
            .execute(
                "UPDATE attention_items SET claimed_by = NULL, lease_until_us = NULL, \
                 transition = 'expired', actor = claimed_by, changed_us = $4 \
                 WHERE customer_id = $1 AND reason = $2 AND cause = $3 \
                 AND claimed_by IS NOT NULL AND lease_until_us <= $4",
                &binds,
            )
            .await
    }
}
