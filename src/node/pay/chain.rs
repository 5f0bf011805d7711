//! Channels escrowed on an EVM chain, the node's side (`contracts/pay.md`, "On-chain
//! channels"): the payer escrows on chain before it signs the off-chain open, which names the
//! contract's channel; the payee checks the chain, not the payer's word, before it records
//! the channel or accepts a paid deal on it; receipts carry EIP-712 vouchers; the payee cashes
//! them with [`Payments::claim`] (by hand, or the claim loop in `claims.rs`); the payer starts
//! a close and withdraws the rest after the challenge window.
//!
//! Invariants: the chain is the truth for what was escrowed and paid out; a claim reads the
//! channel first and sends nothing when nothing new is owed, so a claim repeated after a crash
//! never pays twice (the contract refuses a voucher not above `paidOut` anyway).

use alloy::primitives::{Address, U256};
use libp2p::PeerId;

use super::Payments;
use crate::chain::{ChainHandle, ChannelState, Channels};
use crate::db::ChannelRow;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::{Ask, AskChain};
use crate::node::{NodeError, Refusal, Result};
use crate::pay::{ChannelId, ChannelOpen, OnChain, PayError};
use crate::signed::Signed;

/// How long asking a payee for its ask may take.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What `cairn pay claim` reports: the tokens moved now (0 when nothing new was owed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClaimOutcome {
    pub channel: String,
    pub claimed: u64,
    /// The claim's transaction, if one was sent.
    pub tx: Option<String>,
    /// What the contract has paid the payee in all, after this claim.
    pub paid_out: u64,
}

/// What `cairn pay withdraw` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Withdrawal {
    pub channel: String,
    pub refund: u64,
    pub tx: String,
    /// What the payee was paid in all: `refund + paid_out == deposit`.
    pub paid_out: u64,
}

/// What `cairn pay channel close` did on chain for the payer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloseStart {
    pub channel: String,
    /// Chain time (unix seconds) from which `withdraw` is allowed.
    pub closes_at: u64,
    /// The `startClose` transaction; none when the close had been started already and is
    /// only recorded now.
    pub tx: Option<String>,
}

/// `cairn wallet`: the node's EVM address and, on a chain-configured node, its balances.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalletView {
    pub address: String,
    /// Native (gas) balance in wei, decimal; absent without `[chain]`.
    pub native: Option<String>,
    /// Channel-token balance in base units, decimal; absent without `[chain]`.
    pub token: Option<String>,
    pub chain_id: Option<u64>,
    pub contract: Option<String>,
}

/// The binding of a stored channel, if it is escrowed on chain.
pub(crate) fn binding_of(row: &ChannelRow) -> Result<Option<OnChain>> {
    let bytes = hex::decode(&row.open_signed).map_err(NodeError::internal)?;
    let open = Signed::<ChannelOpen>::from_bytes(&bytes, crate::pay::MAX_OPEN_SIZE)
        .map_err(NodeError::internal)?;
    Ok(open.payload.chain)
}

/// The stored form of a channel id a user typed: a contract's channel id given as a number
/// (`7`, `0x7`) becomes its 32-byte `0x` form; anything else is kept as typed.
pub(crate) fn canonical_id(id: &str) -> String {
    if id.parse::<ChannelId>().is_ok() {
        return id.to_string();
    }
    match id.parse::<U256>() {
        Ok(number) => ChannelId::chain(number).to_string(),
        Err(_) => id.to_string(),
    }
}

fn to_u64(value: u128, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| NodeError::internal(format!("{what} {value} is over u64")))
}

impl Payments {
    /// The chain, or a refusal naming why a chain is needed.
    pub(crate) fn chain(&self) -> Result<&ChainHandle> {
        self.parts.chain.as_ref().ok_or_else(|| {
            NodeError::refuse(
                Refusal::WrongChain,
                "this node has no [chain] configured: it settles on its ledger",
            )
        })
    }

    /// The contract, connecting first if needed.
    async fn contract(&self) -> Result<&Channels> {
        Ok(self.chain()?.channels().await?)
    }

    /// What a provider's ask says about its chain (None without `[chain]`).
    pub(crate) async fn ask_chain(&self) -> Result<Option<AskChain>> {
        let Some(chain) = self.parts.chain.as_ref() else {
            return Ok(None);
        };
        let domain = chain.domain().await?;
        Ok(Some(AskChain {
            chain_id: domain.chain_id,
            contract: domain.contract.into_array(),
            payee: chain.address().into_array(),
        }))
    }

    /// Client: a paid deal with this provider must settle where this node does. Refused with
    /// `wrong_chain` before any deposit moves.
    pub(crate) async fn check_ask_chain(&self, ask: &Ask) -> Result<Option<Address>> {
        let ours = self.ask_chain().await?;
        match (ours, ask.chain) {
            (None, None) => Ok(None),
            (Some(ours), Some(theirs))
                if ours.chain_id == theirs.chain_id && ours.contract == theirs.contract =>
            {
                Ok(Some(Address::from(theirs.payee)))
            }
            (Some(ours), Some(theirs)) => Err(NodeError::refuse(
                Refusal::WrongChain,
                format!(
                    "the provider is paid on chain {} contract {}, this node on chain {} contract {}",
                    theirs.chain_id,
                    Address::from(theirs.contract),
                    ours.chain_id,
                    Address::from(ours.contract)
                ),
            )),
            (None, Some(theirs)) => Err(NodeError::refuse(
                Refusal::WrongChain,
                format!(
                    "the provider is paid on chain {} contract {}, and this node has no [chain]",
                    theirs.chain_id,
                    Address::from(theirs.contract)
                ),
            )),
            (Some(ours), None) => Err(NodeError::refuse(
                Refusal::WrongChain,
                format!(
                    "the provider settles on its ledger, this node pays on chain {} only",
                    ours.chain_id
                ),
            )),
        }
    }

    /// Payer: the payee's EVM address, from its signed ask.
    async fn payee_address(&self, peer: PeerId) -> Result<Address> {
        let ask = match self
            .parts
            .net
            .get()?
            .market(peer, &MarketRequest::GetAsk, ASK_TIMEOUT)
            .await?
        {
            MarketResponse::Ask(ask) => ask,
            MarketResponse::Rejected { reason, detail } => {
                return Err(NodeError::Refused {
                    peer,
                    reason,
                    detail,
                })
            }
            other => {
                return Err(NodeError::Protocol {
                    peer,
                    what: format!("{other:?} to an ask request"),
                })
            }
        };
        let payload = ask.check(self.parts.clock.now_u64())?;
        if crate::node::provider::peer_key(&peer.to_string())? != ask.signer {
            return Err(NodeError::Protocol {
                peer,
                what: "an ask signed by another key".into(),
            });
        }
        self.check_ask_chain(payload).await?.ok_or_else(|| {
            NodeError::refuse(Refusal::WrongChain, "the payee names no chain address")
        })
    }

    /// Payer: escrows `deposit` in a new channel on chain to `peer`'s EVM address.
    pub(super) async fn open_on_chain(&self, peer: PeerId, deposit: u64) -> Result<OnChain> {
        let payee = self.payee_address(peer).await?;
        let chain = self.chain()?;
        let channels = self.contract().await?;
        let opened = channels
            .open(payee, u128::from(deposit), chain.config().window_secs())
            .await?;
        tracing::info!(%peer, channel = %opened.channel_id, deposit, tx = %opened.tx.hash, "escrowed a channel on chain");
        Ok(OnChain::new(
            channels.domain(),
            opened.channel_id,
            chain.address(),
            payee,
        ))
    }

    /// Payer: the payee refused the off-chain open of an escrowed channel; start its close at
    /// once and record the channel, closing, so the deposit comes back after the window
    /// (`cairn pay withdraw`). Recorded only once the close is started, so a channel the payee
    /// never took is never offered to a deal.
    pub(super) async fn abandon_on_chain(&self, row: &ChannelRow, binding: &OnChain) {
        let outcome = async {
            let (started, _) = self
                .contract()
                .await?
                .start_close(binding.channel_id())
                .await?;
            self.parts.db.insert_channel(row).await?;
            self.parts
                .db
                .mark_channel_closing(&row.id, started.closes_at)
                .await?;
            Ok::<_, NodeError>(())
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(channel = %row.id, error = %e, "could not start closing an unused channel");
        }
    }

    /// Payee: an open's binding names this node's chain, contract and address, and the chain
    /// holds that channel from the open's payer to this node with at least the open's deposit,
    /// not closing.
    pub(super) async fn check_open_on_chain(&self, open: &ChannelOpen) -> Result<()> {
        let Some(binding) = open.chain else {
            if self.parts.chain.is_some() {
                return Err(NodeError::Pay(PayError::WrongChain(
                    "this node takes only channels escrowed on its chain".into(),
                )));
            }
            return Ok(());
        };
        let chain = self.parts.chain.as_ref().ok_or_else(|| {
            NodeError::Pay(PayError::WrongChain(
                "this node settles on its ledger".into(),
            ))
        })?;
        let domain = chain.domain().await?;
        if !binding.is_on(&domain) {
            return Err(NodeError::Pay(PayError::WrongChain(format!(
                "the channel is on chain {} contract {}, this node on chain {} contract {}",
                binding.chain_id,
                Address::from(binding.contract),
                domain.chain_id,
                domain.contract
            ))));
        }
        if binding.payee_address() != chain.address() {
            return Err(NodeError::Pay(PayError::WrongPayee));
        }
        let state = self.on_chain_state(&binding).await?;
        if state.payer != binding.payer_address() || state.payee != chain.address() {
            return Err(NodeError::Pay(PayError::WrongChannel));
        }
        if state.deposit < u128::from(open.deposit.0) {
            return Err(NodeError::Pay(PayError::OverDeposit {
                amount: open.deposit.0,
                deposit: to_u64(state.deposit, "deposit")?,
            }));
        }
        if state.closes_at.is_some() || state.settled {
            return Err(NodeError::Pay(PayError::ChannelClosed));
        }
        Ok(())
    }

    /// The contract's view of a bound channel; an unknown id is `wrong_channel`.
    async fn on_chain_state(&self, binding: &OnChain) -> Result<ChannelState> {
        let channels = self.contract().await?;
        match channels.channel(binding.channel_id()).await {
            Ok(state) => Ok(state),
            Err(e) if e.revert_name() == Some("UnknownChannel") => {
                Err(NodeError::Pay(PayError::WrongChannel))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Provider: a paid deal on a bound channel needs the chain to hold it: the payee is this
    /// node, the escrow not yet paid out nor promised by receipts covers `price`, and no close
    /// has started.
    pub(crate) async fn check_chain_funding(&self, row: &ChannelRow, price: u64) -> Result<()> {
        let unfunded = |why: String| Err(NodeError::refuse(Refusal::Unfunded, why));
        let Some(binding) = binding_of(row)? else {
            if self.parts.chain.is_some() {
                return unfunded("the channel is not escrowed on chain".into());
            }
            return Ok(());
        };
        let chain = self.chain()?;
        let state = match self.on_chain_state(&binding).await {
            Err(NodeError::Pay(PayError::WrongChannel)) => {
                return unfunded("the contract holds no such channel".into())
            }
            other => other?,
        };
        if state.payee != chain.address() {
            return unfunded(format!("the channel pays {}, not this node", state.payee));
        }
        if state.closes_at.is_some() || state.settled {
            return unfunded("the channel is closing on chain".into());
        }
        let spent = state.paid_out.max(u128::from(row.paid));
        let unspent = state.deposit.saturating_sub(spent);
        if unspent < u128::from(price) {
            return unfunded(format!(
                "the channel's unspent escrow {unspent} does not cover the price {price}"
            ));
        }
        Ok(())
    }

    /// A stored channel by its id: the CID of its open for a ledger channel, the contract's
    /// channel id for an escrowed one (its 32-byte `0x` form, or any number `U256` parses,
    /// decimal or short hex).
    pub(crate) async fn find_channel(
        &self,
        id: &str,
        role: &str,
    ) -> Result<(ChannelRow, Option<OnChain>)> {
        let unknown = || NodeError::refuse(Refusal::UnknownChannel, format!("no channel {id}"));
        let row = self
            .parts
            .db
            .get_channel(&canonical_id(id))
            .await?
            .filter(|row| row.role == role)
            .ok_or_else(unknown)?;
        let binding = binding_of(&row)?;
        Ok((row, binding))
    }

    /// Payee: cashes the highest receipt of `channel` now. Sends nothing, and reports 0, when
    /// the contract has paid that much already (a claim mined before a crash counts).
    pub async fn claim(&self, channel: &str) -> Result<ClaimOutcome> {
        let (row, binding) = self.find_channel(channel, "payee").await?;
        let binding = binding.ok_or_else(|| {
            NodeError::refuse(
                Refusal::WrongChain,
                format!("{} is settled on the ledger", row.id),
            )
        })?;
        let channels = self.contract().await?;
        let Some(last) = row.last_receipt.as_deref() else {
            let state = self.on_chain_state(&binding).await?;
            return Ok(ClaimOutcome {
                channel: row.id,
                claimed: 0,
                tx: None,
                paid_out: to_u64(state.paid_out, "paid out")?,
            });
        };
        let receipt = super::payee::decode_receipt(last)?;
        let voucher = receipt
            .payload
            .voucher
            .clone()
            .ok_or(NodeError::Pay(PayError::MissingVoucher))?;
        let claimed = channels
            .claim_owed(
                binding.channel_id(),
                u128::from(receipt.payload.amount.0),
                &voucher,
            )
            .await?;
        match claimed {
            Some(claimed) => {
                tracing::info!(channel = %row.id, amount = claimed.amount, tx = %claimed.tx.hash, gas = claimed.tx.gas_used, "claimed on chain");
                // The dashboard's payouts; the claim stands whether or not this is recorded.
                let amount = to_u64(claimed.amount, "claimed")?;
                if let Err(e) = self
                    .parts
                    .db
                    .record_payout(&claimed.tx.hash.to_string(), &row.id, amount)
                    .await
                {
                    tracing::warn!(error = %e, "could not record a claim's payout");
                }
                Ok(ClaimOutcome {
                    channel: row.id,
                    claimed: to_u64(claimed.amount, "claimed")?,
                    tx: Some(claimed.tx.hash.to_string()),
                    paid_out: to_u64(claimed.paid_out, "paid out")?,
                })
            }
            None => {
                let state = self.on_chain_state(&binding).await?;
                Ok(ClaimOutcome {
                    channel: row.id,
                    claimed: 0,
                    tx: None,
                    paid_out: to_u64(state.paid_out, "paid out")?,
                })
            }
        }
    }

    /// Payer: starts the close of an escrowed channel on chain. The payee may still claim
    /// until the window ends; then [`Payments::withdraw`] returns the rest.
    pub(super) async fn start_close_on_chain(
        &self,
        row: &ChannelRow,
        binding: &OnChain,
    ) -> Result<CloseStart> {
        let channels = self.contract().await?;
        let state = self.on_chain_state(binding).await?;
        if state.settled {
            return Err(NodeError::refuse(
                Refusal::ChannelClosed,
                format!("{} was withdrawn already", row.id),
            ));
        }
        if let Some(closes_at) = state.closes_at {
            // Started before, but not recorded here (a crash between the transaction and the
            // record): record it now.
            if self
                .parts
                .db
                .mark_channel_closing(&row.id, closes_at)
                .await?
            {
                return Ok(CloseStart {
                    channel: row.id.clone(),
                    closes_at,
                    tx: None,
                });
            }
            return Err(NodeError::refuse(
                Refusal::ChannelClosed,
                format!("{} is closing already (withdraw from {closes_at})", row.id),
            ));
        }
        let (started, tx) = channels.start_close(binding.channel_id()).await?;
        self.parts
            .db
            .mark_channel_closing(&row.id, started.closes_at)
            .await?;
        Ok(CloseStart {
            channel: row.id.clone(),
            closes_at: started.closes_at,
            tx: Some(tx.hash.to_string()),
        })
    }

    /// Payer: `cairn pay channel close` on an escrowed channel.
    pub async fn close_on_chain(&self, channel: &str) -> Result<CloseStart> {
        let (row, binding) = self.find_channel(channel, "payer").await?;
        let binding = binding.ok_or_else(|| {
            NodeError::refuse(
                Refusal::WrongChain,
                format!("{} is settled on the ledger", row.id),
            )
        })?;
        self.start_close_on_chain(&row, &binding).await
    }

    /// Payer: after the challenge window, takes back what the payee did not claim; the
    /// channel is closed here with what the payee was paid.
    pub async fn withdraw(&self, channel: &str) -> Result<Withdrawal> {
        let (row, binding) = self.find_channel(channel, "payer").await?;
        let binding = binding.ok_or_else(|| {
            NodeError::refuse(
                Refusal::WrongChain,
                format!("{} is settled on the ledger", row.id),
            )
        })?;
        let channels = self.contract().await?;
        let withdrawn = channels.withdraw(binding.channel_id()).await?;
        let state = self.on_chain_state(&binding).await?;
        let paid_out = to_u64(state.paid_out, "paid out")?;
        let refund = to_u64(withdrawn.refund, "refund")?;
        self.parts
            .db
            .record_withdrawal(&row.id, paid_out, refund)
            .await?;
        Ok(Withdrawal {
            channel: row.id,
            refund,
            tx: withdrawn.tx.hash.to_string(),
            paid_out,
        })
    }

    /// `cairn wallet`.
    pub async fn wallet_view(&self) -> Result<WalletView> {
        let Some(chain) = self.parts.chain.as_ref() else {
            // A ledger node has its wallet too (`cairn init` makes it), for when it moves on
            // chain; a data dir made otherwise gets one now.
            let wallet = crate::chain::Wallet::load_or_create(self.parts.data.root())?;
            return Ok(WalletView {
                address: wallet.address().to_checksum(None),
                native: None,
                token: None,
                chain_id: None,
                contract: None,
            });
        };
        let channels = chain.channels().await?;
        let address = chain.address();
        let native = channels.client().native_balance(address).await?;
        let token = channels.token_balance(address).await?;
        Ok(WalletView {
            address: address.to_checksum(None),
            native: Some(native.to_string()),
            token: Some(token.to_string()),
            chain_id: Some(channels.domain().chain_id),
            contract: Some(channels.address().to_checksum(None)),
        })
    }
}
