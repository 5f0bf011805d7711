//! Balances per peer: what this node earned (highest receipts on channels paying it), spent
//! (highest receipts it signed), is owed (retrieval served beyond what was paid) and owes
//! (retrieval invoiced to it beyond what it paid).

use std::collections::BTreeMap;

use super::Payments;
use crate::node::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Balance {
    pub peer: String,
    pub earned: u64,
    pub spent: u64,
    pub owed_to_us: u64,
    pub we_owe: u64,
}

impl Payments {
    pub async fn balances(&self) -> Result<Vec<Balance>> {
        let mut peers: BTreeMap<String, Balance> = BTreeMap::new();
        let entry = |peers: &mut BTreeMap<String, Balance>, peer: &str| {
            peers
                .entry(peer.to_string())
                .or_insert_with(|| Balance {
                    peer: peer.to_string(),
                    ..Balance::default()
                })
                .clone()
        };
        for row in self.parts.db.list_channels(None, None).await? {
            let mut balance = entry(&mut peers, &row.peer);
            if row.role == "payee" {
                balance.earned = balance.earned.saturating_add(row.paid);
            } else {
                balance.spent = balance.spent.saturating_add(row.paid);
            }
            peers.insert(row.peer.clone(), balance);
        }
        // Served bytes come from the meter, which is ahead of the database by up to a second.
        if let Some(terms) = self.state.meter.terms() {
            for (peer, bytes, paid) in self.state.meter.snapshot() {
                let debt = terms
                    .debt(bytes, paid)
                    .map_err(|e| crate::node::NodeError::internal(e.to_string()))?;
                if debt.0 > 0 {
                    let mut balance = entry(&mut peers, &peer.to_string());
                    balance.owed_to_us = debt.0;
                    peers.insert(peer.to_string(), balance);
                }
            }
        }
        for account in self.parts.db.list_retrieval_accounts().await? {
            if account.role == "payer" && account.invoiced > account.paid {
                let mut balance = entry(&mut peers, &account.peer);
                balance.we_owe = account.invoiced - account.paid;
                peers.insert(account.peer.clone(), balance);
            }
        }
        Ok(peers.into_values().collect())
    }
}
