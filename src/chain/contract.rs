//! A client for `CairnChannels` and its ERC-20 token over JSON-RPC (HTTP), as one wallet.
//!
//! The bindings are generated at compile time from the committed artifacts
//! (`contracts/evm/artifacts/*.json`, ABI and bytecode), so the client always speaks to the
//! contract those files describe, and `deploy` deploys exactly that bytecode.
//!
//! Each transaction is sent, then its receipt awaited; what the call did is read back from
//! the contract's events in the receipt (a transaction's return value is not on chain).
//! Errors are mapped once, in [`rpc_error`]: a revert by its decoded custom error, an
//! unreachable RPC apart from everything else.
//!
//! Nonces: each transaction takes the account's pending nonce from the node when it is
//! sent (never a locally cached counter, which a send refused at gas estimation would leave
//! one ahead, stranding every later transaction), and a client sends one transaction at a
//! time (`send_lock`, held until the node has accepted it), so clones of one client sharing a
//! wallet never race for a nonce. Two processes with the same wallet would: a node has one.

use std::sync::Arc;
use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder, Error as ContractError};
use alloy::network::{Ethereum, EthereumWallet, ReceiptResponse};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::sol_types::SolEvent;
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportError};

use super::voucher::Domain;
use super::wallet::Wallet;
use super::{ChainError, Revert};

/// Rust bindings of the committed ABIs (with their bytecode, for `deploy`).
pub mod bindings {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        CairnChannels,
        "contracts/evm/artifacts/CairnChannels.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        TestToken,
        "contracts/evm/artifacts/TestToken.json"
    );
}

use bindings::{CairnChannels, TestToken};

type Receipt = <Ethereum as alloy::network::Network>::ReceiptResponse;

/// How long one RPC request may take before the chain counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for a sent transaction's receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A mined transaction: its hash, block and the gas it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TxOutcome {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
}

/// Where a deployment put the contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub contract: Address,
    pub token: Address,
    /// Whether `token` is a `TestToken` this deployment created (anyone may mint it).
    pub test_token: bool,
}

/// A channel as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ChannelState {
    pub id: U256,
    pub payer: Address,
    pub payee: Address,
    pub deposit: u128,
    pub paid_out: u128,
    /// Seconds between `startClose` and the earliest `withdraw`.
    pub challenge_window: u32,
    /// When the payer may withdraw (unix seconds, the chain's clock), once a close started.
    pub closes_at: Option<u64>,
    /// Final: withdrawn or cooperatively closed; nothing moves any more.
    pub settled: bool,
}

impl ChannelState {
    /// Escrow not yet paid to the payee.
    pub fn unspent(&self) -> u128 {
        self.deposit.saturating_sub(self.paid_out)
    }

    /// What a voucher for `cumulative` would pay now (0 if nothing: settled, not above).
    pub fn claimable(&self, cumulative: u128) -> u128 {
        if self.settled {
            return 0;
        }
        cumulative.min(self.deposit).saturating_sub(self.paid_out)
    }
}

/// A channel opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Opened {
    pub channel_id: U256,
    pub deposit: u128,
    pub tx: TxOutcome,
}

/// A channel's deposit raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ToppedUp {
    pub deposit: u128,
    pub tx: TxOutcome,
}

/// A voucher cashed: `amount` moved to the payee now, `paid_out` in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Claimed {
    pub amount: u128,
    pub paid_out: u128,
    pub tx: TxOutcome,
}

/// A close started; the payer may withdraw from `closes_at` (chain time, unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CloseStarted {
    pub channel_id: U256,
    pub closes_at: u64,
    /// Set for a close read from the chain's logs ([`Channels::closes_started`]).
    pub block: Option<u64>,
}

/// The rest returned to the payer; the channel is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Withdrawn {
    pub refund: u128,
    pub tx: TxOutcome,
}

/// A cooperative close: `paid` to the payee now, `refund` to the payer; the channel is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CooperativelyClosed {
    pub paid: u128,
    pub refund: u128,
    pub tx: TxOutcome,
}

/// One wallet on one chain. Cheap to clone; clones share the provider and the send lock.
#[derive(Clone)]
pub struct ChainClient {
    provider: DynProvider,
    url: String,
    wallet: Wallet,
    chain_id: u64,
    /// Held from filling a transaction (its nonce) until the node accepted it.
    send_lock: Arc<tokio::sync::Mutex<()>>,
    /// How long [`Self::confirm`] waits for a receipt.
    receipt_timeout: Duration,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient")
            .field("url", &self.url)
            .field("address", &self.wallet.address())
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl ChainClient {
    /// Connects to `rpc_url` (`http://` only: this build has no TLS) as `wallet`, and reads
    /// the chain id, so an unreachable RPC is found here.
    pub async fn connect(rpc_url: &str, wallet: Wallet) -> Result<Self, ChainError> {
        let url: reqwest::Url = rpc_url
            .parse()
            .map_err(|e| ChainError::Invalid(format!("RPC URL {rpc_url:?}: {e}")))?;
        if url.scheme() != "http" {
            return Err(ChainError::Invalid(format!(
                "RPC URL {rpc_url:?}: only http:// is supported (use a local node or a TLS-terminating proxy)"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ChainError::Invalid(format!("HTTP client: {e}")))?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(wallet.signer().clone()))
            .connect_reqwest(http, url)
            .erased();
        let mut client = ChainClient {
            provider,
            url: rpc_url.to_string(),
            wallet,
            chain_id: 0,
            send_lock: Arc::new(tokio::sync::Mutex::new(())),
            receipt_timeout: RECEIPT_TIMEOUT,
        };
        client.chain_id = client
            .provider
            .get_chain_id()
            .await
            .map_err(|e| client.transport(e))?;
        Ok(client)
    }

    /// Waits at most `timeout` for each transaction's receipt (default [`RECEIPT_TIMEOUT`]);
    /// past it a call returns [`ChainError::Unconfirmed`].
    pub fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// This client's wallet address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying provider, for what this client does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The native (gas) balance of `who`, in wei.
    pub async fn native_balance(&self, who: Address) -> Result<U256, ChainError> {
        self.provider
            .get_balance(who)
            .await
            .map_err(|e| self.transport(e))
    }

    /// The latest block's number and timestamp (the chain's clock, unix seconds).
    pub async fn head(&self) -> Result<(u64, u64), ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.transport(e))?
            .ok_or_else(|| ChainError::Unexpected("no latest block".into()))?;
        Ok((block.header.number, block.header.timestamp))
    }

    /// Deploys a `TestToken` (anyone may mint it: devnets and tests only).
    pub async fn deploy_test_token(&self) -> Result<(Address, TxOutcome), ChainError> {
        let pending = self
            .send(&TestToken::deploy_builder(&self.provider))
            .await?;
        self.deployed(pending).await
    }

    /// Deploys `CairnChannels` for `token`.
    pub async fn deploy_channels(
        &self,
        token: Address,
    ) -> Result<(Address, TxOutcome), ChainError> {
        let pending = self
            .send(&CairnChannels::deploy_builder(&self.provider, token))
            .await?;
        self.deployed(pending).await
    }

    /// Deploys the channel contract for `token`, or first a test token when none is given.
    pub async fn deploy(&self, token: Option<Address>) -> Result<Deployment, ChainError> {
        let (token, test_token) = match token {
            Some(token) => {
                self.require_code(token).await?;
                (token, false)
            }
            None => (self.deploy_test_token().await?.0, true),
        };
        let (contract, _) = self.deploy_channels(token).await?;
        Ok(Deployment {
            chain_id: self.chain_id,
            contract,
            token,
            test_token,
        })
    }

    /// The channel contract at `contract`: checks it holds code and reads its token.
    pub async fn channels(&self, contract: Address) -> Result<Channels, ChainError> {
        self.require_code(contract).await?;
        let instance = CairnChannels::new(contract, self.provider.clone());
        let token = instance.token().call().await.map_err(|e| self.error(e))?;
        Ok(Channels {
            client: self.clone(),
            contract: instance,
            token: TestToken::new(token, self.provider.clone()),
        })
    }

    async fn require_code(&self, address: Address) -> Result<(), ChainError> {
        let code = self
            .provider
            .get_code_at(address)
            .await
            .map_err(|e| self.transport(e))?;
        if code.is_empty() {
            return Err(ChainError::Unexpected(format!(
                "no contract at {address} on chain {}",
                self.chain_id
            )));
        }
        Ok(())
    }

    async fn deployed(
        &self,
        pending: PendingTransactionBuilder<Ethereum>,
    ) -> Result<(Address, TxOutcome), ChainError> {
        let receipt = self.confirm(pending).await?;
        let outcome = outcome(&receipt)?;
        let address = receipt.contract_address().ok_or_else(|| {
            ChainError::Unexpected(format!(
                "deployment {} has no contract address",
                outcome.hash
            ))
        })?;
        Ok((address, outcome))
    }

    /// Sends one transaction (see the module docs on nonces); a revert at gas estimation
    /// comes back here, decoded.
    async fn send<P: Provider, D: CallDecoder>(
        &self,
        call: &CallBuilder<P, D>,
    ) -> Result<PendingTransactionBuilder<Ethereum>, ChainError> {
        let _one_at_a_time = self.send_lock.lock().await;
        call.send().await.map_err(|e| self.error(e))
    }

    /// Waits for a sent transaction's receipt; a mined failure is [`ChainError::Failed`].
    async fn confirm(
        &self,
        pending: PendingTransactionBuilder<Ethereum>,
    ) -> Result<Receipt, ChainError> {
        let tx = *pending.tx_hash();
        let receipt = pending
            .with_timeout(Some(self.receipt_timeout))
            .get_receipt()
            .await
            .map_err(|e| ChainError::Unconfirmed {
                tx,
                reason: e.to_string(),
            })?;
        if !receipt.status() {
            return Err(ChainError::Failed { tx });
        }
        Ok(receipt)
    }

    /// Maps a contract call's error (see the module docs).
    fn error(&self, e: ContractError) -> ChainError {
        match e {
            ContractError::TransportError(e) => self.transport(e),
            ContractError::PendingTransactionError(e) => ChainError::Unexpected(e.to_string()),
            other => ChainError::Unexpected(other.to_string()),
        }
    }

    fn transport(&self, e: TransportError) -> ChainError {
        rpc_error(&self.url, e)
    }
}

/// One error mapping for every RPC answer: revert data decoded by selector, a transport
/// failure as unreachable, any other error response as the node's refusal.
pub fn rpc_error(url: &str, e: TransportError) -> ChainError {
    match e {
        RpcError::ErrorResp(payload) => match payload.as_revert_data() {
            Some(data) => ChainError::Reverted(Revert::decode(&data)),
            None => ChainError::Rpc {
                code: payload.code,
                message: payload.message.to_string(),
            },
        },
        RpcError::Transport(kind) => ChainError::Unreachable {
            url: url.to_string(),
            detail: kind.to_string(),
        },
        other => ChainError::Unexpected(other.to_string()),
    }
}

fn outcome(receipt: &Receipt) -> Result<TxOutcome, ChainError> {
    Ok(TxOutcome {
        hash: receipt.transaction_hash(),
        block: receipt
            .block_number()
            .ok_or_else(|| ChainError::Unexpected("a receipt without a block".into()))?,
        gas_used: receipt.gas_used(),
    })
}

/// The first event `E` that `contract` emitted in `receipt`.
fn event<E: SolEvent>(receipt: &Receipt, contract: Address) -> Result<E, ChainError> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == contract)
        .find_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .ok_or_else(|| {
            ChainError::Unexpected(format!(
                "transaction {} has no {} event",
                receipt.transaction_hash,
                E::SIGNATURE
            ))
        })
}

/// `CairnChannels` at one address, and its token, as the client's wallet.
#[derive(Clone)]
pub struct Channels {
    client: ChainClient,
    contract: CairnChannels::CairnChannelsInstance<DynProvider>,
    token: TestToken::TestTokenInstance<DynProvider>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("contract", self.contract.address())
            .field("token", self.token.address())
            .field("client", &self.client)
            .finish()
    }
}

impl Channels {
    pub fn address(&self) -> Address {
        *self.contract.address()
    }

    pub fn token(&self) -> Address {
        *self.token.address()
    }

    pub fn client(&self) -> &ChainClient {
        &self.client
    }

    /// The EIP-712 domain vouchers for this contract are signed in.
    pub fn domain(&self) -> Domain {
        Domain::new(self.client.chain_id, self.address())
    }

    /// Opens a channel to `payee`, approving the contract for `deposit` first if the wallet's
    /// allowance is short. The wallet must hold `deposit` tokens.
    pub async fn open(
        &self,
        payee: Address,
        deposit: u128,
        challenge_window: u32,
    ) -> Result<Opened, ChainError> {
        self.ensure_allowance(deposit).await?;
        let call = self.contract.open(payee, deposit, challenge_window);
        let receipt = self.send(call).await?;
        let opened: CairnChannels::ChannelOpened = event(&receipt, self.address())?;
        Ok(Opened {
            channel_id: opened.channelId,
            deposit: opened.deposit,
            tx: outcome(&receipt)?,
        })
    }

    /// Raises a channel's deposit by `amount` (approving first if needed).
    pub async fn top_up(&self, channel_id: U256, amount: u128) -> Result<ToppedUp, ChainError> {
        self.ensure_allowance(amount).await?;
        let call = self.contract.topUp(channel_id, amount);
        let receipt = self.send(call).await?;
        let topped: CairnChannels::ToppedUp = event(&receipt, self.address())?;
        Ok(ToppedUp {
            deposit: topped.deposit,
            tx: outcome(&receipt)?,
        })
    }

    /// The payee cashes the payer's voucher for `cumulative`.
    pub async fn claim(
        &self,
        channel_id: U256,
        cumulative: u128,
        signature: &[u8],
    ) -> Result<Claimed, ChainError> {
        let call = self.contract.claim(
            channel_id,
            U256::from(cumulative),
            Bytes::copy_from_slice(signature),
        );
        let receipt = self.send(call).await?;
        let claimed: CairnChannels::Claimed = event(&receipt, self.address())?;
        Ok(Claimed {
            amount: claimed.amount,
            paid_out: claimed.paidOut,
            tx: outcome(&receipt)?,
        })
    }

    /// Claims what a voucher for `cumulative` owes now, idempotently: reads the channel
    /// first and sends nothing (`None`) when nothing new is owed (the channel is settled, or
    /// already paid that much: a claim that was mined before a crash counts), and checks the
    /// signature against the channel's payer locally, so a voucher the contract would refuse
    /// is refused here ([`ChainError::Voucher`]) without spending gas.
    pub async fn claim_owed(
        &self,
        channel_id: U256,
        cumulative: u128,
        signature: &[u8],
    ) -> Result<Option<Claimed>, ChainError> {
        let state = self.channel(channel_id).await?;
        if state.claimable(cumulative) == 0 {
            return Ok(None);
        }
        super::Voucher::new(channel_id, cumulative).verify(
            &self.domain(),
            signature,
            state.payer,
        )?;
        self.claim(channel_id, cumulative, signature)
            .await
            .map(Some)
    }

    /// The payer starts the close.
    pub async fn start_close(
        &self,
        channel_id: U256,
    ) -> Result<(CloseStarted, TxOutcome), ChainError> {
        let call = self.contract.startClose(channel_id);
        let receipt = self.send(call).await?;
        let started: CairnChannels::CloseStarted = event(&receipt, self.address())?;
        let tx = outcome(&receipt)?;
        Ok((
            CloseStarted {
                channel_id,
                closes_at: started.closesAt,
                block: Some(tx.block),
            },
            tx,
        ))
    }

    /// The payer takes back the rest after the challenge window.
    pub async fn withdraw(&self, channel_id: U256) -> Result<Withdrawn, ChainError> {
        let call = self.contract.withdraw(channel_id);
        let receipt = self.send(call).await?;
        let withdrawn: CairnChannels::Withdrawn = event(&receipt, self.address())?;
        Ok(Withdrawn {
            refund: withdrawn.refund,
            tx: outcome(&receipt)?,
        })
    }

    /// The payer ends the channel at once with the payee's signed [`super::Close`].
    pub async fn cooperative_close(
        &self,
        channel_id: U256,
        cumulative: u128,
        payee_signature: &[u8],
    ) -> Result<CooperativelyClosed, ChainError> {
        let call = self.contract.cooperativeClose(
            channel_id,
            U256::from(cumulative),
            Bytes::copy_from_slice(payee_signature),
        );
        let receipt = self.send(call).await?;
        let closed: CairnChannels::ClosedCooperatively = event(&receipt, self.address())?;
        let paid = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == self.address())
            .find_map(|log| log.log_decode::<CairnChannels::Claimed>().ok())
            .map_or(0, |log| log.inner.data.amount);
        Ok(CooperativelyClosed {
            paid,
            refund: closed.refund,
            tx: outcome(&receipt)?,
        })
    }

    /// A channel's state; [`ChainError::Reverted`] with `UnknownChannel` for an unknown id.
    pub async fn channel(&self, channel_id: U256) -> Result<ChannelState, ChainError> {
        let c = self
            .contract
            .getChannel(channel_id)
            .call()
            .await
            .map_err(|e| self.client.error(e))?;
        Ok(ChannelState {
            id: channel_id,
            payer: c.payer,
            payee: c.payee,
            deposit: c.deposit,
            paid_out: c.paidOut,
            challenge_window: c.challengeWindow,
            closes_at: (c.closesAt != 0).then_some(c.closesAt),
            settled: c.settled,
        })
    }

    /// The contract's own digest of a voucher (to cross-check [`super::Voucher::digest`]).
    pub async fn voucher_digest(
        &self,
        channel_id: U256,
        cumulative: u128,
    ) -> Result<B256, ChainError> {
        self.contract
            .voucherDigest(channel_id, U256::from(cumulative))
            .call()
            .await
            .map_err(|e| self.client.error(e))
    }

    /// The contract's own digest of a payee's close.
    pub async fn close_digest(
        &self,
        channel_id: U256,
        cumulative: u128,
    ) -> Result<B256, ChainError> {
        self.contract
            .closeDigest(channel_id, U256::from(cumulative))
            .call()
            .await
            .map_err(|e| self.client.error(e))
    }

    /// Closes started from block `from` on (inclusive), oldest first: what a payee watches to
    /// claim before a payer's window ends.
    pub async fn closes_started(&self, from: u64) -> Result<Vec<CloseStarted>, ChainError> {
        let logs = self
            .contract
            .CloseStarted_filter()
            .from_block(from)
            .query()
            .await
            .map_err(|e| self.client.error(e))?;
        Ok(logs
            .into_iter()
            .map(|(event, log)| CloseStarted {
                channel_id: event.channelId,
                closes_at: event.closesAt,
                block: log.block_number,
            })
            .collect())
    }

    /// `who`'s balance of the channel token, in base units.
    pub async fn token_balance(&self, who: Address) -> Result<U256, ChainError> {
        self.token
            .balanceOf(who)
            .call()
            .await
            .map_err(|e| self.client.error(e))
    }

    /// Mints `amount` test tokens to `to`: only a `TestToken` has `mint`, another token reverts.
    pub async fn mint(&self, to: Address, amount: U256) -> Result<TxOutcome, ChainError> {
        let call = self.token.mint(to, amount);
        let receipt = self.send(call).await?;
        outcome(&receipt)
    }

    /// Sends `amount` tokens from the wallet to `to`.
    pub async fn transfer_token(&self, to: Address, amount: U256) -> Result<TxOutcome, ChainError> {
        let call = self.token.transfer(to, amount);
        let receipt = self.send(call).await?;
        outcome(&receipt)
    }

    /// Allows the contract to take `amount` of the wallet's tokens (what `open` and `top_up`
    /// do by themselves when the allowance is short).
    pub async fn approve(&self, amount: u128) -> Result<TxOutcome, ChainError> {
        let call = self.token.approve(self.address(), U256::from(amount));
        let receipt = self.send(call).await?;
        outcome(&receipt)
    }

    async fn ensure_allowance(&self, amount: u128) -> Result<(), ChainError> {
        let allowance = self
            .token
            .allowance(self.client.address(), self.address())
            .call()
            .await
            .map_err(|e| self.client.error(e))?;
        if allowance >= U256::from(amount) {
            return Ok(());
        }
        // Exactly what this call needs: the contract is never left a standing allowance.
        self.approve(amount).await.map(|_| ())
    }

    async fn send<P: Provider, D: CallDecoder>(
        &self,
        call: CallBuilder<P, D>,
    ) -> Result<Receipt, ChainError> {
        let pending = self.client.send(&call).await?;
        self.client.confirm(pending).await
    }
}
